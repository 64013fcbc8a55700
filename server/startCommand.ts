// `tuf-server start`: serve the repository from this process, or supervise workers that do
// (server/cluster/). Loaded only for `start`, so that --help and the short operator commands do
// not pay for loading the whole server.
import path from 'node:path';
import cluster from 'node:cluster';
import type { Config } from './config.ts';
import type { ServerCommandLine } from './commandLine.ts';
import { currentOnlinePublicKeys, ensureOnlineKeys } from './onlineKeys.ts';
import { ensurePrivateDir } from '../platform/privateDir.ts';
import { createKnex, migrateLatest } from './db/knex.ts';
import { openDatabase } from './database.ts';
import { createLogger } from './logger.ts';
import { keyStoreFor } from './keyStoreFor.ts';
import { developmentBanner } from './developmentBanner.ts';
import { WORKER_ENV } from './cluster/messages.ts';
import { recoverySources } from './recovery/sources.ts';
import type { Served } from './serve.ts';

export async function start(config: Config, cli: ServerCommandLine): Promise<void> {
  const base = createLogger(config.logLevel);
  // Restore safety (server/recovery/): where the highest published versions may be learnt from.
  const recovery = recoverySources(config, cli);
  const keyStore = keyStoreFor(config);
  if (cluster.isWorker) {
    // A worker of a cluster: its supervisor checked the keys and opened the database.
    const log = base.child({ worker: Number(process.env[WORKER_ENV.index]) });
    const { runWorker } = await import('./cluster/worker.ts');
    return runWorker({ config, log, keyStore, recovery });
  }
  const log = base;
  for (const warning of config.warnings) log.warn(warning);
  if (config.production) {
    if (!(await currentOnlinePublicKeys(keyStore))) {
      throw new Error(
        'production mode: no online keys. Create them with `tuf-server online-keys create` (or set TUF_SNAPSHOT_KEY/TUF_TIMESTAMP_KEY)',
      );
    }
  } else {
    log.warn(
      'DEVELOPMENT MODE: keys and a ceremony are created automatically. Use --production (or NODE_ENV=production) for real deployments.',
    );
    if (!config.onlineKeysFromEnv) await ensureOnlineKeys(keyStore);
    // DEV_DIR holds throwaway keys and the admin token: private, but not its parents (DATA_DIR
    // may sit beside it, and the embedded PostgreSQL must reach it).
    ensurePrivateDir(config.devDir);
  }
  // What serves loads while the database starts; a failure to load is met once it has, so that
  // the database is stopped again.
  const primaryModule = config.workers > 1 ? import('./cluster/primary.ts') : null;
  const serveModule = config.workers > 1 ? null : import('./serve.ts');
  for (const loading of [primaryModule, serveModule]) loading?.catch(() => {});
  const db = await openDatabase(config, log);
  const urls = () => {
    const base = config.publicUrl.replace(/\/$/, '');
    log.info({ metadataUrl: `${base}/metadata/`, targetsUrl: `${base}/targets/`, workers: config.workers }, 'serving the repository');
    if (!config.production)
      process.stdout.write(developmentBanner(config, path.join(config.devDir, '1.root.json'), path.join(config.devDir, 'admin-token')));
  };
  if (config.workers > 1) {
    // The supervisor serves nothing itself: it loads no more of the server than it needs.
    let runPrimary: typeof import('./cluster/primary.ts').runPrimary;
    try {
      ({ runPrimary } = await primaryModule!);
      // The workers find the schema in place (they would otherwise all migrate at once).
      const knex = createKnex(db.url, 1);
      try {
        await migrateLatest(knex);
      } finally {
        await knex.destroy();
      }
    } catch (err) {
      await db.stop();
      throw err;
    }
    await runPrimary({
      workers: config.workers,
      host: config.host,
      port: config.port,
      databaseUrl: db.url,
      log,
      onServing: urls,
      onStopped: () => db.stop(),
    });
    return;
  }
  let served: Served;
  try {
    const { serveRepository } = await serveModule!;
    served = await serveRepository({ config, log, keyStore, databaseUrl: db.url, first: true, recovery });
  } catch (err) {
    await db.stop();
    throw err;
  }
  urls();
  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'shutting down');
    await served.close();
    await db.stop();
    process.exit(0);
  };
  process.on('SIGINT', () => void shutdown('SIGINT'));
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
}
