// Whether an error means PostgreSQL itself is out of reach (down, restarting, unreachable), as
// opposed to a query that failed: the first is a 503 worth retrying, the second is not.
import type { Db } from './knex.ts';

const CONNECTION_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'EPIPE',
  'ETIMEDOUT',
  '57P01',
  '57P02',
  '57P03',
  '08000',
  '08001',
  '08003',
  '08006',
]);
const CONNECTION_MESSAGE = /Connection terminated|connection is closed|Client has encountered a connection error/i;

export function isDatabaseUnavailable(err: unknown): boolean {
  const e = err as { code?: unknown; name?: unknown; message?: unknown } | null;
  if (e?.name === 'KnexTimeoutError') return true;
  if (typeof e?.code === 'string' && CONNECTION_CODES.has(e.code)) return true;
  return typeof e?.message === 'string' && CONNECTION_MESSAGE.test(e.message);
}

/** Resolves to whether the database answers a trivial query within `timeoutMs`. */
export async function databaseAnswers(db: Db, timeoutMs: number): Promise<boolean> {
  try {
    await db.raw('select 1').timeout(timeoutMs);
    return true;
  } catch {
    return false;
  }
}
