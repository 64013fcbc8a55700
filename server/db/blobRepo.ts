// Queries of target file storage (server/blobs/ explains the design): files held in PostgreSQL,
// whole or in 1 MiB pieces, or in object storage (target_blobs.location), and the objects waiting
// to be deleted or claimed (object_cleanup).
import type { Db } from './knex.ts';
import type { ObjectCleanupRow } from './rows.ts';

/** True when the row was created (the caller then writes the pieces); false when the file was held already. */
export async function insertChunkedBlobRow(db: Db, sha256: string, length: number): Promise<boolean> {
  const res = await db.raw(
    `insert into target_blobs (sha256, length, content) values (?, ?, null)
     on conflict (sha256) do update set touched_at = now()
     returning (xmax = 0) as inserted`,
    [sha256, String(length)],
  );
  return res.rows[0]?.inserted === true;
}

export async function insertBlobChunk(db: Db, sha256: string, seq: number, data: Buffer): Promise<void> {
  await db('target_blob_chunks').insert({ sha256, seq, data });
}

/** A file held in object storage: its row naming the object, unless the file was held already (false). */
export async function insertObjectBlobRow(db: Db, sha256: string, length: number, location: string): Promise<boolean> {
  const res = await db.raw(
    `insert into target_blobs (sha256, length, content, location) values (?, ?, null, ?)
     on conflict (sha256) do update set touched_at = now()
     returning (xmax = 0) as inserted`,
    [sha256, String(length), location],
  );
  return res.rows[0]?.inserted === true;
}

/** Moves a held file's grace period on (as a new upload of it would); false when it is not held. */
export async function touchBlob(db: Db, sha256: string): Promise<boolean> {
  return (await db('target_blobs').where({ sha256 }).update({ touched_at: db.fn.now() })) > 0;
}

export interface BlobLayout {
  length: number;
  /** In target_blob_chunks (null content, null location). */
  chunked: boolean;
  location: string | null;
}

export async function blobLayout(db: Db, sha256: string): Promise<BlobLayout | null> {
  const res = await db.raw(
    `select length, location, (content is null and location is null) as chunked from target_blobs where sha256 = ?`,
    [sha256],
  );
  const row = res.rows[0] as { length: string; chunked: boolean; location: string | null } | undefined;
  return row ? { length: Number(row.length), chunked: row.chunked, location: row.location } : null;
}

export async function blobContent(db: Db, sha256: string): Promise<Buffer | null> {
  const row = await db('target_blobs').where({ sha256 }).first('content');
  return (row?.content as Buffer | null | undefined) ?? null;
}

export async function blobChunk(db: Db, sha256: string, seq: number): Promise<Buffer | null> {
  const row = await db('target_blob_chunks').where({ sha256, seq }).first('data');
  return (row?.data as Buffer | undefined) ?? null;
}

// --- Moving a file between stores (tuf-server blobs migrate) ---

export interface BlobToMove {
  sha256: string;
  length: number;
  location: string | null;
}

/**
 * Up to `limit` files not held at the destination, in sha256 order after `after`: for PostgreSQL
 * (`destinationPrefix` null) those in object storage; for object storage those not under
 * `destinationPrefix` (s3://BUCKET/PREFIX/).
 */
export async function blobsToMove(db: Db, destinationPrefix: string | null, after: string, limit: number): Promise<BlobToMove[]> {
  const q = db('target_blobs').where('sha256', '>', after).orderBy('sha256').limit(limit).select('sha256', 'length', 'location');
  if (destinationPrefix === null) q.whereNotNull('location');
  else q.where((w) => w.whereNull('location').orWhereRaw(`not starts_with(location, ?)`, [destinationPrefix]));
  const rows = (await q) as { sha256: string; length: string; location: string | null }[];
  return rows.map((r) => ({ sha256: r.sha256, length: Number(r.length), location: r.location }));
}

/** Files and bytes at the destination already, and left to move (for the report). */
export async function blobPlacement(db: Db, destinationPrefix: string | null): Promise<{ there: number; left: number; leftBytes: number }> {
  const res = await db.raw(
    `select count(*) filter (where at)::bigint as there, count(*) filter (where not at)::bigint as left,
            coalesce(sum(length) filter (where not at), 0)::bigint as left_bytes
     from (select length, ${destinationPrefix === null ? 'location is null' : 'coalesce(starts_with(location, ?), false)'} as at from target_blobs) b`,
    destinationPrefix === null ? [] : [destinationPrefix],
  );
  const row = res.rows[0] as { there: string; left: string; left_bytes: string };
  return { there: Number(row.there), left: Number(row.left), leftBytes: Number(row.left_bytes) };
}

/**
 * Points the file's row at `to` (null: PostgreSQL, whose pieces the caller wrote in this
 * transaction), if it still is where the move started (`from`); false when it changed meanwhile
 * (removed, or moved by someone else). Pieces left in PostgreSQL by a move away are deleted.
 */
export async function switchBlobLocation(db: Db, sha256: string, from: string | null, to: string | null): Promise<boolean> {
  const res = await db.raw(
    `update target_blobs set location = ?, content = null where sha256 = ? and location is not distinct from ? returning sha256`,
    [to, sha256, from],
  );
  if (res.rows.length === 0) return false;
  if (from === null) await db('target_blob_chunks').where({ sha256 }).delete();
  return true;
}

export async function deleteBlobChunks(db: Db, sha256: string): Promise<void> {
  await db('target_blob_chunks').where({ sha256 }).delete();
}

/** Whether the file's row is still where a move started (`from`), locked until the transaction ends. */
export async function lockBlobAt(db: Db, sha256: string, from: string | null): Promise<boolean> {
  const res = await db.raw(`select 1 from target_blobs where sha256 = ? and location is not distinct from ? for update`, [sha256, from]);
  return res.rows.length > 0;
}

// --- Objects nobody names (object_cleanup) ---

/** Records an object that may exist and that no row names (yet): deleted by garbage collection once past `notBefore` unless claimed. */
export async function queueObjectCleanup(db: Db, location: string, notBefore: Date, reason: ObjectCleanupRow['reason']): Promise<void> {
  await db.raw(
    `insert into object_cleanup (location, not_before, reason) values (?, ?, ?)
     on conflict (location) do update set not_before = least(object_cleanup.not_before, excluded.not_before), reason = excluded.reason`,
    [location, notBefore, reason],
  );
}

/** An upload's object is now named by a row: it is no longer to be deleted. False when garbage collection has begun deleting it. */
export async function claimObject(db: Db, location: string): Promise<boolean> {
  const res = await db.raw(`delete from object_cleanup where location = ? and not deleting returning location`, [location]);
  return res.rows.length > 0;
}

/**
 * Up to `limit` objects due for deletion, marked as being deleted (an upload can no longer claim
 * them); the caller deletes each and then `forgetObjectCleanup`. One marked by a run that died is
 * taken again once `retryAfter` has passed.
 */
export async function takeDueObjectCleanups(db: Db, now: Date, limit: number, retryAfterSeconds: number): Promise<string[]> {
  const res = await db.raw(
    `update object_cleanup set deleting = true, not_before = ?::timestamptz + make_interval(secs => ?)
     where location in (select location from object_cleanup where not_before <= ? order by not_before limit ? for update skip locked)
     returning location`,
    [now, retryAfterSeconds, now, limit],
  );
  return (res.rows as { location: string }[]).map((r) => r.location);
}

export async function forgetObjectCleanup(db: Db, location: string): Promise<void> {
  await db('object_cleanup').where({ location, deleting: true }).delete();
}

export async function objectCleanupCounts(db: Db, now: Date): Promise<{ waiting: number; due: number }> {
  const res = await db.raw(
    `select count(*)::bigint as waiting, count(*) filter (where not_before <= ?)::bigint as due from object_cleanup`,
    [now],
  );
  return { waiting: Number(res.rows[0].waiting), due: Number(res.rows[0].due) };
}
