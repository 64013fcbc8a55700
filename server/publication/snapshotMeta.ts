// The snapshot's entries, kept in memory between publications so that the next one only reads
// the roles changed since (role_heads.change_seq) and only canonicalizes those; with them, the
// TAP 16 Merkle tree over the same entries, updated along one path per changed role.
import type { SnapshotMetaEntry } from '../../core/metadata.ts';
import { SnapshotMerkleTree } from '../../core/snapshotMerkle.ts';
import { SnapshotEntries } from '../../core/snapshotText.ts';
import type { Db } from '../db/knex.ts';
import {
  latestSnapshotBaseVersion,
  maxSnapshotChangeSeq,
  snapshotEntriesChanged,
  snapshotHeadInfo,
  type SnapshotHeadInfo,
} from '../db/metadataRepo.ts';

/** The highest role change and the current snapshot, when the caller read them in this transaction. */
export interface SnapshotState {
  upto: string;
  head: SnapshotHeadInfo | undefined;
}

export interface BuiltSnapshotMeta {
  metaText: string;
  size: number;
  coversSeq: string;
  /** The entries after this build, as a value of its own (the read side keeps it to rebuild the next version). */
  entries: SnapshotEntries;
  /**
   * The entry texts changed since the current snapshot, when this build continues from it: the
   * new version can then be stored as a delta. Null after a rebuild from every role.
   */
  deltaFrom: { version: number; changes: string[] } | null;
  /** The TAP 16 tree over the entries, when the repository publishes trees. */
  tree: SnapshotMerkleTree | null;
  /** How long updating (or building) the tree took. */
  treeSeconds: number;
  /** Call once the snapshot over `metaText` is stored: the next build starts from it. */
  remember(version: number, sha256: string, storedWhole: boolean): void;
  /** Whether the new version should also be kept whole (a checkpoint), so rebuilding it reads few deltas. */
  checkpointDue(version: number): boolean;
}

export interface SnapshotMetaOptions {
  /** List delegated roles by version alone (TUF allows it; the snapshot shrinks to about a third); top-level targets keeps its length and hash. */
  versionOnly: boolean;
  /** Keep a TAP 16 Merkle tree over the entries (its root goes into the timestamp). */
  merkleTrees: boolean;
  /** Keep a whole snapshot file at least every this many versions. */
  checkpointVersions: number;
}

/**
 * Keyed by the version and digest of the snapshot the entries describe: after a rolled-back or
 * foreign publication they do not match, and are rebuilt from every role.
 */
export class SnapshotMeta {
  constructor(private readonly opts: SnapshotMetaOptions) {}

  private state: {
    version: number;
    sha256: string;
    coversSeq: string;
    entries: SnapshotEntries;
    tree: SnapshotMerkleTree | null;
  } | null = null;
  /** The newest version stored whole or as a checkpoint, once read from the database. */
  private lastWhole: number | null = null;

  async build(db: Db, known?: SnapshotState): Promise<BuiltSnapshotMeta> {
    const upto = known ? known.upto : await maxSnapshotChangeSeq(db);
    const head = known ? known.head : await snapshotHeadInfo(db);
    const s = this.state;
    const incremental = s && head && head.covers_seq !== null && s.version === head.version && s.sha256 === head.sha256 ? s : null;
    const entries = incremental ? incremental.entries : new SnapshotEntries();
    const rows = await snapshotEntriesChanged(db, incremental ? incremental.coversSeq : null, upto);
    const changes = new Map<string, SnapshotMetaEntry>();
    for (const r of rows) {
      const full = !this.opts.versionOnly || r.role === 'targets';
      changes.set(`${r.role}.json`, full ? { version: r.version, length: r.length, hashes: { sha256: r.sha256 } } : { version: r.version });
    }
    const next = entries.withChanges(changes);
    let tree: SnapshotMerkleTree | null = null;
    const treeStarted = process.hrtime.bigint();
    if (this.opts.merkleTrees && next.size > 0) {
      tree = incremental?.tree ? incremental.tree.with(next.changedTexts) : SnapshotMerkleTree.build(next.next.texts());
    }
    const treeSeconds = Number(process.hrtime.bigint() - treeStarted) / 1e9;
    if (this.lastWhole === null) this.lastWhole = await latestSnapshotBaseVersion(db);
    return {
      metaText: next.metaText,
      size: next.size,
      coversSeq: upto,
      entries: next.next,
      deltaFrom: incremental ? { version: incremental.version, changes: next.changedTexts } : null,
      tree,
      treeSeconds,
      remember: (version, sha256, storedWhole) => {
        // `next.next`, never `commit()`: the entries of the previous version may be held by the read side.
        this.state = { version, sha256, coversSeq: upto, entries: next.next, tree };
        if (storedWhole) this.lastWhole = version;
      },
      checkpointDue: (version) => version - (this.lastWhole ?? 0) >= this.opts.checkpointVersions,
    };
  }

  /** Records a checkpoint written after the fact (publication.ts). */
  checkpointWritten(version: number): void {
    this.lastWhole = Math.max(this.lastWhole ?? 0, version);
  }
}
