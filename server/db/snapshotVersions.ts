// Reading snapshot versions back: most are stored as deltas (core/snapshotDelta.ts), so a version
// is rebuilt from the newest whole file at or below it (a version stored whole, or a checkpoint)
// and the deltas after it, or from a version the caller already holds, and refused unless the
// result has the SHA-256 recorded when it was signed.
import { sha256Hex } from '../../core/canonical.ts';
import { applySnapshotDelta, decodeSnapshotDelta, mergeChanges, snapshotFromFile, type RebuiltSnapshot } from '../../core/snapshotDelta.ts';
import { TufError } from '../../core/errors.ts';
import type { Db } from './knex.ts';
import { snapshotBaseAtOrBelow, snapshotRows, type StoredSnapshotRow } from './metadataRepo.ts';

/** Rebuilding from a version the caller holds is preferred while at most this many deltas lie between. */
const MAX_DELTAS_FROM_HELD = 1024;

function mismatch(version: number): TufError {
  return new TufError('malformed', `snapshot v${version} rebuilt from its delta does not match the SHA-256 recorded when it was signed`);
}

/**
 * Applies stored rows, in order, to `start` (the version just before the first row). The result's
 * changes are counted since `start` (what a Merkle tree of `start` needs to become this version's).
 */
export function applySnapshotRows(start: RebuiltSnapshot | null, rows: readonly StoredSnapshotRow[]): RebuiltSnapshot {
  let current = start;
  for (const row of rows) {
    let next: RebuiltSnapshot;
    if (row.bytes) {
      next = snapshotFromFile(row.bytes, row.version);
    } else {
      if (!current) throw new TufError('malformed', `snapshot v${row.version} is stored as a delta with no whole version before it`);
      next = applySnapshotDelta(current, row.version, decodeSnapshotDelta(row.snapshot_delta ?? '', row.version));
    }
    if (sha256Hex(next.bytes) !== row.sha256) throw mismatch(row.version);
    current = current && current !== start ? mergeChanges(current, next) : next;
  }
  if (!current) throw new TufError('malformed', 'no snapshot version to rebuild from');
  return current;
}

/**
 * Snapshot `version` rebuilt, or undefined when no such version is stored. `held` is a version the
 * caller keeps in memory (a process following publications holds the previous one).
 */
export async function loadSnapshotVersion(db: Db, version: number, held?: RebuiltSnapshot | null): Promise<RebuiltSnapshot | undefined> {
  if (held && held.version === version) return held;
  if (held && held.version < version && version - held.version <= MAX_DELTAS_FROM_HELD) {
    const rows = await snapshotRows(db, held.version + 1, version);
    if (rows.length === 0 || rows.at(-1)!.version !== version) return undefined;
    return applySnapshotRows(held, rows);
  }
  const base = await snapshotBaseAtOrBelow(db, version);
  if (!base) return undefined;
  const rows = await snapshotRows(db, base.version + 1, version);
  const [own] = base.version === version ? await snapshotRows(db, version, version) : [rows.at(-1)];
  if (!own || own.version !== version) return undefined;
  const start = snapshotFromFile(base.bytes, base.version);
  if (base.version === version) {
    if (sha256Hex(start.bytes) !== own.sha256) throw mismatch(version);
    return start;
  }
  return applySnapshotRows(start, rows);
}
