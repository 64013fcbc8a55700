// Queries of the published copy in a bucket (PUBLISH_TO, server/mirror/): the outbox each
// publishing transaction writes to, the one row of state, and the lease that lets one server
// process at a time copy.
import type { Knex } from 'knex';
import type { Db } from './knex.ts';
import type { PublishMirrorRow, PublishOutboxRow } from './rows.ts';

/**
 * In a publishing transaction (it holds the publishing lock): records what it published, to be
 * copied to the bucket, when a bucket is set. One statement; nothing when none is.
 */
export async function enqueuePublication(trx: Db, published: { role: string; version: number }[]): Promise<void> {
  await trx.raw(`insert into publish_outbox (published) select ?::jsonb where exists (select 1 from publish_mirror)`, [
    JSON.stringify(published.map(({ role, version }) => ({ role, version }))),
  ]);
}

export async function getMirror(db: Db, forUpdate = false): Promise<PublishMirrorRow | undefined> {
  const q = db<PublishMirrorRow>('publish_mirror').where({ id: 1 }).first();
  return forUpdate ? q.forUpdate() : q;
}

/**
 * Sets the bucket (the caller holds the publishing lock exclusively, so no publication is half
 * way): its first copy starts from the snapshot and timestamp current now, and every publication
 * after this commit is recorded in the outbox. Rows for another bucket are dropped.
 */
export async function setMirror(trx: Db, url: string): Promise<PublishMirrorRow> {
  const heads = await trx('role_heads').whereIn('role', ['snapshot', 'timestamp']).select('role', 'version');
  const version = (role: string) => Number(heads.find((h: { role: string }) => h.role === role)?.version ?? 0);
  await trx('publish_outbox').delete();
  await trx('publish_mirror').delete();
  const [row] = await trx<PublishMirrorRow>('publish_mirror')
    .insert({
      id: 1,
      url,
      sync_snapshot_version: String(version('snapshot')),
      sync_timestamp_version: version('timestamp'),
      synced: false,
      timestamp_version: 0,
    } as never)
    .returning('*');
  return row as PublishMirrorRow;
}

/** Stops recording publications for a bucket (tuf-server publish-to stop). */
export async function forgetMirror(trx: Db): Promise<PublishMirrorRow | undefined> {
  const row = await getMirror(trx, true);
  await trx('publish_outbox').delete();
  await trx('publish_mirror').delete();
  return row;
}

/**
 * Takes or renews the lease for `holder` on bucket `url` for `seconds`; the row when held, else
 * undefined (another process copies, or the bucket changed).
 */
export async function takeMirrorLease(db: Db, url: string, holder: string, seconds: number): Promise<PublishMirrorRow | undefined> {
  const res = await db.raw(
    `update publish_mirror set lease_holder = ?, lease_until = now() + make_interval(secs => ?)
     where id = 1 and url = ? and (lease_holder = ? or lease_holder is null or lease_until is null or lease_until < now())
     returning *, extract(epoch from lease_until - now()) as lease_left`,
    [holder, seconds, url, holder],
  );
  return res.rows[0] as PublishMirrorRow | undefined;
}

export async function releaseMirrorLease(db: Db, holder: string): Promise<void> {
  await db('publish_mirror').where({ id: 1, lease_holder: holder }).update({ lease_holder: null, lease_until: null });
}

/** The oldest publications not copied yet, in the order they committed. */
export async function outboxBatch(db: Db, limit: number): Promise<PublishOutboxRow[]> {
  const rows = await db<PublishOutboxRow>('publish_outbox').orderBy('id').limit(limit).select('id', 'published', 'created_at');
  return rows.map((r) => ({ ...r, id: String(r.id) }));
}

/** Removes copied publications and records progress, only while `holder` still holds the lease; false when it lost it. */
export async function finishOutbox(knex: Knex, ids: string[], holder: string, progress: MirrorProgress): Promise<boolean> {
  return knex.transaction(async (trx) => {
    if (!(await recordMirrorProgress(trx, holder, progress))) return false;
    await trx('publish_outbox').whereIn('id', ids).delete();
    return true;
  });
}

export interface MirrorProgress {
  objectsWritten: number;
  timestampVersion?: number;
  syncCursor?: string;
  synced?: boolean;
}

/** Records progress (and clears the last error) while `holder` holds the lease; false when it lost it. */
export async function recordMirrorProgress(db: Db, holder: string, p: MirrorProgress): Promise<boolean> {
  const changes: Record<string, unknown> = {
    last_success_at: db.fn.now(),
    last_error: null,
    last_error_at: null,
    objects_written: db.raw('objects_written + ?', [p.objectsWritten]),
  };
  if (p.timestampVersion !== undefined) changes.timestamp_version = db.raw('greatest(timestamp_version, ?)', [p.timestampVersion]);
  if (p.syncCursor !== undefined) changes.sync_cursor = p.syncCursor;
  if (p.synced !== undefined) changes.synced = p.synced;
  return (
    (await db('publish_mirror')
      .where({ id: 1, lease_holder: holder })
      .update(changes as never)) > 0
  );
}

export async function recordMirrorError(db: Db, holder: string, error: string): Promise<void> {
  await db('publish_mirror')
    .where({ id: 1, lease_holder: holder })
    .update({ last_error: error.slice(0, 2000), last_error_at: db.fn.now() } as never);
}

export interface OutboxStats {
  rows: number;
  /** Seconds since the oldest row not copied was written (0 when none). */
  lagSeconds: number;
}

export async function outboxStats(db: Db): Promise<OutboxStats> {
  const res = await db.raw(
    `select count(*)::bigint as rows, coalesce(extract(epoch from now() - min(created_at)), 0)::float8 as lag from publish_outbox`,
  );
  return { rows: Number(res.rows[0].rows), lagSeconds: Number(res.rows[0].lag) };
}

/** Roles with a head, in name order after `after` (the first copy walks them), with their head version. */
export async function roleHeadsAfter(db: Db, after: string, limit: number): Promise<{ role: string; version: number }[]> {
  return db('role_heads')
    .whereNotIn('role', ['root', 'snapshot', 'timestamp'])
    .where('role', '>', after)
    .orderBy('role')
    .limit(limit)
    .select('role', 'version');
}

/** Bytes of `role` versions `from`..`to` (not snapshot: those are rebuilt), in order. */
export async function metadataBytesBetween(db: Db, role: string, from: number, to: number): Promise<{ version: number; bytes: Buffer }[]> {
  return db('metadata_versions').where({ role }).whereBetween('version', [from, to]).orderBy('version').select('version', 'bytes');
}

/** Bytes of the given metadata versions (not snapshot), by `VERSION.ROLE`. */
export async function metadataBytesOf(db: Db, files: readonly { role: string; version: number }[]): Promise<Map<string, Buffer>> {
  const out = new Map<string, Buffer>();
  for (let i = 0; i < files.length; i += 500) {
    const pairs = files.slice(i, i + 500).map((f) => [f.role, f.version]);
    const rows = (await db('metadata_versions').whereIn(['role', 'version'], pairs).select('role', 'version', 'bytes')) as {
      role: string;
      version: number;
      bytes: Buffer | null;
    }[];
    for (const r of rows) if (r.bytes) out.set(`${r.version}.${r.role}`, r.bytes);
  }
  return out;
}
