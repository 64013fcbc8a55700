// Target files as clients download them: only a file some role lists, with that path and hash.
// Contents stream from the database (db/blobStore.ts), so a large file never sits in memory.
import type { Knex } from 'knex';
import type { BlobContent, BlobStore } from '../db/blobStore.ts';
import { findTargetRecord } from '../db/targetsRepo.ts';

export class TargetFiles {
  constructor(
    private readonly knex: Knex,
    private readonly blobs: BlobStore,
  ) {}

  /** The contents of `path` with this sha256, or null when no role lists such a target. */
  async get(path: string, sha256: string): Promise<BlobContent | null> {
    const record = await findTargetRecord(this.knex, path, sha256);
    return record ? this.blobs.open(sha256) : null;
  }
}
