// Composition root: builds every part from the configuration, once, and wires them together.
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import type { Knex } from 'knex';
import type { Logger } from 'pino';
import { systemClock, type Clock } from '../core/clock.ts';
import type { Config } from './config.ts';
import { createKnex, migrateLatest } from './db/knex.ts';
import { AdminService } from './admin/adminService.ts';
import { AdminTokens } from './admin/adminTokens.ts';
import { GarbageCollector } from './admin/gc.ts';
import { AdmissionService } from './admission/adminMetadata.ts';
import { createHandler } from './http/app.ts';
import type { SigstoreAdvert } from './http/projectRoutes.ts';
import { createMetrics, type Metrics } from './metrics.ts';
import { keyStoreFor } from './keyStoreFor.ts';
import { publicationSettings } from './publicationSettings.ts';
import type { OnlineKeyStore } from './onlineKeys.ts';
import { ProjectService } from './projects/projectService.ts';
import { RegistrationService } from './projects/registrations.ts';
import { CurrentMetadata } from './publication/currentMetadata.ts';
import { OnlineSigners } from './publication/onlineSigners.ts';
import { Publication } from './publication/publication.ts';
import { INSTANCE } from './publication/signing.ts';
import { SnapshotFollower } from './serving/snapshotFollower.ts';
import { workerTreeBuilder } from './treeBuilder.ts';
import { MetadataCache } from './serving/metadataCache.ts';
import type { PublishedRole } from './serving/published.ts';
import { ReadinessCheck } from './serving/readiness.ts';
import { TargetFiles } from './serving/targetFiles.ts';
import { WorkerVerifierPool } from './verifyPool.ts';
import { createStorage, type Storage } from './storage.ts';
import { IdentitySignatureVerifier } from '../core/identity.ts';
import { publicGoodTrustedRoot } from '../core/publicGoodTrustedRoot.ts';
import type { Router } from 'express';
import { createLocalSigstore } from '../sigstore-local/localSigstore.ts';
import type { TransparencyMonitor } from './monitor/monitor.ts';
import { readOnlyViews } from './readOnlyViews.ts';

export { createLogger } from './logger.ts';

export { openDatabase, type Database, type OpenDatabaseOptions } from './database.ts';

export { keyStoreFor, publicationSettings };

/** Which Sigstore the repository trusts, and what it tells maintainer tools. */
export interface SigstoreSetup {
  trustedRoot: unknown;
  advert: SigstoreAdvert;
  devRouter?: Router;
}

/**
 * Dev mode runs a local Sigstore under PUBLIC_URL/dev/sigstore (state in DEV_DIR/sigstore, so
 * signatures stay valid across restarts). Otherwise: SIGSTORE_TRUSTED_ROOT, or public-good.
 */
export async function resolveSigstore(config: Config): Promise<SigstoreSetup> {
  if (config.devSigstore) {
    const local = await createLocalSigstore({
      baseUrl: `${config.publicUrl.replace(/\/$/, '')}/dev/sigstore`,
      stateDir: path.join(config.devDir, 'sigstore'),
    });
    return {
      trustedRoot: local.trustedRoot,
      advert: {
        fulcioUrl: local.fulcioUrl,
        rekorUrl: local.rekorUrl,
        oidcIssuer: local.issuerUrl,
        devTokenUrl: `${local.issuerUrl}/token`,
      },
      devRouter: local.router,
    };
  }
  const trustedRoot = config.sigstoreTrustedRootFile
    ? JSON.parse(fs.readFileSync(config.sigstoreTrustedRootFile, 'utf8'))
    : publicGoodTrustedRoot();
  return {
    trustedRoot,
    advert: { fulcioUrl: config.sigstoreFulcioUrl, rekorUrl: config.sigstoreRekorUrl, oidcIssuer: null, devTokenUrl: null },
  };
}

export interface Repository {
  config: Config;
  log: Logger;
  clock: Clock;
  knex: Knex;
  databaseUrl: string;
  keyStore: OnlineKeyStore;
  current: CurrentMetadata;
  publication: Publication;
  admission: AdmissionService;
  projects: ProjectService;
  registrations: RegistrationService;
  tokens: AdminTokens;
  sigstore: SigstoreSetup;
  cache: MetadataCache;
  metrics: Metrics;
  /** The HTTP server's request handler: the read fast path, then the express app. */
  app: http.RequestListener;
  /** Runs one re-sign check now (the timer calls it every resignCheckIntervalSeconds). */
  resignTick(): Promise<void>;
  /** Garbage collection (`tuf-server gc`; the timer runs it every gcIntervalSeconds). */
  gc: GarbageCollector;
  /** The transparency monitor (null when MONITOR_ENABLED is off); tests poll it with `pollOnce`. */
  monitor: TransparencyMonitor | null;
  /** Target file storage and the copy to a bucket (issue 20); tests step the copy with `storage.publisher.step()`. */
  storage: Storage;
  close(): Promise<void>;
}

export interface AssembleOptions {
  config: Config;
  databaseUrl: string;
  log: Logger;
  clock?: Clock;
  keyStore?: OnlineKeyStore;
  sigstore: SigstoreSetup;
  /** Start the periodic re-sign timer (tests drive `resignTick` themselves). */
  resignTimer?: boolean;
  /** Start the periodic garbage collection (default: as resignTimer). */
  gcTimer?: boolean;
  /** What /metrics answers instead of this process's own registry (a cluster worker: every worker's). */
  metricsText?: () => Promise<string>;
  /** Who publishes the snapshot an upload waits for (a cluster worker: the worker that publishes for all). */
  waitUntilCovered?: (seq: string, reason: string) => Promise<PublishedRole[]>;
  /** Start the transparency monitor's polling (default: as resignTimer). */
  monitorTimer?: boolean;
  /** Start copying publications to PUBLISH_TO (default: as resignTimer). */
  publishLoop?: boolean;
}

/** Wires the repository on a migrated database: services, cache (listening), app. Does not listen on a port. */
export async function assembleRepository(opts: AssembleOptions): Promise<Repository> {
  const { config, log } = opts;
  const clock = opts.clock ?? systemClock;
  const knex = createKnex(opts.databaseUrl);
  await migrateLatest(knex);
  const keyStore = opts.keyStore ?? keyStoreFor(config);
  const verifier = new IdentitySignatureVerifier(opts.sigstore.trustedRoot);
  const verifierPool =
    config.verifyWorkers > 0
      ? new WorkerVerifierPool(opts.sigstore.trustedRoot, config.verifyWorkers, log.child({ component: 'verify-pool' }))
      : null;
  // Names this instance in NOTIFY announcements; unique even for two instances in one process (tests).
  const origin = `${INSTANCE}/${randomUUID()}`;
  const treeBuilder = workerTreeBuilder();
  const snapshots = new SnapshotFollower(knex, config.snapshotTreesKept, config.snapshotMerkleTrees, treeBuilder);
  const cache = new MetadataCache(knex, origin, log.child({ component: 'cache' }), config.metadataCacheBytes, snapshots);
  const metrics = createMetrics(cache, clock);
  if (opts.metricsText) metrics.text = opts.metricsText;
  const current = new CurrentMetadata(knex, config.parsedBinsCached);
  // Target files (BLOB_STORE_URL), their downloads, and the copy to a bucket (PUBLISH_TO): storage.ts.
  const storage = createStorage({ config, knex, log, registry: metrics.registry, holder: origin });
  try {
    // The buckets are checked before anything else starts: a wrong bucket or credentials stops here.
    await storage.start({ publishLoop: (opts.publishLoop ?? opts.resignTimer) !== false });
  } catch (err) {
    await storage.close();
    await verifierPool?.close();
    await knex.destroy();
    throw err;
  }
  const signers = new OnlineSigners(keyStore);
  await signers.load();
  const publication = new Publication({
    knex,
    origin,
    clock,
    signers,
    current,
    ...publicationSettings(config),
    treeBuilder,
    onBackgroundError: (what, err) => log.warn({ err: String(err) }, `${what} failed (done again later)`),
    onSnapshot: (seconds, bytes, entries, cost) => {
      metrics.snapshotTree.observe(cost.treeSeconds);
      metrics.snapshotStoredBytes.observe(cost.storedBytes);
      metrics.snapshotBuild.observe(seconds);
      metrics.snapshotBytes.set(bytes);
      metrics.snapshotEntries.set(entries);
    },
    onPublished: async (published) => {
      // If this fails, the notification and the periodic reload still bring the cache up to date.
      await cache.applyPublished(published).catch((err) => log.warn({ err: String(err) }, 'cache update after publish failed'));
      storage.publisher?.nudge();
    },
  });
  const admission = new AdmissionService({ clock, publication, current, verifier, reservedProjectNames: config.reservedProjectNames });
  // Target files: staged on local disk while received, then stored where BLOB_STORE_URL says (server/blobs/).
  const blobs = storage.blobs;
  // Leftovers of a process killed mid-upload: no request can still be writing a file this old.
  await blobs
    .sweepStaging(config.requestTimeoutSeconds * 1000)
    .catch((err) => log.warn({ err: String(err) }, 'could not sweep the upload staging directory'));
  const projects = new ProjectService({
    knex,
    clock,
    current,
    publication,
    verifier,
    ...(verifierPool ? { verifierPool } : {}),
    projectMaxExpirySeconds: config.projectMaxExpirySeconds,
    blobs,
    maxTargetBytes: config.maxTargetBytes,
    maxTargetsPerProjectRole: config.maxTargetsPerProjectRole,
    ...(opts.waitUntilCovered ? { waitUntilCovered: opts.waitUntilCovered } : {}),
    fast: {
      origin,
      knownHead: (role) => cache.head(role)?.version,
      onCommitted: (published) =>
        cache.applyPublished([published]).catch((err) => log.warn({ err: String(err) }, 'cache update after commit failed')),
      onPath: (path, reason) => metrics.uploadPaths.inc({ path, reason }),
    },
  });
  const registrations = new RegistrationService({
    db: knex,
    clock,
    current,
    verifier,
    registrationMaxSkewSeconds: config.registrationMaxSkewSeconds,
    maxPendingPerIdentity: config.maxPendingRegistrationsPerIdentity,
    maxPendingPerProject: config.maxPendingRegistrationsPerProject,
    reservedProjectNames: config.reservedProjectNames,
  });
  const tokens = new AdminTokens(knex, { production: config.production });
  await cache.start(opts.databaseUrl, config.cacheReloadIntervalSeconds, config.publicationFeed);
  const { trustedRoot, advert } = opts.sigstore;
  const views = {
    config,
    clock,
    knex,
    cache,
    log,
    trustedRoot,
    advertisedRekorUrl: advert.rekorUrl,
    registry: metrics.registry,
    holder: origin,
  };
  const { monitor, routers: readOnlyRouters } = readOnlyViews(views);
  const app = createHandler({
    readOnlyRouters,
    admission,
    admin: new AdminService({ knex, cache, keyStore, clock, expiryWarningSeconds: config.expiryWarningSeconds, blobs }),
    tokens,
    projects,
    registrations,
    cache,
    snapshots,
    targetFiles: new TargetFiles(knex, blobs, storage.redirects, config.supersededTargetGraceSeconds),
    readiness: new ReadinessCheck({
      knex,
      cache,
      clock,
      readyMinTimestampRemainingSeconds: config.readyMinTimestampRemainingSeconds,
      expiryWarningSeconds: config.expiryWarningSeconds,
      log, // each change of readiness, once (issue 17 item 12)
      extraChecks: () => storage.readinessChecks(),
    }),
    sigstore: opts.sigstore.advert,
    ...(opts.sigstore.devRouter ? { devSigstoreRouter: opts.sigstore.devRouter } : {}),
    metrics,
    clock,
    logger: log,
    bodyTasks: verifierPool,
    config,
  });

  const resignTick = async () => {
    const published = await publication.refreshExpiring();
    if (published.length > 0) log.info({ published }, 're-signed before expiry');
  };
  const gc = new GarbageCollector(knex, clock, config, storage.cleaner);
  // Like re-signing, every process runs it; a lock makes one of them collect at a time.
  let gcTimer: NodeJS.Timeout | null = null;
  let gcRunning: Promise<void> | null = null;
  if ((opts.gcTimer ?? opts.resignTimer) !== false && config.gcIntervalSeconds > 0) {
    gcTimer = setInterval(() => {
      if (gcRunning) return;
      gcRunning = gc
        .run()
        .then(
          (r) => {
            if (r.pendingExpired.length + r.registrationsRemoved.length + r.blobsRemoved.length > 0) {
              log.info(
                {
                  pendingExpired: r.pendingExpired.length,
                  registrationsRemoved: r.registrationsRemoved.length,
                  blobsRemoved: r.blobsRemoved.length,
                },
                'garbage collected',
              );
            }
          },
          (err) => log.error({ err: String(err) }, 'garbage collection failed'),
        )
        .finally(() => {
          gcRunning = null;
        });
    }, config.gcIntervalSeconds * 1000);
    gcTimer.unref();
  }
  if (monitor && (opts.monitorTimer ?? opts.resignTimer) !== false) monitor.start();
  let timer: NodeJS.Timeout | null = null;
  if (opts.resignTimer !== false) {
    timer = setInterval(() => {
      resignTick().catch((err) => log.error({ err: String(err) }, 're-sign check failed'));
    }, config.resignCheckIntervalSeconds * 1000);
    timer.unref();
  }
  return {
    config,
    log,
    clock,
    knex,
    databaseUrl: opts.databaseUrl,
    keyStore,
    current,
    publication,
    admission,
    projects,
    registrations,
    tokens,
    sigstore: opts.sigstore,
    cache,
    metrics,
    app,
    resignTick,
    gc,
    monitor,
    storage,
    async close() {
      await monitor?.stop();
      await storage.close();
      if (timer) clearInterval(timer);
      if (gcTimer) clearInterval(gcTimer);
      await gcRunning;
      await cache.stop();
      await verifierPool?.close();
      await knex.destroy();
    },
  };
}

/** How long clients may take (slowloris): see Config.headersTimeoutSeconds and requestTimeoutSeconds. */
export interface ListenTimeouts {
  headersTimeoutSeconds: number;
  requestTimeoutSeconds: number;
}

/** The HTTP server, not listening yet (a cluster worker is handed its connections instead). */
export function createHttpServer(
  app: http.RequestListener,
  timeouts: ListenTimeouts = { headersTimeoutSeconds: 20, requestTimeoutSeconds: 3600 },
): http.Server {
  const requestTimeout = timeouts.requestTimeoutSeconds * 1000;
  // A client that trickles its headers is dropped after headersTimeout (node answers 408), one
  // that trickles a whole request after requestTimeout; bodies have tighter limits of their own
  // (BODY_TIMEOUT_SECONDS, http/body.ts). Checked every connectionsCheckingInterval.
  const server = http.createServer(
    {
      headersTimeout: Math.min(timeouts.headersTimeoutSeconds * 1000, requestTimeout),
      requestTimeout,
      connectionsCheckingInterval: Math.min(5_000, Math.max(250, Math.floor((timeouts.headersTimeoutSeconds * 1000) / 4))),
    },
    app,
  );
  server.keepAliveTimeout = 65_000;
  return server;
}

export function listen(
  app: http.RequestListener,
  host: string,
  port: number,
  timeouts: ListenTimeouts = { headersTimeoutSeconds: 20, requestTimeoutSeconds: 3600 },
): Promise<http.Server> {
  return new Promise((resolve, reject) => {
    const server = createHttpServer(app, timeouts);
    server.once('error', reject);
    server.listen(port, host, () => resolve(server));
  });
}
