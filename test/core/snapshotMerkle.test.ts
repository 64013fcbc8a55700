// TAP 16 snapshot Merkle trees (core/snapshotMerkle.ts, core/snapshotMerkleTree.ts): every role's
// proof leads to the root and gives back its snapshot entry; putting entries into a tree equals
// building it again, whatever the order, and leaves the tree it started from as it was; and what a hostile mirror
// could send instead (a wrong sibling, another role's proof, a proof from an older tree, a cut
// proof, a role the tree does not hold, a malformed document) is refused with its code, beside a
// control that passes.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import type { JsonObject } from '../../core/canonical.ts';
import type { SnapshotMetaEntry } from '../../core/metadata.ts';
import { leafHash, leafHashOfEntryText, proofDocument, SnapshotMerkleTree, verifySnapshotProof } from '../../core/snapshotMerkle.ts';
import type { JsonObject as Json } from '../../core/canonical.ts';
import { metaEntryText } from '../../core/snapshotText.ts';
import { isTrustError, type TrustErrorCode } from '../../core/trustedModel.ts';

/** A snapshot's entries, sorted by name as snapshot.json lists them, and the tree over them. */
function snapshotTree(entries: [string, SnapshotMetaEntry][]) {
  const sorted = [...entries].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  const tree = SnapshotMerkleTree.build(sorted.map(([name, entry]) => metaEntryText(`${name}.json`, entry)));
  return { sorted, tree, root: tree.root.toString('hex'), proof: (role: string) => proofOf(tree, role) };
}

function proofOf(tree: SnapshotMerkleTree, role: string): Json {
  const proof = tree.proof(`${role}.json`);
  assert.ok(proof, `the tree holds ${role}`);
  return proofDocument(proof);
}

const roleNames = fc.uniqueArray(fc.stringMatching(/^[a-z][a-z0-9-]{0,8}$/), { minLength: 1, maxLength: 70 });
const entryOf = (i: number): SnapshotMetaEntry => ({ version: 1 + (i % 5) });

test('every role of any size of tree: its proof leads to the root and gives back its entry; no other name has a proof', () => {
  fc.assert(
    fc.property(roleNames, (names) => {
      const { sorted, tree, root, proof } = snapshotTree(names.map((n, i) => [n, entryOf(i)]));
      assert.equal(tree.size, sorted.length);
      for (const [name, entry] of sorted) {
        const doc = proof(name);
        assert.equal(verifySnapshotProof(JSON.parse(JSON.stringify(doc)), name, root).version, entry.version);
        assert.equal(tree.entry(`${name}.json`), metaEntryText(`${name}.json`, entry));
      }
      assert.equal(tree.proof('absent-role.json'), null);
      assert.equal(tree.proof('targets'), null);
    }),
    { numRuns: 150, seed: 16 },
  );
});

test('putting new versions and new roles into a tree equals building it again, in any order; the tree put into is unchanged', () => {
  const changeList = fc.array(fc.tuple(fc.nat(), fc.integer({ min: 1, max: 99 }), fc.boolean()), { maxLength: 12 });
  fc.assert(
    fc.property(roleNames, changeList, (names, changes) => {
      const entries = new Map<string, SnapshotMetaEntry>(names.map((n, i) => [n, entryOf(i)]));
      const before = snapshotTree([...entries]);
      const beforeRoot = before.root;
      const after = new Map(entries);
      const texts: string[] = [];
      for (const [i, version, added] of changes) {
        const name = added ? `new-${i % 50}` : names[i % names.length]!;
        after.set(name, { version });
        texts.push(metaEntryText(`${name}.json`, { version }));
      }
      const updated = before.tree.with(texts);
      const rebuilt = snapshotTree([...after]);
      assert.equal(updated.root.toString('hex'), rebuilt.root);
      assert.equal(updated.size, after.size);
      for (const [name] of after) assert.deepEqual(proofOf(updated, name), rebuilt.proof(name));
      assert.equal(before.tree.root.toString('hex'), beforeRoot, 'the tree put into is unchanged');
      for (const [name, entry] of entries) assert.equal(verifySnapshotProof(before.proof(name), name, beforeRoot).version, entry.version);
      // The shape depends on the set of names alone: building from any order gives the same root.
      assert.equal(
        SnapshotMerkleTree.build([...after].reverse().map(([n, e]) => metaEntryText(`${n}.json`, e))).root.toString('hex'),
        rebuilt.root,
      );
    }),
    { numRuns: 150, seed: 61 },
  );
});

test('a name listed twice is refused when building', () => {
  assert.throws(
    () => SnapshotMerkleTree.build([metaEntryText('a.json', { version: 1 }), metaEntryText('a.json', { version: 2 })]),
    /twice/,
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
  const long = Object.fromEntries(Array.from({ length: 257 }, (_, i) => [String(i), '00'.repeat(32)]));
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

test('a tree of many roles under a long series of changes: equal to building again, depth about log2 n, earlier versions servable', () => {
  const entries: [string, SnapshotMetaEntry][] = Array.from({ length: 20000 }, (_, i) => [`p${i}`, entryOf(i)]);
  const first = snapshotTree(entries);
  let tree = first.tree;
  const current = new Map(entries);
  const versions: { tree: SnapshotMerkleTree; root: string; picked: [string, SnapshotMetaEntry] }[] = [];
  // Enough rounds to make the arena compact itself at least once (four times the live nodes).
  for (let round = 0; round < 600; round++) {
    const texts: string[] = [];
    for (let j = 0; j < 40; j++) {
      const name = j === 0 ? `added-${round}` : `p${(round * 7919 + j * 104729) % 20000}`;
      const entry = { version: round + 2 };
      current.set(name, entry);
      texts.push(metaEntryText(`${name}.json`, entry));
    }
    tree = tree.with(texts);
    if (round % 150 === 0) versions.push({ tree, root: tree.root.toString('hex'), picked: [`added-${round}`, { version: round + 2 }] });
  }
  const rebuilt = snapshotTree([...current]);
  assert.equal(tree.root.toString('hex'), rebuilt.root);
  assert.equal(tree.size, current.size);
  const depth = Object.keys(proofOf(tree, 'p123').merkle_path as Json).length;
  assert.ok(depth <= 2 * Math.ceil(Math.log2(current.size)), `a path of ${depth} branches for ${current.size} roles`);
  for (const v of versions) {
    assert.equal(v.tree.root.toString('hex'), v.root, 'an earlier version is unchanged');
    const [name, entry] = v.picked;
    assert.equal(verifySnapshotProof(proofOf(v.tree, name), name, v.root).version, entry.version);
  }
  assert.equal(verifySnapshotProof(proofOf(first.tree, 'p5'), 'p5', first.root).version, entryOf(5).version);
});
