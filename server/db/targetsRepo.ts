import type { Db } from './knex.ts';
import type { TargetBlobRow, TargetRecordRow } from './rows.ts';

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
}

/** A target listed by some role with this path and sha256; what `/targets/<dir>/<sha256>.<name>` may serve. */
export async function findTargetRecord(db: Db, path: string, sha256: string): Promise<TargetRecordRow | undefined> {
  return db<TargetRecordRow>('target_records').where({ path }).whereRaw(`hashes->>'sha256' = ?`, [sha256]).first();
}

export async function putBlob(db: Db, sha256: string, content: Buffer): Promise<boolean> {
  const inserted = await db<TargetBlobRow>('target_blobs')
    .insert({ sha256, length: String(content.length), content })
    .onConflict('sha256')
    .ignore()
    .returning('sha256');
  return inserted.length > 0;
}

export async function getBlob(db: Db, sha256: string): Promise<TargetBlobRow | undefined> {
  return db<TargetBlobRow>('target_blobs').where({ sha256 }).first();
}

export async function blobExists(db: Db, sha256: string): Promise<boolean> {
  return (await db<TargetBlobRow>('target_blobs').where({ sha256 }).first('sha256')) !== undefined;
}
