// The read side's view of snapshot versions: their files, rebuilt from deltas (most versions are
// stored as what changed since the one before: core/snapshotDelta.ts), and their TAP 16 Merkle
// trees, from which each role's proof is served. A process that signed a snapshot hands both over
// (published.ts); a process that learns of one from a notification rebuilds it from the version it
// holds and the deltas after it, and derives the tree from the previous tree along the changed
// paths. A tree nobody derived (after a start, or for an old version) is built whole on demand,
// one at a time.
import type { Knex } from 'knex';
import { canonicalBytes, sha256Hex } from '../../core/canonical.ts';
import type { RebuiltSnapshot } from '../../core/snapshotDelta.ts';
import { proofDocument, type SnapshotMerkleTree } from '../../core/snapshotMerkle.ts';
import { inPlaceTreeBuilder, type TreeBuilder } from '../treeBuilder.ts';
import { loadSnapshotVersion } from '../db/snapshotVersions.ts';

export interface ProofFile {
  bytes: Buffer;
  /** Strong ETag: the SHA-256 of the bytes. */
  etag: string;
}

/** Proof bodies kept: every client asks for targets' and its bin's proof of the current version. */
const PROOFS_KEPT = 4096;

export class SnapshotFollower {
  /** The newest version rebuilt or handed over: the next one is rebuilt from it. */
  private held: RebuiltSnapshot | null = null;
  private readonly trees = new Map<number, SnapshotMerkleTree>();
  private readonly building = new Map<number, Promise<SnapshotMerkleTree | null>>();
  private readonly loading = new Map<number, Promise<RebuiltSnapshot | undefined>>();
  private readonly proofs = new Map<string, ProofFile>();

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

  /** TAP 16 proof of file `name` (`ROLE.json`) in the tree of snapshot `version`; null when either is unknown. */
  async proof(version: number, name: string): Promise<ProofFile | null> {
    if (!this.merkleTrees) return null;
    const key = `${version}\n${name}`;
    const kept = this.proofs.get(key);
    if (kept) return kept;
    const tree = await this.tree(version);
    const proof = tree?.proof(name);
    if (!proof) return null;
    const bytes = canonicalBytes(proofDocument(proof));
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

  private rebuilt(version: number): Promise<RebuiltSnapshot | undefined> {
    if (this.held?.version === version) return Promise.resolve(this.held);
    let pending = this.loading.get(version);
    if (!pending) {
      pending = loadSnapshotVersion(this.knex, version, this.held)
        .then((r) => {
          if (r) this.hold(r);
          return r;
        })
        .finally(() => this.loading.delete(version));
      this.loading.set(version, pending);
    }
    return pending;
  }

  private tree(version: number): Promise<SnapshotMerkleTree | null> {
    const kept = this.trees.get(version);
    if (kept) return Promise.resolve(kept);
    let pending = this.building.get(version);
    if (!pending) {
      // One whole build at a time: at a million roles it takes seconds of CPU.
      const previous = Promise.all(this.building.values());
      pending = previous
        .then(async () => {
          const rebuilt = await this.rebuilt(version);
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
