// TAP 16 snapshot Merkle trees (core/snapshotMerkle.ts): every role's proof leads to the root and
// gives back its snapshot entry; updating leaves equals building again; and what a hostile mirror
// could send instead (a wrong sibling, another role's proof, a proof from an older tree, a cut
// proof, a role the tree does not hold, a malformed document) is refused with its code, beside a
// control that passes.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import type { JsonObject } from '../../core/canonical.ts';
import type { SnapshotMetaEntry } from '../../core/metadata.ts';
import { leafHash, leafHashOfEntryText, proofDocument, SnapshotMerkleTree, verifySnapshotProof } from '../../core/snapshotMerkle.ts';
import { metaEntryText } from '../../core/snapshotText.ts';
import { isTrustError, type TrustErrorCode } from '../../core/trustedModel.ts';

/** A snapshot's entries, sorted by name as snapshot.json lists them, and the tree over them. */
function snapshotTree(entries: [string, SnapshotMetaEntry][]) {
  const sorted = [...entries].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  const leaves = sorted.map(([name, entry]) => leafHashOfEntryText(metaEntryText(`${name}.json`, entry)));
  const tree = SnapshotMerkleTree.build(leaves);
  const proof = (role: string) => {
    const i = sorted.findIndex(([name]) => name === role);
    return proofDocument({ [`${role}.json`]: sorted[i]![1] as unknown as JsonObject }, tree.proof(i));
  };
  return { sorted, tree, root: tree.root.toString('hex'), proof };
}

const roleNames = fc.uniqueArray(fc.stringMatching(/^[a-z][a-z0-9-]{0,8}$/), { minLength: 1, maxLength: 70 });
const entryOf = (i: number): SnapshotMetaEntry => ({ version: 1 + (i % 5) });

test('every role of any size of tree: its proof leads to the root and gives back its entry, in at most ceil(log2 n) steps', () => {
  fc.assert(
    fc.property(roleNames, (names) => {
      const { sorted, root, proof } = snapshotTree(names.map((n, i) => [n, entryOf(i)]));
      for (const [name, entry] of sorted) {
        const doc = proof(name);
        assert.equal(verifySnapshotProof(JSON.parse(JSON.stringify(doc)), name, root).version, entry.version);
        assert.ok(Object.keys(doc.merkle_path as JsonObject).length <= Math.ceil(Math.log2(sorted.length)));
      }
    }),
    { numRuns: 150, seed: 16 },
  );
});

test('changing leaves in place equals building the tree again', () => {
  fc.assert(
    fc.property(roleNames, fc.array(fc.tuple(fc.nat(), fc.integer({ min: 1, max: 99 })), { maxLength: 8 }), (names, changes) => {
      const entries: [string, SnapshotMetaEntry][] = names.map((n, i) => [n, entryOf(i)]);
      const before = snapshotTree(entries);
      const updates = new Map<number, Buffer>();
      const after = before.sorted.map(([n, e]) => [n, { ...e }] as [string, SnapshotMetaEntry]);
      for (const [i, version] of changes) {
        const k = i % after.length;
        after[k]![1] = { version };
        updates.set(k, leafHashOfEntryText(metaEntryText(`${after[k]![0]}.json`, { version })));
      }
      const updated = before.tree.withLeaves(updates);
      const rebuilt = snapshotTree(after);
      assert.ok(updated.root.equals(rebuilt.tree.root));
      for (let i = 0; i < after.length; i++) assert.deepEqual(updated.proof(i), rebuilt.tree.proof(i));
      if (updates.size === 0) assert.ok(updated.root.equals(before.tree.root));
    }),
    { numRuns: 150, seed: 61 },
  );
});

test('the leaf built from the snapshot text is the leaf a client computes from the proof', () => {
  const entry: SnapshotMetaEntry = { version: 3, length: 120, hashes: { sha256: 'ab'.repeat(32) } };
  assert.ok(leafHashOfEntryText(metaEntryText('targets.json', entry)).equals(leafHash({ 'targets.json': entry as unknown as JsonObject })));
});

test('what a hostile mirror sends instead of the proof is refused with its code; the real one passes', () => {
  const names = ['alpha', 'beta', 'bin-0', 'delta', 'gamma', 'lib', 'targets'];
  const tree = snapshotTree(names.map((n, i) => [n, entryOf(i)]));
  const good = () => structuredClone(tree.proof('lib'));
  const refused = (doc: unknown, code: TrustErrorCode, role = 'lib', root = tree.root) =>
    assert.throws(
      () => verifySnapshotProof(doc, role, root),
      (e) => isTrustError(e, code),
      code,
    );
  assert.equal(verifySnapshotProof(good(), 'lib', tree.root).version, entryOf(names.indexOf('lib')).version); // control

  const wrongSibling = good();
  const path = wrongSibling.merkle_path as Record<string, string>;
  path['1'] = `${path['1']!.slice(0, 63)}${path['1']!.endsWith('0') ? '1' : '0'}`;
  refused(wrongSibling, 'merkle_root_mismatch');

  const flipped = good();
  const dirs = flipped.path_directions as Record<string, string>;
  dirs['0'] = dirs['0'] === 'L' ? 'R' : 'L';
  refused(flipped, 'merkle_root_mismatch');

  refused(tree.proof('beta'), 'merkle_proof_wrong_role'); // another role's valid proof

  // A proof from an older tree: valid then, but lib's version has moved on since.
  const newer = snapshotTree(names.map((n, i) => [n, n === 'lib' ? { version: 9 } : entryOf(i)]));
  refused(good(), 'merkle_root_mismatch', 'lib', newer.root);
  assert.equal(verifySnapshotProof(newer.proof('lib'), 'lib', newer.root).version, 9);

  const truncated = good();
  const steps = Object.keys(truncated.merkle_path as JsonObject).length;
  delete (truncated.merkle_path as JsonObject)[String(steps - 1)];
  delete (truncated.path_directions as JsonObject)[String(steps - 1)];
  refused(truncated, 'merkle_root_mismatch');

  // A role the tree does not hold: its leaf with lib's path leads elsewhere.
  const absent = { ...good(), leaf_contents: { 'epsilon.json': { version: 1 } } };
  refused(absent, 'merkle_root_mismatch', 'epsilon');
  // ... and a raised version of a role it holds, likewise (rollback protection starts here).
  refused({ ...good(), leaf_contents: { 'lib.json': { version: 99 } } }, 'merkle_root_mismatch');

  refused({ ...good(), leaf_contents: { 'lib.json': { version: 1 }, 'alpha.json': { version: 1 } } }, 'merkle_proof_wrong_role');
  refused({ ...good(), extra: 1 }, 'merkle_proof_malformed');
  refused({ ...good(), leaf_contents: { 'lib.json': { version: 0 } } }, 'malformed');
  refused({ ...good(), merkle_path: { ...(good().merkle_path as JsonObject), '0': 'XY' } }, 'merkle_proof_malformed');
  refused({ ...good(), path_directions: { ...(good().path_directions as JsonObject), '0': 'left' } }, 'merkle_proof_malformed');
  refused({ ...good(), path_directions: {} }, 'merkle_proof_malformed');
  const long = Object.fromEntries(Array.from({ length: 65 }, (_, i) => [String(i), '00'.repeat(32)]));
  refused(
    { ...good(), merkle_path: long, path_directions: Object.fromEntries(Object.keys(long).map((k) => [k, 'L'])) },
    'merkle_proof_malformed',
  );
  refused('not a proof', 'merkle_proof_malformed');
  assert.equal(verifySnapshotProof(good(), 'lib', tree.root).version, entryOf(names.indexOf('lib')).version); // control, again
});

test('a tree of one role: the proof is its leaf alone', () => {
  const one = snapshotTree([['targets', { version: 4 }]]);
  const doc = one.proof('targets');
  assert.deepEqual(doc.merkle_path, {});
  assert.equal(verifySnapshotProof(doc, 'targets', one.root).version, 4);
});

test('a tree over several pages of nodes: updates across pages equal building again, proofs verify', () => {
  const entries: [string, SnapshotMetaEntry][] = Array.from({ length: 5000 }, (_, i) => [`p${String(i).padStart(5, '0')}`, entryOf(i)]);
  const before = snapshotTree(entries);
  const picks = [0, 2047, 2048, 4095, 4096, 4999];
  const after = before.sorted.map(([n, e], i) => [n, picks.includes(i) ? { version: 50 } : e] as [string, SnapshotMetaEntry]);
  const updated = before.tree.withLeaves(
    new Map(picks.map((i) => [i, leafHashOfEntryText(metaEntryText(`${after[i]![0]}.json`, { version: 50 }))])),
  );
  const rebuilt = snapshotTree(after);
  assert.ok(updated.root.equals(rebuilt.tree.root));
  assert.ok(!updated.root.equals(before.tree.root));
  assert.ok(before.tree.root.equals(snapshotTree(entries).tree.root), 'the tree updated from is unchanged');
  for (const i of [...picks, 1, 3000]) {
    const [name, entry] = after[i]!;
    assert.equal(verifySnapshotProof(rebuilt.proof(name), name, updated.root.toString('hex')).version, entry.version);
  }
});
