// The snapshot's entries, kept in memory between publications so that the next one only reads
// the roles changed since (role_heads.change_seq) and only canonicalizes those; with them, the
// TAP 16 Merkle tree over the same entries, updated along one path per changed role.
import type { SnapshotMetaEntry } from '../../core/metadata.ts';
import type { SnapshotMerkleTree } from '../../core/snapshotMerkle.ts';
import { SnapshotEntries } from '../../core/snapshotText.ts';
import type { Db } from '../db/knex.ts';
import { loadSnapshotVersion } from '../db/snapshotVersions.ts';
import type { TreeBuilder } from '../treeBuilder.ts';
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
  /** The meta object's text, without its braces, as bytes. */
  metaBytes: Buffer;
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
  /** Call once the snapshot over `metaBytes` is stored: the next build starts from it. */
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
  /** Builds a whole tree (after a start) off the event loop. */
  treeBuilder: TreeBuilder;
}

interface MetaState {
  version: number;
  sha256: string;
  coversSeq: string;
  entries: SnapshotEntries;
  tree: SnapshotMerkleTree | null;
}

/**
 * Keyed by the version and digest of the snapshot the entries describe: after a rolled-back or
 * foreign publication they do not match, and are rebuilt from every role.
 */
export class SnapshotMeta {
  constructor(private readonly opts: SnapshotMetaOptions) {}

  private state: MetaState | null = null;
  /** The newest version stored whole or as a checkpoint, once read from the database. */
  private lastWhole: number | null = null;

  async build(db: Db, known?: SnapshotState): Promise<BuiltSnapshotMeta> {
    const upto = known ? known.upto : await maxSnapshotChangeSeq(db);
    const head = known ? known.head : await snapshotHeadInfo(db);
    const s = await this.continueFrom(db, head);
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
      tree = incremental?.tree ? incremental.tree.with(next.changedTexts) : await this.opts.treeBuilder.build(next.next.texts());
    }
    const treeSeconds = Number(process.hrtime.bigint() - treeStarted) / 1e9;
    if (this.lastWhole === null) this.lastWhole = await latestSnapshotBaseVersion(db);
    return {
      metaBytes: next.metaBytes,
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

  /**
   * The entries (and tree) of the current snapshot `head`, from what this process holds: as is
   * when it published `head` itself; brought forward through the stored deltas when other
   * processes published since (one process per core, several servers: every other round); read
   * from the newest checkpoint and the deltas after it when it holds nothing (after a start).
   * Null when none of that works: the caller rebuilds from every role.
   */
  private async continueFrom(db: Db, head: SnapshotHeadInfo | undefined): Promise<MetaState | null> {
    const s = this.state;
    if (!head || head.covers_seq === null) return null;
    if (s && s.version === head.version) return s;
    if (s && s.version > head.version) return null;
    try {
      const held = s ? { version: s.version, entries: s.entries, bytes: Buffer.alloc(0), changed: [], since: 0 } : null;
      const rebuilt = await loadSnapshotVersion(db, head.version, held);
      if (!rebuilt) return null;
      const tree = s?.tree && rebuilt.since === s.version ? s.tree.with(rebuilt.changed) : null;
      return { version: head.version, sha256: head.sha256, coversSeq: head.covers_seq, entries: rebuilt.entries, tree };
    } catch {
      return null; // a stored version that does not rebuild: every role is read again instead
    }
  }

  /** Records a checkpoint written after the fact (publication.ts). */
  checkpointWritten(version: number): void {
    this.lastWhole = Math.max(this.lastWhole ?? 0, version);
  }
}
