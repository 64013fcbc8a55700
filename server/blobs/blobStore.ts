// Target file contents: the seam between the repository and where files are kept.
//
// Every held file has a target_blobs row (sha256, length, touched_at), whatever holds its bytes:
// PostgreSQL (the row's content, or 1 MiB rows of target_blob_chunks) or an object in
// S3-compatible storage (the row's location, s3://BUCKET/KEY). The row stays the one index of
// held files: listing checks, garbage collection and the history check read it and never the
// store. New files go to the store BLOB_STORE_URL names (a backend); reads follow each row, so a
// repository can hold files in both while `tuf-server blobs migrate` moves them.
//
// In: received into a staging file while hashed (staging.ts), then handed to the backend.
// Out: from PostgreSQL one piece per query (no connection held between pieces); from object
// storage as the store streams it, or by redirect to the object (serving/targetFiles.ts).
import type { Readable } from 'node:stream';
import { Readable as ReadableStream } from 'node:stream';
import type { Knex } from 'knex';
import { sha256Hex } from '../../core/canonical.ts';
import { blobChunk, blobContent, blobLayout } from '../db/blobRepo.ts';
import type { ObjectStorage } from '../objectStore/objectStorage.ts';
import { discard, stage, sweepStaging, type ExpectedFile, type StagedFile } from './staging.ts';

export type { ExpectedFile } from './staging.ts';

/** Bytes per row of target_blob_chunks. */
export const BLOB_CHUNK_BYTES = 1024 * 1024;

export interface StoredFile {
  sha256: string;
  sha512: string;
  length: number;
  /** False when these bytes were held already. */
  created: boolean;
}

export interface BlobContent {
  length: number;
  stream(): Readable;
  /** Set when the bytes are an object in object storage: a download may be sent there. */
  object?: { bucket: string; key: string };
}

/** Where new files are stored: PostgreSQL or a bucket. */
export interface BlobBackend {
  /** For logs and reports: "PostgreSQL", "s3://bucket/prefix". */
  readonly description: string;
  /** True for PostgreSQL: a small file is one target_blobs row with its content. */
  readonly inDatabase?: boolean;
  /** Stores a staged, checked file; false when the file was held already (its grace period moves on). */
  storeFile(staged: StagedFile): Promise<boolean>;
  /** The same for a small file held in memory (inline uploads, the development ceremony). */
  storeBytes(sha256: string, bytes: Buffer): Promise<boolean>;
}

export class BlobStore {
  constructor(
    private readonly knex: Knex,
    private readonly stagingDir: string,
    private readonly backend: BlobBackend,
    private readonly objects: ObjectStorage,
  ) {}

  /** Where new files go. */
  get description(): string {
    return this.backend.description;
  }

  /** Whether new files go to PostgreSQL's target_blobs (a one-statement upload may then insert small ones itself). */
  get storesInDatabase(): boolean {
    return this.backend.inDatabase === true;
  }

  /**
   * Receives a file from `source` and stores it, once its length and hashes are as expected.
   * Throws `target_hash_mismatch` (length or hash), `target_too_large`, or the signal's reason.
   */
  async receive(source: Readable, expect: ExpectedFile): Promise<StoredFile> {
    const staged = await stage(this.stagingDir, source, expect);
    try {
      return { sha256: staged.sha256, sha512: staged.sha512, length: staged.length, created: await this.backend.storeFile(staged) };
    } finally {
      await discard(staged.file);
    }
  }

  /** Stores a file held in memory, by its SHA-256 (once). */
  async put(bytes: Buffer): Promise<{ sha256: string; length: number; created: boolean }> {
    const sha256 = sha256Hex(bytes);
    return { sha256, length: bytes.length, created: await this.backend.storeBytes(sha256, bytes) };
  }

  /** A held file, or null. */
  async open(sha256: string): Promise<BlobContent | null> {
    const row = await blobLayout(this.knex, sha256);
    if (!row) return null;
    if (row.location !== null) {
      const { bucket, key } = this.objects.object(row.location);
      return {
        length: row.length,
        object: { bucket: bucket.bucket, key },
        stream: () =>
          ReadableStream.from(
            (async function* () {
              const got = await bucket.get(key);
              if (!got) throw new Error(`file ${sha256}: its object ${row.location} is missing from object storage`);
              yield* got.body;
            })(),
          ),
      };
    }
    const knex = this.knex;
    const objects = this.objects;
    // The file may move to object storage while it is read (tuf-server blobs migrate removes its
    // pieces from PostgreSQL in the transaction that moves it): the rest then comes from there.
    const moved = async function* (offset: number): AsyncGenerator<Buffer> {
      const now = await blobLayout(knex, sha256);
      if (!now?.location) throw new Error(`file ${sha256}: removed while it was being read`);
      const { bucket, key } = objects.object(now.location);
      const got = await bucket.get(key, { offset });
      if (!got) throw new Error(`file ${sha256}: its object ${now.location} is missing from object storage`);
      yield* got.body;
    };
    if (!row.chunked) {
      return {
        length: row.length,
        stream: () =>
          ReadableStream.from(
            (async function* () {
              const content = await blobContent(knex, sha256);
              if (content) yield content;
              else yield* moved(0);
            })(),
          ),
      };
    }
    return {
      length: row.length,
      stream: () =>
        ReadableStream.from(
          (async function* () {
            let offset = 0;
            for (let seq = 0; offset < row.length; seq++) {
              const data = await blobChunk(knex, sha256, seq);
              if (!data) return yield* moved(offset);
              offset += data.length;
              yield data;
            }
          })(),
        ),
    };
  }

  /** Removes staging files no request can still be writing (older than `olderThanMs`): leftovers of a killed process. */
  sweepStaging(olderThanMs: number): Promise<number> {
    return sweepStaging(this.stagingDir, olderThanMs);
  }
}
