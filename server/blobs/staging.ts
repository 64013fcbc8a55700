// A file on its way in is written to a staging file on local disk (UPLOAD_STAGING_DIR) while its
// SHA-256 and SHA-512 are computed, and reading stops at its declared length. Only once length and
// hashes match is it handed to a store. Why: no database connection or object-store upload is held
// open while a client sends (a slow sender cannot exhaust the pool), nothing reaches a store before
// the hashes check out (no half-written rows or objects after a refused or broken upload or a
// SIGKILL), and the store is written at disk speed, not at the client's.
import { createHash, randomUUID } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { TufError } from '../../core/errors.ts';
import { ensurePrivateDirAsync } from '../../platform/privateDir.ts';

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

export interface StagedFile {
  /** The staging file; removed by `stage`'s caller through `discard`. */
  file: string;
  sha256: string;
  sha512: string;
  length: number;
}

/**
 * Receives `source` into a new staging file in `dir`, checking it as it comes. `source` is read but
 * never destroyed: on a refusal the caller can still answer on its connection. Throws
 * `target_hash_mismatch` (length or hash), `target_too_large`, or the signal's reason; the staging
 * file is then already removed.
 */
export async function stage(dir: string, source: Readable, expect: ExpectedFile): Promise<StagedFile> {
  await ensurePrivateDirAsync(dir);
  const file = path.join(dir, `${process.pid}-${randomUUID()}.part`);
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
    const staged = { file, sha256: sha256.digest('hex'), sha512: sha512.digest('hex'), length };
    if (expect.sha256 !== undefined && staged.sha256 !== expect.sha256)
      throw new TufError('target_hash_mismatch', `${expect.what}: sha256 differs from its metadata`);
    if (expect.sha512 !== undefined && staged.sha512 !== expect.sha512)
      throw new TufError('target_hash_mismatch', `${expect.what}: sha512 differs from its metadata`);
    return staged;
  } catch (err) {
    await discard(file);
    throw err;
  } finally {
    source.unpipe(meter);
    source.off('error', stop);
    source.off('close', onClose);
    expect.signal?.removeEventListener('abort', onAbort);
  }
}

export async function discard(file: string): Promise<void> {
  await fs.promises.rm(file, { force: true });
}

/** Removes staging files no request can still be writing (older than `olderThanMs`): leftovers of a killed process. */
export async function sweepStaging(dir: string, olderThanMs: number): Promise<number> {
  let names: string[];
  try {
    names = await fs.promises.readdir(dir);
  } catch {
    return 0;
  }
  let removed = 0;
  for (const name of names.filter((n) => n.endsWith('.part'))) {
    const full = path.join(dir, name);
    const stat = await fs.promises.stat(full).catch(() => null);
    if (stat && Date.now() - stat.mtimeMs > olderThanMs) {
      await fs.promises.rm(full, { force: true });
      removed += 1;
    }
  }
  return removed;
}
