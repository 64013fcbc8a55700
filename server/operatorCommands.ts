// The operator commands that work on the database and exit: `migrate`, `migrate:down`,
// `admin-token create|list|revoke`, `gc`. A database they cannot reach is one line naming it
// (without its password) and the cause, never knex's own "Acquire connection error" and stack.
import type { Knex } from 'knex';
import type { Config } from './config.ts';
import { AdminTokens } from './admin/adminTokens.ts';
import { describeGcReport, GarbageCollector } from './admin/gc.ts';
import { ObjectCleaner } from './blobs/objectCleaner.ts';
import { ObjectStorage } from './objectStore/objectStorage.ts';
import { createKnex, migrateLatest, migrateRollbackAll, SILENT_KNEX_LOG } from './db/knex.ts';
import { isDatabaseUnavailable } from './db/unavailable.ts';
import { systemClock } from '../core/clock.ts';
import { EXIT, printJson } from '../platform/cli.ts';
import type { ServerCommandLine } from './commandLine.ts';
import { createLogger, openDatabase } from './runtime.ts';

export type OperatorCommandErrorCode = 'database_unreachable' | 'no_such_token';

export class OperatorCommandError extends Error {
  override readonly name = 'OperatorCommandError';
  constructor(
    readonly code: OperatorCommandErrorCode,
    message: string,
  ) {
    super(message);
  }
}

/** PostgreSQL's refusals of the connection itself: no such database, no such role, a wrong password. */
const CONNECT_REFUSALS: Record<string, string> = {
  '3D000': 'no database of that name',
  '28000': 'the role may not log in',
  '28P01': 'password authentication failed',
};

/** The cause, as one line: the error code and what it means. */
function connectionCause(err: unknown): string | null {
  const e = err as { code?: unknown; message?: unknown; errors?: unknown[] } | null;
  const code = typeof e?.code === 'string' ? e.code : undefined;
  if (code && Object.hasOwn(CONNECT_REFUSALS, code)) return `${CONNECT_REFUSALS[code]} (${code})`;
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') return `${code}: the host name does not resolve`;
  // node reports a refused connection to a name with several addresses as an AggregateError.
  if (Array.isArray(e?.errors) && e.errors.length > 0) return connectionCause(e.errors[0]);
  if (!isDatabaseUnavailable(err)) return null;
  if (code === 'ECONNREFUSED') return 'ECONNREFUSED: nothing accepts connections there (is PostgreSQL running?)';
  if ((err as { name?: unknown }).name === 'KnexTimeoutError') return 'no connection within the timeout (a firewall, or the wrong host?)';
  return code ?? String(e?.message ?? err);
}

/**
 * Opens the database (a running server's embedded one, or DATABASE_URL) and runs `work` on it,
 * with `connections` in the pool (2 by default; `tuf-server restore` needs exactly its own one).
 */
export async function withKnex<T>(
  config: Config,
  work: (knex: Knex) => Promise<T>,
  opts: { migrate: boolean; connections?: number },
): Promise<T> {
  const db = await openDatabase(config, createLogger(config.logLevel), { attach: true });
  const knex = createKnex(db.url, opts.connections ?? 2, { log: SILENT_KNEX_LOG });
  try {
    if (opts.migrate) await migrateLatest(knex);
    return await work(knex);
  } catch (err) {
    const cause = connectionCause(err);
    if (cause === null) throw err;
    throw new OperatorCommandError('database_unreachable', `cannot use the database ${db.description}: ${cause}`);
  } finally {
    await knex.destroy();
    await db.stop();
  }
}

function say(line: string): void {
  process.stdout.write(`${line}\n`);
}

export async function operatorCommand(config: Config, cli: ServerCommandLine): Promise<number> {
  switch (cli.command) {
    case 'migrate':
      await withKnex(
        config,
        async (knex) => {
          const applied = await migrateLatest(knex);
          say(applied.length ? `applied: ${applied.join(', ')}` : 'schema is up to date');
        },
        { migrate: false },
      );
      return EXIT.ok;
    case 'migrate:down':
      await withKnex(config, async (knex) => say(`reverted: ${(await migrateRollbackAll(knex)).join(', ') || 'nothing'}`), {
        migrate: false,
      });
      return EXIT.ok;
    case 'admin-token':
      await withKnex(config, (knex) => adminToken(new AdminTokens(knex), cli), { migrate: true });
      return EXIT.ok;
    case 'gc': {
      const report = await withKnex(
        config,
        (knex) =>
          new GarbageCollector(knex, systemClock, config, new ObjectCleaner(knex, new ObjectStorage(config.storage.s3))).run({
            dryRun: cli.dryRun,
            actor: 'tuf-server gc',
          }),
        { migrate: true },
      );
      for (const line of describeGcReport(report)) say(line);
      return EXIT.ok;
    }
    default:
      throw new Error(`not an operator command: ${cli.command}`);
  }
}

async function adminToken(tokens: AdminTokens, cli: ServerCommandLine): Promise<void> {
  const name = cli.name!; // commandLine.ts requires it for create and revoke
  if (cli.sub === 'create') {
    say(await tokens.create(name));
  } else if (cli.sub === 'list') {
    const list = await tokens.list();
    if (cli.json) {
      printJson(
        list.map((t) => ({
          name: t.name,
          createdAt: t.created_at.toISOString(),
          revokedAt: t.revoked_at ? t.revoked_at.toISOString() : null,
          active: !t.revoked_at,
          development: t.development,
        })),
      );
      return;
    }
    for (const t of list) {
      say(
        `${t.name}\tcreated ${t.created_at.toISOString()}\t${t.revoked_at ? `revoked ${t.revoked_at.toISOString()}` : 'active'}${t.development ? '\tdevelopment (never accepted in production)' : ''}`,
      );
    }
  } else {
    if (!(await tokens.revoke(name))) throw new OperatorCommandError('no_such_token', `no active token named ${name}`);
    say(`revoked ${name}`);
  }
}
