// Files kept in PostgreSQL (the default, BLOB_STORE_URL unset or `postgres`): one transaction
// inserts the target_blobs row and the file in 1 MiB rows of target_blob_chunks (bytea stored
// out of line, not compressed again: releases are compressed already). One bytea value could not
// hold a large file anyway: PostgreSQL caps one at 1 GB, and the client library would need the
// whole value (twice, hex-encoded) in memory. Small files held in memory keep the one-row layout.
import fs from 'node:fs';
import type { Knex } from 'knex';
import { insertBlobChunk, insertChunkedBlobRow } from '../db/blobRepo.ts';
import { putBlob } from '../db/targetsRepo.ts';
import { BLOB_CHUNK_BYTES, type BlobBackend } from './blobStore.ts';
import type { StagedFile } from './staging.ts';

export class PostgresBackend implements BlobBackend {
  readonly description = 'PostgreSQL';
  readonly inDatabase = true;

  constructor(private readonly knex: Knex) {}

  /** One transaction: the file's row (or, when held already, its `touched_at` moved on) and its pieces. */
  storeFile(staged: StagedFile): Promise<boolean> {
    return this.knex.transaction(async (trx) => {
      if (!(await insertChunkedBlobRow(trx, staged.sha256, staged.length))) return false;
      await writeChunks(trx, staged.sha256, staged.file);
      return true;
    });
  }

  storeBytes(sha256: string, bytes: Buffer): Promise<boolean> {
    return putBlob(this.knex, sha256, bytes);
  }
}

/** The file's pieces, read back from a staging file, in the caller's transaction. */
export async function writeChunks(trx: Knex.Transaction, sha256: string, file: string): Promise<void> {
  let seq = 0;
  for await (const chunk of fs.createReadStream(file, { highWaterMark: BLOB_CHUNK_BYTES })) {
    await insertBlobChunk(trx, sha256, seq++, chunk as Buffer);
  }
}
