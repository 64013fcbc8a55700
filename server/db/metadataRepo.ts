import { sha256Hex } from '../../core/canonical.ts';
import type { Db } from './knex.ts';
import type { MetadataVersionRow, RoleHeadRow, SnapshotCheckpointRow } from './rows.ts';

export interface NewMetadataVersion {
  role: string;
  version: number;
  bytes: Buffer;
  /** Of `bytes`, when the caller already computed it. */
  sha256?: string;
  expires: Date;
  /** Snapshot only: the highest role change it includes. */
  coversSeq?: string;
  /**
   * Snapshot only: store this delta (core/snapshotDelta.ts) instead of `bytes`, which it rebuilds
   * from the previous version; sha256 and length are still those of `bytes`.
   */
  snapshotDelta?: string;
}

/**
 * Inserts a version and moves the role's head to it. The unique (role, version) index refuses reuse.
 * Returns the role's new change sequence (what a snapshot must cover to include this version).
 */
export async function insertMetadataVersion(db: Db, v: NewMetadataVersion): Promise<string> {
  await db<MetadataVersionRow>('metadata_versions').insert({
    role: v.role,
    version: v.version,
    bytes: v.snapshotDelta === undefined ? v.bytes : null,
    ...(v.snapshotDelta !== undefined ? { snapshot_delta: v.snapshotDelta } : {}),
    sha256: v.sha256 ?? sha256Hex(v.bytes),
    length: v.bytes.length,
    expires: v.expires,
    ...(v.coversSeq !== undefined ? { covers_seq: v.coversSeq } : {}),
  } as never);
  const [head] = await db<RoleHeadRow>('role_heads')
    .insert({ role: v.role, version: v.version, expires: v.expires, updated_at: db.fn.now() as unknown as Date })
    .onConflict('role')
    .merge({
      version: v.version,
      expires: v.expires,
      updated_at: db.fn.now() as never,
      change_seq: db.raw(`nextval('role_change_seq')`) as never,
    })
    .returning('change_seq');
  return String((head as { change_seq: string | number }).change_seq);
}

const NOT_IN_SNAPSHOT = ['root', 'snapshot', 'timestamp'];

/** The highest change of any role snapshot lists ('0' when none). */
export async function maxSnapshotChangeSeq(db: Db): Promise<string> {
  const row = await db('role_heads').whereNotIn('role', NOT_IN_SNAPSHOT).max({ seq: 'change_seq' }).first();
  return String(row?.seq ?? '0');
}

export interface SnapshotHeadInfo {
  version: number;
  sha256: string;
  covers_seq: string | null;
}

/** The current snapshot's version, digest and the change sequence it covers. */
export async function snapshotHeadInfo(db: Db): Promise<SnapshotHeadInfo | undefined> {
  return db('metadata_versions as m')
    .join('role_heads as h', function () {
      this.on('h.role', 'm.role').andOn('h.version', 'm.version');
    })
    .where('m.role', 'snapshot')
    .first('m.version', 'm.sha256', 'm.covers_seq');
}

export interface SnapshotEntryRow {
  role: string;
  version: number;
  sha256: string;
  length: number;
  change_seq: string;
}

/** Heads of the roles snapshot lists, changed after `afterSeq` (all when null), up to `uptoSeq`. */
export async function snapshotEntriesChanged(db: Db, afterSeq: string | null, uptoSeq: string): Promise<SnapshotEntryRow[]> {
  const q = db('metadata_versions as m')
    .join('role_heads as h', function () {
      this.on('h.role', 'm.role').andOn('h.version', 'm.version');
    })
    .whereNotIn('m.role', NOT_IN_SNAPSHOT)
    .where('h.change_seq', '<=', uptoSeq)
    .select('m.role', 'm.version', 'm.sha256', 'm.length', 'h.change_seq');
  if (afterSeq !== null) q.where('h.change_seq', '>', afterSeq);
  return q;
}

/** The bytes of a version stored whole: every role's, but most snapshot versions' (see snapshotVersions.ts). */
export function wholeBytes(row: MetadataVersionRow): Buffer {
  if (!row.bytes) throw new Error(`${row.role} v${row.version} is stored as a delta: read it with loadSnapshotVersion`);
  return row.bytes;
}

export async function getMetadataVersion(db: Db, role: string, version: number): Promise<MetadataVersionRow | undefined> {
  return db<MetadataVersionRow>('metadata_versions').where({ role, version }).first();
}

export async function getHead(db: Db, role: string): Promise<RoleHeadRow | undefined> {
  return db<RoleHeadRow>('role_heads').where({ role }).first();
}

/** The heads of the roles that have one, in a query per thousand names (a bin may delegate thousands). */
export async function getHeads(db: Db, roles: readonly string[]): Promise<Map<string, RoleHeadRow>> {
  const out = new Map<string, RoleHeadRow>();
  for (let i = 0; i < roles.length; i += 1000) {
    for (const row of await db<RoleHeadRow>('role_heads').whereIn('role', roles.slice(i, i + 1000))) out.set(row.role, row);
  }
  return out;
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

/** A snapshot version as stored: whole (bytes) or as a delta from the version before. */
export interface StoredSnapshotRow {
  version: number;
  bytes: Buffer | null;
  snapshot_delta: string | null;
  sha256: string;
}

/** Snapshot versions `from`..`to`, in order. */
export async function snapshotRows(db: Db, from: number, to: number): Promise<StoredSnapshotRow[]> {
  return db('metadata_versions')
    .where({ role: 'snapshot' })
    .whereBetween('version', [from, to])
    .orderBy('version')
    .select('version', 'bytes', 'snapshot_delta', 'sha256');
}

/**
 * The newest whole file of a snapshot version at or below `version`: a version stored whole, or a
 * checkpoint. Rebuilding `version` starts there.
 */
export async function snapshotBaseAtOrBelow(db: Db, version: number): Promise<{ version: number; bytes: Buffer } | undefined> {
  const [whole, checkpoint] = await Promise.all([
    db('metadata_versions')
      .where({ role: 'snapshot' })
      .where('version', '<=', version)
      .whereNotNull('bytes')
      .orderBy('version', 'desc')
      .first('version', 'bytes'),
    db<SnapshotCheckpointRow>('snapshot_checkpoints').where('version', '<=', version).orderBy('version', 'desc').first('version', 'bytes'),
  ]);
  if (!whole) return checkpoint;
  if (!checkpoint) return whole;
  return checkpoint.version > whole.version ? checkpoint : whole;
}

/** The newest snapshot version whose whole file is stored (0 when none). */
export async function latestSnapshotBaseVersion(db: Db): Promise<number> {
  const [whole, checkpoint] = await Promise.all([
    db('metadata_versions').where({ role: 'snapshot' }).whereNotNull('bytes').max({ v: 'version' }).first(),
    db('snapshot_checkpoints').max({ v: 'version' }).first(),
  ]);
  return Math.max(Number(whole?.v ?? 0), Number(checkpoint?.v ?? 0));
}

/** Keeps the whole file of a snapshot version stored as a delta (idempotent). */
export async function insertSnapshotCheckpoint(db: Db, version: number, bytes: Buffer): Promise<void> {
  await db('snapshot_checkpoints').insert({ version, bytes }).onConflict('version').ignore();
}
