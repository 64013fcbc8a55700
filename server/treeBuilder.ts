// Building a whole TAP 16 snapshot Merkle tree off the event loop. After a start, a process has no
// tree to update and must build one over every role: 2 to 10 s of hashing at a million roles,
// during which a build on the main thread would hold up every read. Small trees are built in
// place (a worker costs more to start than they take).
import { Worker } from 'node:worker_threads';
import { SnapshotMerkleTree, type TreeArrays } from '../core/snapshotMerkleTree.ts';

export interface TreeBuilder {
  build(entryTexts: readonly string[]): Promise<SnapshotMerkleTree>;
}

/** Entries below this are hashed on the calling thread (about 20 ms at 10,000). */
const IN_PLACE_BELOW = 20_000;

export function workerTreeBuilder(inPlaceBelow = IN_PLACE_BELOW): TreeBuilder {
  return {
    async build(entryTexts) {
      if (entryTexts.length < inPlaceBelow) return SnapshotMerkleTree.build(entryTexts);
      const worker = new Worker(new URL('./treeWorker.mjs', import.meta.url), { workerData: entryTexts });
      try {
        const arrays = await new Promise<TreeArrays>((resolve, reject) => {
          worker.once('message', resolve);
          worker.once('error', reject);
          worker.once('exit', (code) => reject(new Error(`the tree worker exited (${code}) without a tree`)));
        });
        return SnapshotMerkleTree.fromArrays(arrays, entryTexts);
      } finally {
        void worker.terminate();
      }
    },
  };
}

/** Builds on the calling thread: tests, tools and small repositories. */
export const inPlaceTreeBuilder: TreeBuilder = { build: async (entryTexts) => SnapshotMerkleTree.build(entryTexts) };
