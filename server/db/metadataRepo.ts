import { sha256Hex } from '../../core/canonical.ts';
import type { Db } from './knex.ts';
import type { MetadataVersionRow, RoleHeadRow } from './rows.ts';

export interface NewMetadataVersion {
  role: string;
  version: number;
  bytes: Buffer;
  expires: Date;
}

/** Inserts a version and moves the role's head to it. The unique (role, version) index refuses reuse. */
export async function insertMetadataVersion(db: Db, v: NewMetadataVersion): Promise<void> {
  await db<MetadataVersionRow>('metadata_versions').insert({
    role: v.role,
    version: v.version,
    bytes: v.bytes,
    sha256: sha256Hex(v.bytes),
    length: v.bytes.length,
    expires: v.expires,
  });
  await db<RoleHeadRow>('role_heads')
    .insert({ role: v.role, version: v.version, expires: v.expires, updated_at: db.fn.now() as unknown as Date })
    .onConflict('role')
    .merge(['version', 'expires', 'updated_at']);
}

export async function getMetadataVersion(db: Db, role: string, version: number): Promise<MetadataVersionRow | undefined> {
  return db<MetadataVersionRow>('metadata_versions').where({ role, version }).first();
}

export async function getHead(db: Db, role: string): Promise<RoleHeadRow | undefined> {
  return db<RoleHeadRow>('role_heads').where({ role }).first();
}

/** Version and SHA-256 of a role's current version, without its bytes. */
export async function getHeadDigest(db: Db, role: string): Promise<{ version: number; sha256: string } | undefined> {
  return db('metadata_versions as m')
    .join('role_heads as h', function () {
      this.on('h.role', 'm.role').andOn('h.version', 'm.version');
    })
    .where('m.role', role)
    .first('m.version', 'm.sha256');
}

export async function getHeadVersions(db: Db, roles: string[]): Promise<MetadataVersionRow[]> {
  if (roles.length === 0) return [];
  return db<MetadataVersionRow>('metadata_versions as m')
    .join('role_heads as h', function () {
      this.on('h.role', 'm.role').andOn('h.version', 'm.version');
    })
    .whereIn('m.role', roles)
    .select('m.*');
}

export async function listHeads(db: Db, roles?: string[]): Promise<RoleHeadRow[]> {
  const q = db<RoleHeadRow>('role_heads').select('*');
  if (roles) q.whereIn('role', roles);
  return q;
}

/** Heads of every targets role (top-level and delegated): what snapshot lists. */
export async function listSnapshotEntries(db: Db): Promise<Pick<MetadataVersionRow, 'role' | 'version' | 'sha256' | 'length'>[]> {
  return db('metadata_versions as m')
    .join('role_heads as h', function () {
      this.on('h.role', 'm.role').andOn('h.version', 'm.version');
    })
    .whereNotIn('m.role', ['root', 'snapshot', 'timestamp'])
    .select('m.role', 'm.version', 'm.sha256', 'm.length');
}
