import type { Db } from './knex.ts';
import type { ListedBlobRow, TargetBlobRow, TargetRecordRow } from './rows.ts';

export interface TargetRecord {
  path: string;
  length: number;
  hashes: Record<string, string>;
  custom?: Record<string, unknown>;
}

/** Makes the role's target records exactly `targets`, as listed by `roleVersion`. */
export async function replaceTargetRecords(db: Db, role: string, roleVersion: number, targets: TargetRecord[]): Promise<void> {
  await db<TargetRecordRow>('target_records').where({ role }).delete();
  const rows = targets.map((t) => ({
    role,
    path: t.path,
    length: String(t.length),
    hashes: t.hashes,
    custom: t.custom ?? null,
    role_version: roleVersion,
  }));
  for (let i = 0; i < rows.length; i += 1000) {
    await db<TargetRecordRow>('target_records').insert(rows.slice(i, i + 1000) as never);
  }
  // Every file a stored version lists, for good: garbage collection never removes these.
  const listed = [...new Set(targets.map((t) => t.hashes.sha256).filter((h): h is string => typeof h === 'string'))].map((sha256) => ({
    sha256,
  }));
  for (let i = 0; i < listed.length; i += 1000) {
    await db<ListedBlobRow>('listed_blobs')
      .insert(listed.slice(i, i + 1000) as never)
      .onConflict('sha256')
      .ignore();
  }
}

/** A target listed by some role with this path and sha256; what `/targets/<dir>/<sha256>.<name>` may serve. */
export async function findTargetRecord(db: Db, path: string, sha256: string): Promise<TargetRecordRow | undefined> {
  return db<TargetRecordRow>('target_records').where({ path }).whereRaw(`hashes->>'sha256' = ?`, [sha256]).first();
}

/**
 * Stores a file by its SHA-256; true when it was not held yet. Storing bytes already held moves
 * their `touched_at` on, so a file about to be listed again starts a new garbage-collection grace
 * period (see admin/gc.ts).
 */
export async function putBlob(db: Db, sha256: string, content: Buffer): Promise<boolean> {
  const res = await db.raw(
    `insert into target_blobs (sha256, length, content) values (?, ?, ?)
     on conflict (sha256) do update set touched_at = now()
     returning (xmax = 0) as inserted`,
    [sha256, String(content.length), content],
  );
  return res.rows[0]?.inserted === true;
}

export async function getBlob(db: Db, sha256: string): Promise<TargetBlobRow | undefined> {
  return db<TargetBlobRow>('target_blobs').where({ sha256 }).first();
}

export async function blobExists(db: Db, sha256: string): Promise<boolean> {
  return (await db<TargetBlobRow>('target_blobs').where({ sha256 }).first('sha256')) !== undefined;
}

/** Which of `sha256s` are held (in PostgreSQL, whole or in pieces, or in object storage: server/blobs/). */
export async function heldBlobs(db: Db, sha256s: string[]): Promise<Set<string>> {
  const held = new Set<string>();
  const unique = [...new Set(sha256s)];
  for (let i = 0; i < unique.length; i += 1000) {
    const rows = await db<TargetBlobRow>('target_blobs')
      .whereIn('sha256', unique.slice(i, i + 1000))
      .select('sha256');
    for (const r of rows) held.add(r.sha256);
  }
  return held;
}
