// A whole TAP 16 tree built on a worker thread (server/treeBuilder.ts) is the tree built in place:
// same root, same proofs, and it keeps taking changes.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SnapshotMerkleTree, verifySnapshotProof, proofDocument } from '../core/snapshotMerkle.ts';
import { metaEntryText } from '../core/snapshotText.ts';
import { workerTreeBuilder } from '../server/treeBuilder.ts';

test('a tree built on a worker equals the one built in place, and takes changes like it', async () => {
  const texts = Array.from({ length: 3000 }, (_, i) => metaEntryText(`project-${i}.json`, { version: 1 + (i % 9) }));
  const inPlace = SnapshotMerkleTree.build(texts);
  const fromWorker = await workerTreeBuilder(0).build(texts);
  assert.equal(fromWorker.root.toString('hex'), inPlace.root.toString('hex'));
  assert.equal(fromWorker.size, 3000);
  for (const i of [0, 1, 1499, 2999]) {
    const proof = fromWorker.proof(`project-${i}.json`)!;
    assert.deepEqual(proof, inPlace.proof(`project-${i}.json`));
    assert.equal(verifySnapshotProof(proofDocument(proof), `project-${i}`, inPlace.root.toString('hex')).version, 1 + (i % 9));
  }
  const change = [metaEntryText('project-7.json', { version: 50 }), metaEntryText('new-one.json', { version: 1 })];
  assert.equal(fromWorker.with(change).root.toString('hex'), inPlace.with(change).root.toString('hex'));
  assert.equal(fromWorker.root.toString('hex'), inPlace.root.toString('hex'), 'unchanged by the change');
});
