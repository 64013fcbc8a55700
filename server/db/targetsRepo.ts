import type { Db } from './knex.ts';
import type { ListedBlobRow, SupersededTargetRow, TargetBlobRow, TargetRecordRow } from './rows.ts';

export interface TargetRecord {
  path: string;
  length: number;
  hashes: Record<string, string>;
  custom?: Record<string, unknown>;
}

/**
 * Makes the role's target records exactly `targets`, as listed by `roleVersion`. What the version
 * before listed and this one does not is kept in superseded_targets: clients that read that
 * version a moment ago still download it (findTargetRecord's grace).
 */
export async function replaceTargetRecords(db: Db, role: string, roleVersion: number, targets: TargetRecord[]): Promise<void> {
  const dropped = await db.raw(
    `with gone as (delete from target_records where role = ? returning path, hashes->>'sha256' as sha256, role_version)
     select path, sha256, role_version from gone where sha256 is not null`,
    [role],
  );
  const kept = new Set(targets.map((t) => `${t.path}\n${t.hashes.sha256}`));
  const superseded = (dropped.rows as { path: string; sha256: string; role_version: number }[])
    .filter((r) => !kept.has(`${r.path}\n${r.sha256}`))
    .map((r) => ({ path: r.path, sha256: r.sha256, role, role_version: r.role_version, superseded_at: db.fn.now() }));
  for (let i = 0; i < superseded.length; i += 1000) {
    await db('superseded_targets')
      .insert(superseded.slice(i, i + 1000))
      .onConflict(['path', 'sha256'])
      .merge(['role', 'role_version', 'superseded_at']);
  }
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

/** A target listed by some role's current version with this path and sha256. */
export async function findTargetRecord(db: Db, path: string, sha256: string): Promise<TargetRecordRow | undefined> {
  return db<TargetRecordRow>('target_records').where({ path }).whereRaw(`hashes->>'sha256' = ?`, [sha256]).first();
}

/** Whether a role's newer version dropped this target less than `graceSeconds` ago. */
export async function recentlySuperseded(db: Db, path: string, sha256: string, graceSeconds: number): Promise<boolean> {
  if (graceSeconds <= 0) return false;
  const row = await db<SupersededTargetRow>('superseded_targets')
    .where({ path, sha256 })
    .whereRaw(`superseded_at > now() - make_interval(secs => ?)`, [graceSeconds])
    .first('path');
  return row !== undefined;
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
