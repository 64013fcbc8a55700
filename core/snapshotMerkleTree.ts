// The snapshot Merkle tree of TAP 16, as this repository builds it: a binary trie over the SHA-256
// of each role's file name, with single-child chains collapsed (a crit-bit, or PATRICIA, trie).
// - Its shape is a function of the set of names alone, so any server process, or an auditor
//   holding snapshot.json, builds the same tree and the same root.
// - A new version of a role rehashes one path (about log2 n nodes); a new role inserts one branch
//   node and rehashes one path. Nothing shifts, unlike a tree over the sorted list of entries,
//   where one new role moves every later leaf and the whole tree is hashed again (5.6 s at a
//   million roles).
// - Its depth is about log2 n whatever the names: they are hashed, so nobody who registers
//   project names can make a path longer.
// - Versions share their nodes: a change copies the path it touches and leaves the tree it was
//   made from as it was (proofs of earlier snapshot versions stay servable).
// Hashes: a leaf is SHA-256(0x00 || `{ENTRY}`), where ENTRY is the role's canonical snapshot entry
// text `"NAME.json":{...}`; a branch is SHA-256(0x01 || left || right). A proof lists the sibling of
// each branch on the path from the leaf up, and the side it is on. Pure: no I/O.
import { createHash, hash as oneShotHash } from 'node:crypto';

const HASH_BYTES = 32;
const NODE_PREFIX = Buffer.from([1]);
const NONE = -1;

export function sha256(...parts: (Buffer | string)[]): Buffer {
  const h = createHash('sha256');
  for (const p of parts) h.update(p);
  return h.digest();
}

/** The leaf hash of one snapshot entry, from its canonical text `"NAME":{...}` (core/snapshotText.ts). */
export function leafHashOfEntryText(entryText: string): Buffer {
  // "\0" is the byte 0x00 in UTF-8: the leaf prefix. One-shot hashing: about twice as fast as
  // createHash for inputs this small, and a million of them are hashed to build a tree.
  return oneShotHash('sha256', `\0{${entryText}}`, 'buffer') as unknown as Buffer;
}

const scratch = Buffer.alloc(1 + 2 * HASH_BYTES);

export function nodeHash(left: Buffer, right: Buffer): Buffer {
  scratch[0] = NODE_PREFIX[0]!;
  left.copy(scratch, 1);
  right.copy(scratch, 1 + HASH_BYTES);
  return oneShotHash('sha256', scratch, 'buffer') as unknown as Buffer;
}

/** The file name an entry text is for: `"NAME":{...}` holds no quote inside NAME (snapshotText.ts). */
export function entryName(entryText: string): string {
  const end = entryText.indexOf('"', 1);
  if (entryText[0] !== '"' || end < 2 || entryText[end + 1] !== ':')
    throw new Error(`not a snapshot entry text: ${entryText.slice(0, 80)}`);
  return entryText.slice(1, end);
}

function keyOf(name: string): Buffer {
  return oneShotHash('sha256', name, 'buffer') as unknown as Buffer;
}

/**
 * The order of `keys` (n keys of 32 bytes, one after another) as an index array. Sorting a million
 * Buffers with Buffer.compare took seconds; here a float array of (key prefix, index) pairs is
 * sorted natively, and the rare runs of equal prefixes are then put in order by their whole keys.
 */
function keyOrder(keys: Buffer, n: number): Int32Array {
  const indexBits = Math.max(1, Math.ceil(Math.log2(n + 1)));
  const prefixBits = Math.min(32, 53 - indexBits);
  const packed = new Float64Array(n);
  for (let i = 0; i < n; i++) packed[i] = Math.floor(keys.readUInt32BE(i * HASH_BYTES) / 2 ** (32 - prefixBits)) * 2 ** indexBits + i;
  packed.sort();
  const order = new Int32Array(n);
  const prefixOf = (v: number) => Math.floor(v / 2 ** indexBits);
  for (let i = 0; i < n; i++) order[i] = packed[i]! % 2 ** indexBits;
  const key = (i: number) => keys.subarray(i * HASH_BYTES, (i + 1) * HASH_BYTES);
  for (let a = 0; a < n;) {
    let b = a + 1;
    while (b < n && prefixOf(packed[b]!) === prefixOf(packed[a]!)) b++;
    if (b - a > 1) order.subarray(a, b).set([...order.subarray(a, b)].sort((x, y) => Buffer.compare(key(x), key(y))));
    a = b;
  }
  return order;
}

/** Bit `b` of a 256-bit key, most significant first. */
function bitAt(key: Buffer, b: number): number {
  return (key[b >> 3]! >> (7 - (b & 7))) & 1;
}

/** The first bit where two keys differ, or -1 when they are equal. */
function critBit(a: Buffer, b: Buffer): number {
  for (let i = 0; i < HASH_BYTES; i++) {
    const x = a[i]! ^ b[i]!;
    if (x !== 0) return i * 8 + Math.clz32(x) - 24;
  }
  return -1;
}

/**
 * Nodes of any number of tree versions, in flat arrays (a million roles make two million nodes:
 * as objects, they would cost several times the memory and slow every garbage collection).
 * Append-only: a node, once a tree refers to it, never changes.
 */
class Arena {
  count = 0;
  hashes: Buffer;
  left: Int32Array;
  right: Int32Array;
  bit: Uint16Array;
  /** A leaf's entry text; undefined for branches. */
  texts: (string | undefined)[] = [];

  constructor(capacity: number) {
    this.hashes = Buffer.alloc(capacity * HASH_BYTES);
    this.left = new Int32Array(capacity);
    this.right = new Int32Array(capacity);
    this.bit = new Uint16Array(capacity);
  }

  private reserve(): number {
    if (this.count === this.left.length) {
      const capacity = this.left.length * 2;
      const hashes = Buffer.alloc(capacity * HASH_BYTES);
      this.hashes.copy(hashes);
      this.hashes = hashes;
      for (const k of ['left', 'right'] as const) {
        const next = new Int32Array(capacity);
        next.set(this[k]);
        this[k] = next;
      }
      const bit = new Uint16Array(capacity);
      bit.set(this.bit);
      this.bit = bit;
    }
    return this.count++;
  }

  isLeaf(n: number): boolean {
    return this.left[n] === NONE;
  }

  hash(n: number): Buffer {
    return this.hashes.subarray(n * HASH_BYTES, (n + 1) * HASH_BYTES);
  }

  leaf(text: string): number {
    const n = this.reserve();
    this.left[n] = NONE;
    this.right[n] = NONE;
    this.texts[n] = text;
    this.hashes.set(leafHashOfEntryText(text), n * HASH_BYTES);
    return n;
  }

  /** A branch whose hash is set later (`rehash`), once its children are final. */
  branch(bit: number, left: number, right: number): number {
    const n = this.reserve();
    this.bit[n] = bit;
    this.left[n] = left;
    this.right[n] = right;
    this.texts[n] = undefined;
    return n;
  }

  setHash(n: number): void {
    this.hashes.set(nodeHash(this.hash(this.left[n]!), this.hash(this.right[n]!)), n * HASH_BYTES);
  }
}

/** A tree as flat arrays, to build it on another thread and hand it back without copying. */
export interface TreeArrays {
  count: number;
  top: number;
  size: number;
  hashes: Uint8Array;
  left: Int32Array;
  right: Int32Array;
  bit: Uint16Array;
  /** For each leaf node, the index of its entry text in the list the tree was built from (-1: a branch). */
  leafEntry: Int32Array;
}

export interface TreeProof {
  /** The role's entry text as the tree holds it. */
  entryText: string;
  /** Siblings from the leaf up, and the side each is on. */
  siblings: { hash: Buffer; side: 'L' | 'R' }[];
}

/** Rebuild into a fresh arena once it holds this many times the nodes the newest tree uses. */
const COMPACT_FACTOR = 4;

export class SnapshotMerkleTree {
  private constructor(
    private readonly arena: Arena,
    private readonly top: number,
    /** Number of roles (leaves). */
    readonly size: number,
  ) {}

  /** The tree over these entry texts (`"NAME":{...}`, one per role, names unique). */
  static build(entryTexts: readonly string[]): SnapshotMerkleTree {
    return SnapshotMerkleTree.buildWithIndex(entryTexts).tree;
  }

  /** The tree over `entryTexts` as arrays (a worker thread builds it; `fromArrays` takes it back). */
  static buildArrays(entryTexts: readonly string[]): TreeArrays {
    const { tree, leafEntry } = SnapshotMerkleTree.buildWithIndex(entryTexts);
    const a = tree.arena;
    const count = a.count;
    return {
      count,
      top: tree.top,
      size: tree.size,
      hashes: a.hashes.subarray(0, count * HASH_BYTES),
      left: a.left.subarray(0, count),
      right: a.right.subarray(0, count),
      bit: a.bit.subarray(0, count),
      leafEntry: leafEntry.subarray(0, count),
    };
  }

  /** A tree from `buildArrays` over the same entry texts. */
  static fromArrays(arrays: TreeArrays, entryTexts: readonly string[]): SnapshotMerkleTree {
    const arena = new Arena(Math.max(16, arrays.count + (arrays.count >> 3)));
    arena.count = arrays.count;
    arena.hashes.set(arrays.hashes);
    arena.left.set(arrays.left);
    arena.right.set(arrays.right);
    arena.bit.set(arrays.bit);
    for (let n = 0; n < arrays.count; n++) {
      const i = arrays.leafEntry[n]!;
      arena.texts[n] = i >= 0 ? entryTexts[i] : undefined;
      if (i >= 0 !== (arrays.left[n] === NONE)) throw new Error('tree arrays: leaves and entries disagree');
    }
    return new SnapshotMerkleTree(arena, arrays.top, arrays.size);
  }

  private static buildWithIndex(entryTexts: readonly string[]): { tree: SnapshotMerkleTree; leafEntry: Int32Array } {
    const n = entryTexts.length;
    if (n === 0) throw new Error('a snapshot Merkle tree needs at least one entry');
    const keys = Buffer.alloc(n * HASH_BYTES);
    for (let i = 0; i < n; i++) keyOf(entryName(entryTexts[i]!)).copy(keys, i * HASH_BYTES);
    const order = keyOrder(keys, n);
    const keyAt = (j: number) => keys.subarray(order[j]! * HASH_BYTES, (order[j]! + 1) * HASH_BYTES);
    // Room for the tree and for the changes of many publications before the arrays grow.
    const arena = new Arena(Math.max(16, 2 * n + (n >> 2)));
    const leafEntry = new Int32Array(arena.left.length).fill(-1);
    const build = (lo: number, hi: number): number => {
      if (hi - lo === 1) {
        const leaf = arena.leaf(entryTexts[order[lo]!]!);
        leafEntry[leaf] = order[lo]!;
        return leaf;
      }
      const c = critBit(keyAt(lo), keyAt(hi - 1));
      if (c < 0) throw new Error(`snapshot entry ${entryName(entryTexts[order[lo]!]!)} is listed twice`);
      // Sorted keys share every bit before c: the first with bit c set starts the right subtree.
      let a = lo;
      let b = hi - 1;
      while (a < b) {
        const m = (a + b) >> 1;
        if (bitAt(keyAt(m), c) === 1) b = m;
        else a = m + 1;
      }
      const left = build(lo, a);
      const right = build(a, hi);
      const node = arena.branch(c, left, right);
      arena.setHash(node);
      return node;
    };
    const top = build(0, n);
    return { tree: new SnapshotMerkleTree(arena, top, n), leafEntry };
  }

  get root(): Buffer {
    return Buffer.from(this.arena.hash(this.top));
  }

  /**
   * This tree with `entryTexts` put in: a role listed already gets its new entry, a new role is
   * added. This tree is left unchanged.
   */
  with(entryTexts: Iterable<string>): SnapshotMerkleTree {
    const arena = this.arena;
    // Nodes made during this call belong to no other tree yet and may be changed in place.
    const fresh = arena.count;
    let top = this.top;
    let size = this.size;
    const own = (n: number): number => (n >= fresh ? n : arena.branch(arena.bit[n]!, arena.left[n]!, arena.right[n]!));
    for (const text of entryTexts) {
      const key = keyOf(entryName(text));
      let n = top;
      while (!arena.isLeaf(n)) n = bitAt(key, arena.bit[n]!) === 1 ? arena.right[n]! : arena.left[n]!;
      const c = critBit(key, keyOf(entryName(arena.texts[n]!)));
      if (c < 0 && arena.texts[n] === text) continue;
      if (c >= 0) size += 1;
      // Walk down again, copying each branch passed, to where the new leaf (or branch) goes.
      const put = (at: number): number => {
        if (c < 0 ? arena.isLeaf(at) : arena.isLeaf(at) || arena.bit[at]! > c) {
          const leaf = arena.leaf(text);
          if (c < 0) return leaf;
          return bitAt(key, c) === 1 ? arena.branch(c, at, leaf) : arena.branch(c, leaf, at);
        }
        const copy = own(at);
        // The child first: `put` may grow the arena, which replaces its arrays.
        if (bitAt(key, arena.bit[copy]!) === 1) {
          const child = put(arena.right[copy]!);
          arena.right[copy] = child;
        } else {
          const child = put(arena.left[copy]!);
          arena.left[copy] = child;
        }
        return copy;
      };
      top = put(top);
    }
    if (top === this.top) return this;
    const rehash = (n: number): void => {
      if (n < fresh || arena.isLeaf(n)) return;
      rehash(arena.left[n]!);
      rehash(arena.right[n]!);
      arena.setHash(n);
    };
    rehash(top);
    const tree = new SnapshotMerkleTree(arena, top, size);
    return arena.count > COMPACT_FACTOR * 2 * size + 1024 ? tree.compacted() : tree;
  }

  /** The same tree in an arena of its own, holding only its nodes (earlier versions keep theirs). */
  private compacted(): SnapshotMerkleTree {
    const from = this.arena;
    const to = new Arena(Math.max(16, 2 * this.size));
    const copy = (n: number): number => {
      if (from.isLeaf(n)) return to.leaf(from.texts[n]!);
      const left = copy(from.left[n]!);
      const right = copy(from.right[n]!);
      const m = to.branch(from.bit[n]!, left, right);
      to.hashes.set(from.hash(n), m * HASH_BYTES);
      return m;
    };
    return new SnapshotMerkleTree(to, copy(this.top), this.size);
  }

  /** The entry text the tree holds for file `name` (`ROLE.json`), or null. */
  entry(name: string): string | null {
    return this.walk(name, null);
  }

  /** The proof of file `name` (`ROLE.json`), or null when the tree holds no such role. */
  proof(name: string): TreeProof | null {
    const path: { hash: Buffer; side: 'L' | 'R' }[] = [];
    const entryText = this.walk(name, path);
    return entryText === null ? null : { entryText, siblings: path.reverse() };
  }

  private walk(name: string, path: { hash: Buffer; side: 'L' | 'R' }[] | null): string | null {
    const arena = this.arena;
    const key = keyOf(name);
    let n = this.top;
    while (!arena.isLeaf(n)) {
      const right = bitAt(key, arena.bit[n]!) === 1;
      const sibling = right ? arena.left[n]! : arena.right[n]!;
      path?.push({ hash: Buffer.from(arena.hash(sibling)), side: right ? 'L' : 'R' });
      n = right ? arena.right[n]! : arena.left[n]!;
    }
    const text = arena.texts[n]!;
    return entryName(text) === name ? text : null;
  }

  /** Every entry text the tree holds, in key order (for checks and rebuilding). */
  *entries(): Generator<string> {
    const arena = this.arena;
    const stack = [this.top];
    while (stack.length > 0) {
      const n = stack.pop()!;
      if (arena.isLeaf(n)) yield arena.texts[n]!;
      else stack.push(arena.right[n]!, arena.left[n]!);
    }
  }
}
