// The queries of garbage collection (admin/gc.ts explains when each is safe): expired pending
// versions, old registrations, and files that no stored or pending version lists.
import type { Db } from './knex.ts';

/** Key of the advisory lock that lets one process at a time collect ("tuf_gc"). */
const GC_LOCK_KEY = 0x7475665f6763n;

/** Takes the collection lock for the rest of the transaction, or returns false at once when another process holds it. */
export async function tryGcLock(trx: Db): Promise<boolean> {
  const res = await trx.raw('select pg_try_advisory_xact_lock(?::bigint) as ok', [GC_LOCK_KEY.toString()]);
  return res.rows[0].ok === true;
}

export interface ExpiredPending {
  id: string;
  role: string;
  version: number;
  signed_sha256: string;
  created_at: Date;
}

/** Pending versions (not yet at their threshold) created before `before`: removed unless `dryRun`. */
export async function expirePendingVersions(db: Db, before: Date, dryRun: boolean): Promise<ExpiredPending[]> {
  const q = db('pending_uploads').where({ status: 'pending' }).where('created_at', '<', before).orderBy('id');
  return dryRun
    ? q.select('id', 'role', 'version', 'signed_sha256', 'created_at')
    : q.delete().returning(['id', 'role', 'version', 'signed_sha256', 'created_at']);
}

/** Closed (published or dropped) pending rows last changed before `before`: their count, removed unless `dryRun`. */
export async function removeClosedPending(db: Db, before: Date, dryRun: boolean): Promise<number> {
  const q = db('pending_uploads').whereIn('status', ['published', 'dropped']).where('updated_at', '<', before);
  if (dryRun) return Number((await q.count({ n: '*' }).first())?.n ?? 0);
  return q.delete();
}

/**
 * Rows of superseded_targets whose grace period ended before `before`: their count, removed unless
 * `dryRun`. Past it they serve nothing (targetsRepo.recentlySuperseded), and every release adds some.
 */
export async function removeExpiredSuperseded(db: Db, before: Date, dryRun: boolean): Promise<number> {
  const q = db('superseded_targets').where('superseded_at', '<', before);
  if (dryRun) return Number((await q.count({ n: '*' }).first())?.n ?? 0);
  return q.delete();
}

export interface RemovedRegistration {
  id: string;
  project: string;
  identity: string;
  issuer: string;
  status: string;
}

/** Registrations rejected before `rejectedBefore`, and pending ones created before `pendingBefore`. */
export async function removeOldRegistrations(
  db: Db,
  opts: { rejectedBefore: Date; pendingBefore: Date },
  dryRun: boolean,
): Promise<RemovedRegistration[]> {
  const q = db('registrations')
    .where((w) => {
      w.where({ status: 'rejected' }).where('decided_at', '<', opts.rejectedBefore);
    })
    .orWhere((w) => {
      w.where({ status: 'pending' }).where('created_at', '<', opts.pendingBefore);
    });
  const columns = ['id', 'project', 'identity', 'issuer', 'status'];
  return dryRun ? q.orderBy('id').select(columns) : q.delete().returning(columns);
}

export interface CollectableBlob {
  sha256: string;
  length: string;
  touched_at: Date;
  /** Held in object storage: the object to delete once the row is gone (null: in PostgreSQL). */
  location: string | null;
}

/**
 * The condition on `target_blobs b` for a file nobody needs: not touched since `touchedBefore`,
 * listed by no stored version (`listed_blobs`), and by no pending version created at or after
 * `pendingSince` (older ones are expired in the same run).
 */
const UNNEEDED = `
  b.touched_at < ?
  and not exists (select 1 from listed_blobs l where l.sha256 = b.sha256)
  and not exists (
    select 1 from pending_uploads p
    cross join lateral jsonb_each(case when jsonb_typeof(p.envelope->'signed'->'targets') = 'object' then p.envelope->'signed'->'targets' else '{}'::jsonb end) e
    where p.status = 'pending' and p.created_at >= ? and e.value->'hashes'->>'sha256' = b.sha256
  )`;

/** Up to `limit` files nobody needs, in sha256 order after `afterSha256`. */
export async function collectableBlobs(
  db: Db,
  opts: { touchedBefore: Date; pendingSince: Date; afterSha256: string; limit: number },
): Promise<CollectableBlob[]> {
  const res = await db.raw(
    `select b.sha256, b.length, b.touched_at, b.location from target_blobs b where ${UNNEEDED} and b.sha256 > ? order by b.sha256 limit ?`,
    [opts.touchedBefore, opts.pendingSince, opts.afterSha256, opts.limit],
  );
  return res.rows as CollectableBlob[];
}

/** Deletes those of `sha256s` that are still not needed (the condition is checked again, in the statement). */
export async function deleteUnneededBlobs(
  db: Db,
  sha256s: string[],
  opts: { touchedBefore: Date; pendingSince: Date },
): Promise<CollectableBlob[]> {
  if (sha256s.length === 0) return [];
  const res = await db.raw(
    `delete from target_blobs b where b.sha256 = any(?) and ${UNNEEDED} returning b.sha256, b.length, b.touched_at, b.location`,
    [sha256s, opts.touchedBefore, opts.pendingSince],
  );
  return res.rows as CollectableBlob[];
}

/** Every sha256 that a stored metadata version or a pending version lists but no file is held for (should be none). */
export async function listedButMissingBlobs(db: Db): Promise<string[]> {
  const res = await db.raw(`
    select sha256 from listed_blobs l where not exists (select 1 from target_blobs b where b.sha256 = l.sha256)
    union
    select e.value->'hashes'->>'sha256' from pending_uploads p
    cross join lateral jsonb_each(case when jsonb_typeof(p.envelope->'signed'->'targets') = 'object' then p.envelope->'signed'->'targets' else '{}'::jsonb end) e
    where p.status = 'pending' and not exists (select 1 from target_blobs b where b.sha256 = e.value->'hashes'->>'sha256')`);
  return (res.rows as { sha256: string }[]).map((r) => r.sha256);
}
