// tuf-server: the repository server and its operator commands.
import path from 'node:path';
import { loadConfig, type Config } from './config.ts';
import { AdminTokens } from './admin/adminTokens.ts';
import { createKnex, migrateLatest, migrateRollbackAll } from './db/knex.ts';
import { currentOnlinePublicKeys, ensureOnlineKeys } from './onlineKeys.ts';
import { onlineKeysCommand, OnlineKeysCommandError } from './onlineKeysCommand.ts';
import { OnlineKeysLocationError } from './onlineKeysDir.ts';
import { auditVerify } from './auditCommand.ts';
import { describeGcReport, GarbageCollector } from './admin/gc.ts';
import { systemClock } from '../core/clock.ts';
import { ensurePrivateDir } from '../platform/privateDir.ts';
import cluster from 'node:cluster';
import { createLogger, keyStoreFor, openDatabase } from './runtime.ts';
import { developmentBanner, serveRepository, type Served } from './serve.ts';
import { runPrimary } from './cluster/primary.ts';
import { runWorker } from './cluster/worker.ts';
import { WORKER_ENV } from './cluster/messages.ts';

const HELP = `tuf-server: a TUF repository server with identity delegations

Usage: npm start [-- --production]          (same as: tuf-server start)
       tuf-server <command> [options]

Commands:
  start [--production] [--workers N]
                               Serve the repository. Without DATABASE_URL an embedded PostgreSQL
                               is started under DATA_DIR. In development mode (the default) online
                               keys, an admin token and a throwaway ceremony are created as needed.
                               Production mode (--production or NODE_ENV=production) needs
                               DATABASE_URL and online keys, and never bootstraps by itself.
                               --workers N (or WEB_CONCURRENCY): server processes sharing the
                               port, one per core by default; a supervising process restarts one
                               that dies and sums their /metrics. 1 serves from this one process.
  migrate                      Apply database migrations and exit.
  migrate:down                 Revert every migration (destroys the schema; for development).
  online-keys show             Print the public snapshot/timestamp keys as JSON, for the ceremony
                               (tuf-offline init-root --online-keys FILE). Reads the server's key
                               folder: run it where the server runs (same folder and environment),
                               or give the server's ONLINE_KEYS_DIR or DATA_DIR.
  online-keys create           Create the online keys if there are none (key files only).
  online-keys rotate ROLE      Add a new key for ROLE (snapshot|timestamp); put it in the next root.
  admin-token create --name N  Create an admin API token; printed once, stored only as a hash.
  admin-token list             List tokens (names and dates, never the tokens).
  admin-token revoke --name N  Revoke a token.
  gc [--dry-run]               Remove what nobody needs any more: pending versions older than
                               PENDING_VERSION_MAX_AGE_SECONDS (14 days), old rejected and stale
                               pending registrations, and files no stored or pending version lists
                               (last uploaded more than BLOB_GC_GRACE_SECONDS ago). --dry-run lists
                               what it would remove. Each server also runs it every
                               GC_INTERVAL_SECONDS (3600; 0: never).
  audit verify [--data-dir DIR]
                               Check that the stored history is consistent with what was published:
                               hashes, gapless versions, signatures under the root and delegation in
                               force, snapshot/timestamp entries resolving to stored bytes, audit
                               entries. Prints the database it looked at; exits 1 and lists the
                               problems if any, and also when the database holds no repository or
                               no version was checked. Read-only; runs beside a running server: in
                               development mode it uses the embedded PostgreSQL the server runs on
                               DATA_DIR (or --data-dir DIR), with DEV_DIR's local Sigstore root.

Without DATABASE_URL, the commands other than start use the embedded PostgreSQL a running server
has started on DATA_DIR, and start their own on it only when none runs.

Environment (see README for all): DATABASE_URL, PORT (8080), HOST, PUBLIC_URL, DATA_DIR (.data),
DEV_DIR (.dev), ONLINE_KEYS_DIR (DATA_DIR/online-keys), TUF_SNAPSHOT_KEY / TUF_TIMESTAMP_KEY (PEM),
TIMESTAMP_EXPIRY_SECONDS (86400), SNAPSHOT_EXPIRY_SECONDS (604800), LOG_LEVEL (info),
WEB_CONCURRENCY (one per core).
`;

function option(args: string[], name: string): string | undefined {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
}

async function withDatabase<T>(config: Config, work: (url: string) => Promise<T>): Promise<T> {
  const log = createLogger(config.logLevel);
  // Beside a running development server, its embedded PostgreSQL (a second one would hit the lock).
  const db = await openDatabase(config, log, { attach: true });
  try {
    return await work(db.url);
  } finally {
    await db.stop();
  }
}

async function withKnex<T>(config: Config, work: (knex: ReturnType<typeof createKnex>) => Promise<T>): Promise<T> {
  return withDatabase(config, async (url) => {
    const knex = createKnex(url, 2);
    try {
      await migrateLatest(knex);
      return await work(knex);
    } finally {
      await knex.destroy();
    }
  });
}

async function start(config: Config): Promise<void> {
  const base = createLogger(config.logLevel);
  const keyStore = keyStoreFor(config);
  if (cluster.isWorker) {
    // A worker of a cluster: its supervisor checked the keys and opened the database.
    const log = base.child({ worker: Number(process.env[WORKER_ENV.index]) });
    return runWorker({ config, log, keyStore });
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
  const db = await openDatabase(config, log);
  const urls = () => {
    const base = config.publicUrl.replace(/\/$/, '');
    log.info({ metadataUrl: `${base}/metadata/`, targetsUrl: `${base}/targets/`, workers: config.workers }, 'serving the repository');
    if (!config.production)
      process.stdout.write(developmentBanner(config, path.join(config.devDir, '1.root.json'), path.join(config.devDir, 'admin-token')));
  };
  if (config.workers > 1) {
    // The workers find the schema in place (they would otherwise all migrate at once).
    const knex = createKnex(db.url, 1);
    try {
      await migrateLatest(knex);
    } finally {
      await knex.destroy();
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
    served = await serveRepository({ config, log, keyStore, databaseUrl: db.url, first: true });
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

/** Usage errors, found before any database is opened or started. */
function checkArguments(command: string, sub: string | undefined, args: string[]): void {
  if (command === 'admin-token') {
    if (sub !== 'create' && sub !== 'list' && sub !== 'revoke') throw new Error('usage: tuf-server admin-token create|list|revoke');
    if (sub !== 'list' && !option(args, '--name')) throw new Error(`usage: tuf-server admin-token ${sub} --name NAME`);
  }
  if (command === 'audit' && sub !== 'verify') throw new Error('usage: tuf-server audit verify [--data-dir DIR]');
}

async function main(argv: string[]): Promise<void> {
  const args = argv.filter((a) => a !== '--production');
  if (args.includes('--help') || args.includes('-h') || args[0] === 'help') {
    process.stdout.write(HELP);
    return;
  }
  const [command, sub] = args;
  if (command === undefined) {
    // Nothing is started, created or connected to without a command (`npm start` says `start`).
    process.stderr.write(`tuf-server: give a command (\`tuf-server start\` serves the repository)\n\n${HELP}`);
    process.exitCode = 2;
    return;
  }
  checkArguments(command, sub, args);
  const config = loadConfig(process.env, argv);
  switch (command) {
    case 'start':
      return start(config);
    case 'migrate':
      await withDatabase(config, async (url) => {
        const knex = createKnex(url, 1);
        try {
          const applied = await migrateLatest(knex);
          process.stdout.write(applied.length ? `applied: ${applied.join(', ')}\n` : 'schema is up to date\n');
        } finally {
          await knex.destroy();
        }
      });
      return;
    case 'migrate:down':
      await withDatabase(config, async (url) => {
        const knex = createKnex(url, 1);
        try {
          const reverted = await migrateRollbackAll(knex);
          process.stdout.write(`reverted: ${reverted.join(', ') || 'nothing'}\n`);
        } finally {
          await knex.destroy();
        }
      });
      return;
    case 'online-keys':
      return onlineKeysCommand(config, sub, args[2]);
    case 'admin-token':
      await withKnex(config, async (knex) => {
        const name = option(args, '--name');
        const tokens = new AdminTokens(knex);
        if (sub === 'create') {
          if (!name) throw new Error('usage: tuf-server admin-token create --name NAME');
          process.stdout.write(`${await tokens.create(name)}\n`);
        } else if (sub === 'list') {
          for (const t of await tokens.list()) {
            process.stdout.write(
              `${t.name}\tcreated ${t.created_at.toISOString()}\t${t.revoked_at ? `revoked ${t.revoked_at.toISOString()}` : 'active'}${t.development ? '\tdevelopment (never accepted in production)' : ''}\n`,
            );
          }
        } else if (sub === 'revoke') {
          if (!name) throw new Error('usage: tuf-server admin-token revoke --name NAME');
          if (!(await tokens.revoke(name))) throw new Error(`no active token named ${name}`);
          process.stdout.write(`revoked ${name}\n`);
        } else {
          throw new Error('usage: tuf-server admin-token create|list|revoke');
        }
      });
      return;
    case 'gc': {
      const dryRun = args.includes('--dry-run');
      const report = await withKnex(config, (knex) =>
        new GarbageCollector(knex, systemClock, config).run({ dryRun, actor: 'tuf-server gc' }),
      );
      for (const line of describeGcReport(report)) process.stdout.write(`${line}\n`);
      return;
    }
    case 'audit': {
      if (sub !== 'verify') throw new Error('usage: tuf-server audit verify [--data-dir DIR]');
      process.exitCode = await auditVerify(config, args.slice(2));
      return;
    }
    default:
      throw new Error(`unknown command ${command}; see --help`);
  }
}

main(process.argv.slice(2)).catch((err: Error) => {
  // The stable code of this tool's own refusals, for scripts (as tuf-client does).
  const code = err instanceof OnlineKeysCommandError || err instanceof OnlineKeysLocationError ? ` [${err.code}]` : '';
  process.stderr.write(`tuf-server: ${err.message}${code}\n`);
  process.exit(1);
});
