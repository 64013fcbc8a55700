// What the write side hands the read side after a commit: roles and versions, and for files this
// process signed itself, their bytes (so it serves them without reading them back).
import type { RebuiltSnapshot } from '../../core/snapshotDelta.ts';
import type { SnapshotMerkleTree } from '../../core/snapshotMerkle.ts';

export interface PublishedRole {
  role: string;
  version: number;
}

export interface PublishedFile extends PublishedRole {
  /** The bytes just stored. Never sent in a notification. */
  file?: { bytes: Buffer; sha256: string; expires: Date };
  /** Without the bytes (another process's announcement): the version's expiry, when it said. */
  expires?: Date;
  /**
   * A snapshot this process signed: its entries and TAP 16 tree (the read side rebuilds the next
   * version from them and serves proofs), and whether its whole file should be kept as a
   * checkpoint. Never sent in a notification.
   */
  snapshot?: { rebuilt: RebuiltSnapshot; tree: SnapshotMerkleTree | null; checkpointDue: boolean };
}

export function rolesAndVersions(published: PublishedFile[]): PublishedRole[] {
  return published.map(({ role, version }) => ({ role, version }));
}
