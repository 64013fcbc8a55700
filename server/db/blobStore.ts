// Target file contents in PostgreSQL, streamed in and out with flat memory.
//
// In: a file is received into a staging file on local disk (UPLOAD_STAGING_DIR) while its SHA-256
// and SHA-512 are computed, and reading stops at its declared length. Only once length and hashes
// match does one transaction store it: a target_blobs row and the file in 1 MiB rows of
// target_blob_chunks (bytea, stored out of line and not compressed again). Why a staging file and
// not rows written as bytes arrive: no database connection is held while a client sends (a slow
// sender cannot exhaust the pool), nothing reaches the database before the hashes check out (no
// half-written rows to clean up after a refused or broken upload or a SIGKILL, and garbage
// collection never sees them), and the transaction that stores a file runs at disk speed.
// A single bytea value cannot hold a large file anyway: PostgreSQL caps one at 1 GB, and the client
// would need the whole value (twice, hex-encoded) in memory.
//
// Out: files stored whole (small ones, and every file stored before streaming existed) are read in
// one query; files in pieces one piece per query, each query on its own pooled connection, so a
// slow download holds no connection either.
import { createHash, randomUUID } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Knex } from 'knex';
import { TufError } from '../../core/errors.ts';
import type { Db } from './knex.ts';
import { ensurePrivateDirAsync } from '../../platform/privateDir.ts';

/** Bytes per row of target_blob_chunks. */
export const BLOB_CHUNK_BYTES = 1024 * 1024;

export interface ExpectedFile {
  /** The declared length: reading stops there, and fewer bytes are refused. */
  length?: number;
  sha256?: string;
  sha512?: string;
  /** Without a declared length: refuse beyond this many bytes. */
  maxBytes: number;
  /** For messages: "file demo/demo-1.0.tgz". */
  what: string;
  /** Aborts the transfer (the HTTP layer's stall timeout); the reason is thrown. */
  signal?: AbortSignal;
}

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
}

export class BlobStore {
  constructor(
    private readonly knex: Knex,
    private readonly stagingDir: string,
  ) {}

  /**
   * Receives a file from `source` and stores it, once its length and hashes are as expected.
   * `source` is read but never destroyed: on a refusal the caller can still answer on its
   * connection. Throws `target_hash_mismatch` (length or hash), `target_too_large`, or the
   * signal's reason.
   */
  async receive(source: Readable, expect: ExpectedFile): Promise<StoredFile> {
    await ensurePrivateDirAsync(this.stagingDir);
    const file = path.join(this.stagingDir, `${process.pid}-${randomUUID()}.part`);
    const sha256 = createHash('sha256');
    const sha512 = createHash('sha512');
    const limit = expect.length ?? expect.maxBytes;
    let length = 0;
    const meter = new Transform({
      transform(chunk: Buffer, _encoding, callback) {
        length += chunk.length;
        if (length > limit) {
          callback(
            expect.length !== undefined
              ? new TufError('target_hash_mismatch', `${expect.what}: more bytes than the ${expect.length} its metadata lists`)
              : new TufError('target_too_large', `${expect.what}: larger than the limit of ${expect.maxBytes} bytes`),
          );
          return;
        }
        sha256.update(chunk);
        sha512.update(chunk);
        callback(null, chunk);
      },
    });
    const stop = (err: Error) => meter.destroy(err);
    const onClose = () => {
      if (!source.readableEnded) stop(new Error(`${expect.what}: the client closed the connection before the file was complete`));
    };
    const onAbort = () => stop(expect.signal!.reason instanceof Error ? expect.signal!.reason : new Error(String(expect.signal!.reason)));
    source.once('error', stop);
    source.once('close', onClose);
    expect.signal?.addEventListener('abort', onAbort, { once: true });
    try {
      if (expect.signal?.aborted) onAbort();
      source.pipe(meter);
      await pipeline(meter, fs.createWriteStream(file, { flags: 'wx', mode: 0o600 }));
      if (expect.length !== undefined && length !== expect.length) {
        throw new TufError('target_hash_mismatch', `${expect.what}: ${length} bytes, its metadata lists ${expect.length}`);
      }
      const stored = { sha256: sha256.digest('hex'), sha512: sha512.digest('hex'), length };
      if (expect.sha256 !== undefined && stored.sha256 !== expect.sha256)
        throw new TufError('target_hash_mismatch', `${expect.what}: sha256 differs from its metadata`);
      if (expect.sha512 !== undefined && stored.sha512 !== expect.sha512)
        throw new TufError('target_hash_mismatch', `${expect.what}: sha512 differs from its metadata`);
      return { ...stored, created: await this.storeStaged(stored.sha256, length, file) };
    } finally {
      source.unpipe(meter);
      source.off('error', stop);
      source.off('close', onClose);
      expect.signal?.removeEventListener('abort', onAbort);
      await fs.promises.rm(file, { force: true });
    }
  }

  /**
   * One transaction: the file's row (or, when held already, its `touched_at` moved on, as
   * targetsRepo's putBlob does) and its pieces read back from the staging file.
   */
  private async storeStaged(sha256: string, length: number, file: string): Promise<boolean> {
    return this.knex.transaction(async (trx) => {
      if (!(await insertChunkedBlobRow(trx, sha256, length))) return false;
      let seq = 0;
      for await (const chunk of fs.createReadStream(file, { highWaterMark: BLOB_CHUNK_BYTES })) {
        await insertBlobChunk(trx, sha256, seq++, chunk as Buffer);
      }
      return true;
    });
  }

  /** A held file, or null. */
  async open(sha256: string): Promise<BlobContent | null> {
    const row = await blobLayout(this.knex, sha256);
    if (!row) return null;
    const knex = this.knex;
    if (!row.chunked) {
      return {
        length: row.length,
        stream: () =>
          Readable.from(
            (async function* () {
              const content = await blobContent(knex, sha256);
              if (content) yield content;
            })(),
          ),
      };
    }
    return {
      length: row.length,
      stream: () =>
        Readable.from(
          (async function* () {
            for (let seq = 0; ; seq++) {
              const data = await blobChunk(knex, sha256, seq);
              if (!data) return;
              yield data;
            }
          })(),
        ),
    };
  }

  /** Removes staging files no request can still be writing (older than `olderThanMs`): leftovers of a killed process. */
  async sweepStaging(olderThanMs: number): Promise<number> {
    let names: string[];
    try {
      names = await fs.promises.readdir(this.stagingDir);
    } catch {
      return 0;
    }
    let removed = 0;
    for (const name of names.filter((n) => n.endsWith('.part'))) {
      const full = path.join(this.stagingDir, name);
      const stat = await fs.promises.stat(full).catch(() => null);
      if (stat && Date.now() - stat.mtimeMs > olderThanMs) {
        await fs.promises.rm(full, { force: true });
        removed += 1;
      }
    }
    return removed;
  }
}

/** True when the row was created (the caller then writes the pieces); false when the file was held already. */
async function insertChunkedBlobRow(db: Db, sha256: string, length: number): Promise<boolean> {
  const res = await db.raw(
    `insert into target_blobs (sha256, length, content) values (?, ?, null)
     on conflict (sha256) do update set touched_at = now()
     returning (xmax = 0) as inserted`,
    [sha256, String(length)],
  );
  return res.rows[0]?.inserted === true;
}

async function insertBlobChunk(db: Db, sha256: string, seq: number, data: Buffer): Promise<void> {
  await db('target_blob_chunks').insert({ sha256, seq, data });
}

async function blobLayout(db: Db, sha256: string): Promise<{ length: number; chunked: boolean } | null> {
  const res = await db.raw(`select length, content is null as chunked from target_blobs where sha256 = ?`, [sha256]);
  const row = res.rows[0] as { length: string; chunked: boolean } | undefined;
  return row ? { length: Number(row.length), chunked: row.chunked } : null;
}

async function blobContent(db: Db, sha256: string): Promise<Buffer | null> {
  const row = await db('target_blobs').where({ sha256 }).first('content');
  return (row?.content as Buffer | null | undefined) ?? null;
}

async function blobChunk(db: Db, sha256: string, seq: number): Promise<Buffer | null> {
  const row = await db('target_blob_chunks').where({ sha256, seq }).first('data');
  return (row?.data as Buffer | undefined) ?? null;
}
