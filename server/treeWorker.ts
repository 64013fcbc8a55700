// Worker thread: builds one TAP 16 snapshot Merkle tree (server/treeBuilder.ts) and hands its
// arrays back, moved rather than copied.
import { parentPort, workerData } from 'node:worker_threads';
import { SnapshotMerkleTree } from '../core/snapshotMerkleTree.ts';

const arrays = SnapshotMerkleTree.buildArrays(workerData as string[]);
parentPort!.postMessage(arrays, [
  arrays.hashes.buffer,
  arrays.left.buffer,
  arrays.right.buffer,
  arrays.bit.buffer,
  arrays.leafEntry.buffer,
] as ArrayBuffer[]);
