// TAP 16 snapshot Merkle metadata: the proof document the server serves for one role, and the
// client's check of a proof against the root a trusted timestamp carries (`merkle_root`). TAP 16
// leaves the tree's algorithm to the implementer ("documented in a POUF"); this repository's is in
// core/snapshotMerkleTree.ts. The check does not depend on the tree's shape: it folds the leaf with
// each listed sibling, on the side listed, up to a root.
// A proof is TAP 16's document: `leaf_contents` {"NAME.json": ENTRY} (the entry exactly as
// snapshot.json holds it), `merkle_path` {"0": hex, ...} (siblings from the leaf up) and
// `path_directions` {"0": "L" | "R", ...} (the side the sibling is on). Pure: no I/O.
import { canonicalBytes, isPlainObject, type JsonObject } from './canonical.ts';
import { nodeHash, sha256, type TreeProof } from './snapshotMerkleTree.ts';
import { parseMetaInfo } from './trustedParse.ts';
import { TrustError, type MetaInfo } from './trustedModel.ts';

export { leafHashOfEntryText, SnapshotMerkleTree, type TreeProof } from './snapshotMerkleTree.ts';

const LEAF = Buffer.from([0]);
/** A tree over 256-bit keys has at most 256 branches on a path: no honest proof is longer. */
const MAX_PROOF_STEPS = 256;

export function leafHash(leafContents: JsonObject): Buffer {
  return sha256(LEAF, canonicalBytes(leafContents));
}

/** TAP 16's snapshot Merkle metadata for one role. */
export function proofDocument(proof: TreeProof): JsonObject {
  const leafContents = JSON.parse(`{${proof.entryText}}`) as JsonObject;
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
