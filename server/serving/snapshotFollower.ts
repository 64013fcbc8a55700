// The read side's view of snapshot versions: their files, rebuilt from deltas (most versions are
// stored as what changed since the one before: core/snapshotDelta.ts), and their TAP 16 Merkle
// trees, from which each role's proof is served. A process that signed a snapshot hands both over
// (published.ts); a process that learns of one from a notification rebuilds it from the version it
// holds and the deltas after it, and derives the tree from the previous tree along the changed
// paths.
//
// What anyone can make it do is bounded, since requests name versions:
// - an older version is rebuilt from the nearest whole file (a checkpoint: about a second of CPU at
//   a million roles) one at a time, with a short queue and 503 beyond it; a reader walking versions
//   in order (an auditor catching up) is served from the version it asked for last, one delta on;
// - a whole tree is built (on a worker thread) only for the current snapshot, after a start;
//   proofs of earlier versions come from the trees kept since (SNAPSHOT_TREES_KEPT), otherwise 404,
//   and a client then reads snapshot.json, which the same timestamp names.
import type { Knex } from 'knex';
import { canonicalBytes, sha256Hex } from '../../core/canonical.ts';
import type { RebuiltSnapshot } from '../../core/snapshotDelta.ts';
import { proofDocument, type SnapshotMerkleTree } from '../../core/snapshotMerkle.ts';
import { loadSnapshotVersion } from '../db/snapshotVersions.ts';
import { ownMemory } from './ownMemory.ts';
import { inPlaceTreeBuilder, type TreeBuilder } from '../treeBuilder.ts';

export interface ProofFile {
  bytes: Buffer;
  /** Strong ETag: the SHA-256 of the bytes. */
  etag: string;
}

/** Too many requests for old snapshot versions at once: answered 503 with Retry-After. */
export class SnapshotRebuildBusy extends Error {
  constructor() {
    super('too many earlier snapshot versions are being rebuilt at once; retry shortly');
  }
}

/** Proof bodies kept: every client asks for targets' and its bin's proof of the current version. */
const PROOFS_KEPT = 4096;
/** Earlier versions kept as rebuilt, so that a reader walking versions in order costs one delta each. */
const CURSORS_KEPT = 4;
/** Rebuilds from a checkpoint waiting their turn; beyond, 503. */
const MAX_WAITING_REBUILDS = 8;
/** A version at most this many deltas after one held is rebuilt from it rather than from a checkpoint (the default checkpoint interval). */
const MAX_DELTAS_FORWARD = 64;

export class SnapshotFollower {
  /** The newest version rebuilt or handed over: the next one is rebuilt from it. */
  private held: RebuiltSnapshot | null = null;
  /** Earlier versions rebuilt for readers, most recent last. */
  private readonly cursors = new Map<number, RebuiltSnapshot>();
  private readonly trees = new Map<number, SnapshotMerkleTree>();
  private readonly building = new Map<number, Promise<SnapshotMerkleTree | null>>();
  private readonly loading = new Map<number, Promise<RebuiltSnapshot | undefined>>();
  private readonly proofs = new Map<string, ProofFile>();
  /** Rebuilds from a checkpoint run one after another: the end of the line. */
  private lane: Promise<unknown> = Promise.resolve();
  private waiting = 0;

  constructor(
    private readonly knex: Knex,
    /** Trees of this many recent versions are kept (they share most of their nodes). */
    private readonly treesKept: number,
    /** Whether this repository publishes trees at all. */
    readonly merkleTrees: boolean,
    /** Builds a whole tree off the event loop. */
    private readonly treeBuilder: TreeBuilder = inPlaceTreeBuilder,
  ) {}

  /** A snapshot this process signed, with its tree. */
  adopt(rebuilt: RebuiltSnapshot, tree: SnapshotMerkleTree | null): void {
    // The tree first: `hold` would otherwise derive the same tree again.
    if (tree) this.keepTree(rebuilt.version, tree);
    this.hold(rebuilt);
  }

  /** The file of snapshot `version`, rebuilt if it is stored as a delta; undefined if there is none. */
  async file(version: number): Promise<Buffer | undefined> {
    return (await this.rebuilt(version))?.bytes;
  }

  /**
   * TAP 16 proof of file `name` (`ROLE.json`) in the tree of snapshot `version`; null when either is
   * unknown, or the version is neither `current` (the snapshot version this process serves) nor
   * one whose tree is still kept.
   */
  async proof(version: number, name: string, current: number | undefined): Promise<ProofFile | null> {
    if (!this.merkleTrees) return null;
    const key = `${version}\n${name}`;
    const kept = this.proofs.get(key);
    if (kept) return kept;
    const tree = this.trees.get(version) ?? (version === current ? await this.currentTree(version) : null);
    const proof = tree?.proof(name);
    if (!proof) return null;
    // A proof is under 2 KB: its own copy, not a view that keeps a pool slab of 8 KiB (ownMemory.ts).
    const bytes = ownMemory(canonicalBytes(proofDocument(proof)));
    const file = { bytes, etag: `"${sha256Hex(bytes)}"` };
    this.proofs.set(key, file);
    if (this.proofs.size > PROOFS_KEPT) this.proofs.delete(this.proofs.keys().next().value!);
    return file;
  }

  private hold(rebuilt: RebuiltSnapshot): void {
    const previous = this.held;
    if (previous && previous.version >= rebuilt.version) return;
    this.held = rebuilt;
    // Follow along: the previous tree and the changes since give this version's tree cheaply.
    const base = this.trees.get(rebuilt.since);
    if (this.merkleTrees && base && !this.trees.has(rebuilt.version)) this.keepTree(rebuilt.version, base.with(rebuilt.changed));
  }

  private keepTree(version: number, tree: SnapshotMerkleTree): void {
    this.trees.set(version, tree);
    while (this.trees.size > this.treesKept) this.trees.delete(Math.min(...this.trees.keys()));
  }

  private keepCursor(rebuilt: RebuiltSnapshot): void {
    this.cursors.delete(rebuilt.version);
    this.cursors.set(rebuilt.version, rebuilt);
    while (this.cursors.size > CURSORS_KEPT) this.cursors.delete(this.cursors.keys().next().value!);
  }

  /** The held version or a cursor to go forward from: the closest below `version`, within reach. */
  private startFor(version: number): RebuiltSnapshot | null {
    let best: RebuiltSnapshot | null = null;
    for (const c of [this.held, ...this.cursors.values()]) {
      if (c && c.version < version && version - c.version <= MAX_DELTAS_FORWARD && (!best || c.version > best.version)) best = c;
    }
    return best;
  }

  private rebuilt(version: number): Promise<RebuiltSnapshot | undefined> {
    if (this.held?.version === version) return Promise.resolve(this.held);
    const cursor = this.cursors.get(version);
    if (cursor) return Promise.resolve(cursor);
    let pending = this.loading.get(version);
    if (!pending) {
      const start = this.startFor(version);
      const load = () => loadSnapshotVersion(this.knex, version, start);
      // Following publications (one delta on) goes at once; anything longer waits its turn.
      pending = (start && version === start.version + 1 ? load() : this.inLane(load))
        .then((r) => {
          if (r && (!this.held || r.version > this.held.version)) this.hold(r);
          else if (r) this.keepCursor(r);
          return r;
        })
        .finally(() => this.loading.delete(version));
      this.loading.set(version, pending);
    }
    return pending;
  }

  /** Runs `work` after every rebuild queued before it; refuses when too many wait. */
  private inLane<T>(work: () => Promise<T>): Promise<T> {
    if (this.waiting >= MAX_WAITING_REBUILDS) return Promise.reject(new SnapshotRebuildBusy());
    this.waiting += 1;
    const run = this.lane.then(work, work).finally(() => (this.waiting -= 1));
    this.lane = run.catch(() => {});
    return run;
  }

  /** The tree of the current snapshot when none was handed over or derived (after a start): built once, off the event loop. */
  private currentTree(version: number): Promise<SnapshotMerkleTree | null> {
    let pending = this.building.get(version);
    if (!pending) {
      pending = this.rebuilt(version)
        .then(async (rebuilt) => {
          if (!rebuilt) return null;
          const again = this.trees.get(version);
          if (again) return again;
          const base = this.trees.get(rebuilt.since);
          const tree = base ? base.with(rebuilt.changed) : await this.treeBuilder.build(rebuilt.entries.texts());
          this.keepTree(version, tree);
          return tree;
        })
        .finally(() => this.building.delete(version));
      this.building.set(version, pending);
    }
    return pending;
  }
}
