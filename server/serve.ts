// `tuf-server start` in one process, and what each worker of a cluster runs (server/cluster/): the
// repository assembled on a database someone has opened, the development bootstrap when this
// process is the first, and the HTTP listener. Several processes may serve the same database at
// once: publishing, re-signing and LISTEN already hold across processes (db/locks.ts).
import type http from 'node:http';
import type { Logger } from 'pino';
import type { Config } from './config.ts';
import { refuseDevelopmentState } from './admin/developmentState.ts';
import { ensureDevAdminToken, runDevCeremony } from './devCeremony.ts';
import type { OnlineKeyStore } from './onlineKeys.ts';
import { assembleRepository, createHttpServer, listen, resolveSigstore, type Repository } from './runtime.ts';
import { PublishedMark } from './publication/publishedMark.ts';
import { recoveryGate } from './recovery/gate.ts';
import type { RecoverySources } from './recovery/recovery.ts';

export interface Served {
  repo: Repository;
  server: http.Server;
  /** Stops listening and closes the repository (the database, if any, is the caller's). */
  close(): Promise<void>;
}

export async function serveRepository(opts: {
  config: Config;
  log: Logger;
  keyStore: OnlineKeyStore;
  databaseUrl: string;
  /**
   * The process that bootstraps a development repository, creates the development admin token and
   * runs the first re-sign check: the only process, or a cluster's first worker (the others start
   * once it listens).
   */
  first: boolean;
  /** Where the first process learns the highest versions ever published when the database was restored (recovery/gate.ts). */
  recovery: RecoverySources;
  /** A cluster worker's metrics come from its supervisor, aggregated over every worker. */
  metricsText?: () => Promise<string>;
  /** False for a cluster worker: its supervisor holds the port and hands it connections (`server.emit('connection')`). */
  listen?: boolean;
  /** A cluster worker's uploads wait for the rounds of the worker that publishes for all. */
  waitUntilCovered?: (seq: string, reason: string) => Promise<{ role: string; version: number }[]>;
}): Promise<Served> {
  const { config, log, keyStore } = opts;
  const sigstore = await resolveSigstore(config);
  if (sigstore.devRouter && opts.first)
    log.warn(
      { issuer: sigstore.advert.oidcIssuer },
      'DEVELOPMENT MODE: a local Sigstore (OIDC issuer, Fulcio, Rekor) serves /dev/sigstore and mints identities for anyone',
    );
  const repo = await assembleRepository({
    config,
    databaseUrl: opts.databaseUrl,
    log,
    keyStore,
    sigstore,
    ...(opts.metricsText ? { metricsText: opts.metricsText } : {}),
    ...(opts.waitUntilCovered ? { waitUntilCovered: opts.waitUntilCovered } : {}),
  });
  try {
    if (config.production) await refuseDevelopmentState(repo.knex);
    // Restore safety: nothing is served or signed before the highest published versions are known.
    // The first process runs it; a cluster's other workers start once the first one listens.
    if (opts.first)
      await recoveryGate(
        {
          knex: repo.knex,
          publication: repo.publication,
          current: repo.current,
          mark: new PublishedMark(config.publishedMarkFile),
          upload: (project, metadata, files) => repo.projects.upload(project, metadata, files),
          mirrorTargetsUrl: config.mirrorTargetsUrl,
        },
        opts.recovery,
        log,
      );
    if (opts.first && !(await repo.current.isBootstrapped())) {
      if (config.production) {
        log.warn('not bootstrapped yet: run the offline key ceremony and `tuf-carry bootstrap` (see README)');
      } else {
        await runDevCeremony({
          devDir: config.devDir,
          binCount: config.devBinCount,
          admission: repo.admission,
          knex: repo.knex,
          sigstoreTrustedRoot: sigstore.trustedRoot,
          keyStore,
          clock: repo.clock,
          log,
        });
        await repo.cache.reloadAll();
      }
    }
    if (opts.first && !config.production) {
      const tokenFile = await ensureDevAdminToken(repo.tokens, config.devDir);
      log.info({ tokenFile }, 'development admin token');
    }
    if (opts.first) await repo.resignTick();
  } catch (err) {
    await repo.close();
    throw err;
  }
  let server: http.Server;
  if (opts.listen === false) {
    server = createHttpServer(repo.app, config);
    // Node tracks an HTTP server's connections, and enforces headersTimeout and requestTimeout
    // (slowloris), only from its 'listening' event on: a server handed its connections never
    // listens, so without this a client trickling its headers to a worker was never cut off, and
    // closeAllConnections() closed nothing on shutdown.
    server.emit('listening');
  } else {
    server = await listen(repo.app, config.host, config.port, config);
  }
  return {
    repo,
    server,
    async close() {
      server.close();
      server.closeAllConnections();
      await repo.close();
    },
  };
}
