// TAP 16 snapshot Merkle trees: the tree over a snapshot's entries, one proof per role, and the
// client's check of a proof against the root a timestamp carries. TAP 16 leaves the algorithm to
// the implementer ("documented in a POUF"); this one is:
// - one leaf per entry of the snapshot's `meta`, in the order snapshot.json lists them (sorted by
//   name, canonical JSON's order); a leaf's `leaf_contents` is `{NAME: ENTRY}`, exactly the entry
//   snapshot.json holds, so the role's name is part of it and no two leaves are equal;
// - leaf hash SHA-256(0x00 || canonical JSON of leaf_contents), node hash SHA-256(0x01 || left ||
//   right): the prefixes (as in RFC 9162) keep a leaf from ever passing for an inner node;
// - each level pairs its nodes left to right; an odd last node moves up unchanged (no sibling, no
//   step in the proof), so a proof has at most ceil(log2 n) steps and changing one leaf rehashes
//   one node per level;
// - a proof is TAP 16's document: `leaf_contents`, `merkle_path` {"0": hex, ...} (siblings from
//   the leaf up) and `path_directions` {"0": "L" | "R", ...} (the side the sibling is on).
// The root, hex, is the timestamp's `merkle_root`. Pure: no I/O.
import { createHash } from 'node:crypto';
import { canonicalBytes, isPlainObject, type JsonObject } from './canonical.ts';
import { parseMetaInfo } from './trustedParse.ts';
import { TrustError, type MetaInfo } from './trustedModel.ts';

const HASH_BYTES = 32;
const LEAF = Buffer.from([0]);
const NODE = Buffer.from([1]);
/** A tree of 2^64 leaves has 64 levels: no honest proof is longer. */
const MAX_PROOF_STEPS = 64;

function sha256(...parts: Buffer[]): Buffer {
  const h = createHash('sha256');
  for (const p of parts) h.update(p);
  return h.digest();
}

/** The leaf of one snapshot entry, from its canonical text `"NAME":{...}` (core/snapshotText.ts). */
export function leafHashOfEntryText(entryText: string): Buffer {
  return sha256(LEAF, Buffer.from(`{${entryText}}`, 'utf8'));
}

export function leafHash(leafContents: JsonObject): Buffer {
  return sha256(LEAF, canonicalBytes(leafContents));
}

function nodeHash(left: Buffer, right: Buffer): Buffer {
  return sha256(NODE, left, right);
}

export interface MerkleProof {
  /** Siblings from the leaf up, and the side each is on. */
  siblings: { hash: Buffer; side: 'L' | 'R' }[];
}

/** Nodes per page of a level. A new tree shares every page its changes do not touch. */
const PAGE_NODES = 2048;

/** One level of a tree: `count` 32-byte hashes in pages of PAGE_NODES. */
interface Level {
  count: number;
  pages: Buffer[];
}

function node(level: Level, i: number): Buffer {
  const at = (i % PAGE_NODES) * HASH_BYTES;
  return level.pages[Math.floor(i / PAGE_NODES)]!.subarray(at, at + HASH_BYTES);
}

/** Parent `p` of `level`: the hash of its two children, or its only child moved up. */
function parentOf(level: Level, p: number): Buffer {
  return 2 * p + 1 < level.count ? nodeHash(node(level, 2 * p), node(level, 2 * p + 1)) : node(level, 2 * p);
}

function levelOf(count: number, nodeAt: (i: number) => Buffer): Level {
  const pages: Buffer[] = [];
  for (let start = 0; start < count; start += PAGE_NODES) {
    const page = Buffer.alloc(Math.min(PAGE_NODES, count - start) * HASH_BYTES);
    for (let i = start; i < Math.min(count, start + PAGE_NODES); i++) page.set(nodeAt(i), (i - start) * HASH_BYTES);
    pages.push(page);
  }
  return { count, pages };
}

/**
 * The levels of a tree, leaves first. Immutable: `withLeaves` copies only the pages it changes
 * (at a million leaves, one changed leaf copies about 20 pages of 64 KB instead of 64 MB).
 */
export class SnapshotMerkleTree {
  private constructor(private readonly levels: Level[]) {}

  static build(leaves: readonly Buffer[]): SnapshotMerkleTree {
    if (leaves.length === 0) throw new Error('a snapshot Merkle tree needs at least one entry');
    const levels: Level[] = [levelOf(leaves.length, (i) => leaves[i]!)];
    while (levels.at(-1)!.count > 1) {
      const below = levels.at(-1)!;
      levels.push(levelOf(Math.ceil(below.count / 2), (p) => parentOf(below, p)));
    }
    return new SnapshotMerkleTree(levels);
  }

  get size(): number {
    return this.levels[0]!.count;
  }

  get root(): Buffer {
    return Buffer.from(node(this.levels.at(-1)!, 0));
  }

  /** The same leaves with some replaced (index -> leaf hash): one node per level for each. */
  withLeaves(changes: ReadonlyMap<number, Buffer>): SnapshotMerkleTree {
    const levels = this.levels.map((l) => ({ count: l.count, pages: l.pages.slice() }));
    const copied = levels.map(() => new Set<number>());
    const write = (k: number, i: number, hash: Buffer) => {
      const page = Math.floor(i / PAGE_NODES);
      if (!copied[k]!.has(page)) {
        levels[k]!.pages[page] = Buffer.from(levels[k]!.pages[page]!);
        copied[k]!.add(page);
      }
      levels[k]!.pages[page]!.set(hash, (i % PAGE_NODES) * HASH_BYTES);
    };
    let dirty = new Set<number>();
    for (const [i, leaf] of changes) {
      if (!Number.isInteger(i) || i < 0 || i >= this.size) throw new Error(`leaf ${i} is not in a tree of ${this.size}`);
      write(0, i, leaf);
      dirty.add(i);
    }
    for (let k = 0; k + 1 < levels.length; k++) {
      const next = new Set<number>();
      for (const i of dirty) next.add(i >> 1);
      for (const p of next) write(k + 1, p, parentOf(levels[k]!, p));
      dirty = next;
    }
    return new SnapshotMerkleTree(levels);
  }

  proof(index: number): MerkleProof {
    if (!Number.isInteger(index) || index < 0 || index >= this.size) throw new Error(`leaf ${index} is not in a tree of ${this.size}`);
    const siblings: MerkleProof['siblings'] = [];
    let i = index;
    for (let k = 0; k + 1 < this.levels.length; k++) {
      const s = i ^ 1;
      if (s < this.levels[k]!.count) siblings.push({ hash: Buffer.from(node(this.levels[k]!, s)), side: s < i ? 'L' : 'R' });
      i >>= 1;
    }
    return { siblings };
  }
}

/** TAP 16's snapshot Merkle metadata for one role. */
export function proofDocument(leafContents: JsonObject, proof: MerkleProof): JsonObject {
  const path: JsonObject = {};
  const directions: JsonObject = {};
  proof.siblings.forEach((s, i) => {
    path[String(i)] = s.hash.toString('hex');
    directions[String(i)] = s.side;
  });
  return { leaf_contents: leafContents, merkle_path: path, path_directions: directions };
}

const HEX64 = /^[0-9a-f]{64}$/;

function malformed(what: string): TrustError {
  return new TrustError('merkle_proof_malformed', `snapshot Merkle proof: ${what}`);
}

/**
 * TAP 16 "Merkle tree verification": the entry of `role` that the tree whose root the trusted
 * timestamp carries (`rootHex`) holds, or a refusal. Checked in this order: shape, that the leaf
 * is the entry of this very role, then the path against the root.
 */
export function verifySnapshotProof(doc: unknown, role: string, rootHex: string): MetaInfo {
  if (!isPlainObject(doc)) throw malformed('not a JSON object');
  const extra = Object.keys(doc).filter((k) => !['leaf_contents', 'merkle_path', 'path_directions'].includes(k));
  if (extra.length > 0) throw malformed(`unexpected field ${JSON.stringify(extra[0])}`);
  const { leaf_contents: leaf, merkle_path: path, path_directions: directions } = doc;
  if (!isPlainObject(leaf) || !isPlainObject(path) || !isPlainObject(directions))
    throw malformed('leaf_contents, merkle_path and path_directions must be objects');
  const names = Object.keys(leaf);
  const wanted = `${role}.json`;
  // The leaf names the role: a proof of another role's entry (valid in the same tree) proves nothing here.
  if (names.length !== 1 || names[0] !== wanted) {
    throw new TrustError('merkle_proof_wrong_role', `snapshot Merkle proof is for ${JSON.stringify(names.join(', '))}, not ${wanted}`);
  }
  const info = parseMetaInfo(leaf[wanted], `snapshot Merkle proof of ${wanted}`);
  const steps = Object.keys(path).length;
  if (steps > MAX_PROOF_STEPS) throw malformed(`${steps} steps; a tree has at most ${MAX_PROOF_STEPS} levels`);
  if (Object.keys(directions).length !== steps) throw malformed('merkle_path and path_directions differ in length');
  let hash = leafHash(leaf);
  for (let i = 0; i < steps; i++) {
    const sibling = path[String(i)];
    const side = directions[String(i)];
    if (typeof sibling !== 'string' || !HEX64.test(sibling)) throw malformed(`merkle_path["${i}"] must be 64 lowercase hex digits`);
    if (side !== 'L' && side !== 'R') throw malformed(`path_directions["${i}"] must be "L" or "R"`);
    const s = Buffer.from(sibling, 'hex');
    hash = side === 'L' ? nodeHash(s, hash) : nodeHash(hash, s);
  }
  if (hash.toString('hex') !== rootHex) {
    throw new TrustError('merkle_root_mismatch', `snapshot Merkle proof of ${wanted} does not lead to the timestamp's merkle_root`);
  }
  return info;
}
