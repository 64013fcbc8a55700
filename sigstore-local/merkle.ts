// The Merkle tree of RFC 6962 (section 2.1), as Rekor builds it over its entries: a leaf is
// SHA-256(0x00 || entry body), an inner node SHA-256(0x01 || left || right), and a tree of n leaves
// splits at the largest power of two below n. Inclusion proofs list siblings from the leaf upward.
import { createHash } from 'node:crypto';

export function leafHash(body: Uint8Array): Buffer {
  return createHash('sha256')
    .update(Buffer.from([0]))
    .update(body)
    .digest();
}

function nodeHash(left: Buffer, right: Buffer): Buffer {
  return createHash('sha256')
    .update(Buffer.from([1]))
    .update(left)
    .update(right)
    .digest();
}

/** The largest power of two strictly below n (n > 1). */
function split(n: number): number {
  let k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}

/** Root of leaves[from, to); the empty tree's root is SHA-256 of nothing. */
export function rootOf(leaves: readonly Buffer[], from = 0, to = leaves.length): Buffer {
  const n = to - from;
  if (n === 0) return createHash('sha256').digest();
  if (n === 1) return leaves[from]!;
  const k = split(n);
  return nodeHash(rootOf(leaves, from, from + k), rootOf(leaves, from + k, to));
}

/** The audit path of leaf `index` in the tree of the first `size` leaves (RFC 6962 PATH). */
export function inclusionPath(leaves: readonly Buffer[], index: number, size: number, from = 0): Buffer[] {
  if (index < 0 || index >= size) throw new RangeError(`leaf ${index} is not in a tree of ${size}`);
  if (size === 1) return [];
  const k = split(size);
  if (index < k) return [...inclusionPath(leaves, index, k, from), rootOf(leaves, from + k, from + size)];
  return [...inclusionPath(leaves, index - k, size - k, from + k), rootOf(leaves, from, from + k)];
}

/** Recomputes the root from a leaf and its path (what a verifier does; used by tests). */
export function rootFromPath(leaf: Buffer, index: number, size: number, path: readonly Buffer[]): Buffer {
  // RFC 9162 section 2.1.3.2.
  let fn = index;
  let sn = size - 1;
  let r = leaf;
  for (const p of path) {
    if (sn === 0) throw new Error('proof too long');
    if (fn % 2 === 1 || fn === sn) {
      r = nodeHash(p, r);
      while (fn % 2 === 0 && fn !== 0) {
        fn >>= 1;
        sn >>= 1;
      }
    } else {
      r = nodeHash(r, p);
    }
    fn >>= 1;
    sn >>= 1;
  }
  if (sn !== 0) throw new Error('proof too short');
  return r;
}
