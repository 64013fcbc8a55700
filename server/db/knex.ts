import path from 'node:path';
import { fileURLToPath } from 'node:url';
import knexFactory, { type Knex } from 'knex';

export type Db = Knex | Knex.Transaction;

const MIGRATIONS_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'migrations');

/** Where knex's own messages go (it prints warnings such as "Acquire connection error" with a stack to the console). */
export type KnexLog = NonNullable<Knex.Config['log']>;

/** Drops knex's own messages: for commands whose failures are reported on one line from the error they throw. */
export const SILENT_KNEX_LOG: KnexLog = { warn() {}, error() {}, deprecate() {}, debug() {} };

export function createKnex(databaseUrl: string, poolMax = 10, opts: { log?: KnexLog } = {}): Knex {
  const knex = knexFactory({
    ...(opts.log ? { log: opts.log } : {}),
    client: 'pg',
    connection: { connectionString: databaseUrl, application_name: 'tuf-repository', connectionTimeoutMillis: 5000 },
    // While the database is down, fail requests within seconds (503) instead of queueing them.
    acquireConnectionTimeout: 10_000,
    pool: {
      min: 0,
      max: poolMax,
      // A connection the database dropped (restart, crash) must not crash the process.
      afterCreate(conn: { on(ev: string, cb: (err: Error) => void): void }, done: (err: Error | null, conn: unknown) => void) {
        conn.on('error', () => {});
        done(null, conn);
      },
    },
    migrations: { directory: MIGRATIONS_DIR, loadExtensions: ['.ts'], tableName: 'knex_migrations' },
  });
  return knex;
}

export async function migrateLatest(knex: Knex): Promise<string[]> {
  const [, applied] = (await knex.migrate.latest()) as [number, string[]];
  return applied;
}

export async function migrateRollbackAll(knex: Knex): Promise<string[]> {
  const [, reverted] = (await knex.migrate.rollback(undefined, true)) as [number, string[]];
  return reverted;
}
