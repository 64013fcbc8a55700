// Files kept in S3-compatible object storage (BLOB_STORE_URL=s3://BUCKET[/PREFIX]).
//
// Each file is one object under a key used once, PREFIX/SHA256-NONCE, never overwritten and never
// reused: a file removed by garbage collection and uploaded again gets a new object, so deleting
// the old one can never remove the new one's bytes. The order makes every crash leave nothing
// behind that is not collected:
// 1. the object's location is recorded in object_cleanup (to be deleted once past a grace
//    period, unless claimed);
// 2. the object is written (multipart for large files, from the staging file, memory flat);
// 3. one transaction inserts the target_blobs row naming it and claims it (removes its cleanup
//    row). If the file was held meanwhile (another upload of the same bytes), the row is not
//    replaced and the new object is left to garbage collection. If garbage collection has begun
//    deleting the object (an upload slower than the grace period), the claim fails and so does
//    the upload: a row never names a deleted object.
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import type { Readable } from 'node:stream';
import type { Knex } from 'knex';
import { claimObject, insertObjectBlobRow, queueObjectCleanup, touchBlob } from '../db/blobRepo.ts';
import type { ObjectBucket } from '../objectStore/bucket.ts';
import { objectUrl } from '../objectStore/s3Url.ts';
import type { BlobBackend } from './blobStore.ts';
import type { StagedFile } from './staging.ts';

/** Objects are written once: a download may be cached for good. */
export const BLOB_CACHE_CONTROL = 'public, max-age=31536000, immutable';

export interface ObjectBackendOptions {
  /** How long an upload may take before its object may be collected (at least a day). */
  uploadGraceSeconds: number;
}

export class ObjectBackend implements BlobBackend {
  readonly description: string;

  constructor(
    private readonly knex: Knex,
    private readonly bucket: ObjectBucket,
    private readonly opts: ObjectBackendOptions,
  ) {
    this.description = bucket.url;
  }

  storeFile(staged: StagedFile): Promise<boolean> {
    return this.store(staged.sha256, staged.length, () => fs.createReadStream(staged.file));
  }

  storeBytes(sha256: string, bytes: Buffer): Promise<boolean> {
    return this.store(sha256, bytes.length, () => bytes);
  }

  private async store(sha256: string, length: number, body: () => Buffer | Readable): Promise<boolean> {
    // Held already: its grace period moves on, as for a file in PostgreSQL; nothing is written.
    if (await touchBlob(this.knex, sha256)) return false;
    const location = await writeNewObject(this.knex, this.bucket, sha256, length, body(), this.opts.uploadGraceSeconds);
    return this.knex.transaction(async (trx) => {
      if (!(await insertObjectBlobRow(trx, sha256, length, location))) {
        // Someone stored these bytes meanwhile: theirs stays, ours goes.
        await queueObjectCleanup(trx, location, new Date(), 'failed');
        return false;
      }
      if (!(await claimObject(trx, location)))
        throw new Error(`file ${sha256}: its upload took longer than the grace period and its object is being removed; send it again`);
      return true;
    });
  }
}

/**
 * Writes the bytes as a new object of `bucket`, under a key never used before, recorded in
 * object_cleanup first; returns its location, which the caller claims in the transaction that
 * names it (also used by `tuf-server blobs migrate`).
 */
export async function writeNewObject(
  db: Knex,
  bucket: ObjectBucket,
  sha256: string,
  length: number,
  body: Buffer | Readable,
  graceSeconds: number,
): Promise<string> {
  const name = `${sha256}-${randomBytes(6).toString('hex')}`;
  const location = objectUrl(bucket.bucket, bucket.key(name));
  await queueObjectCleanup(db, location, new Date(Date.now() + graceSeconds * 1000), 'upload');
  try {
    await bucket.put(name, body, {
      length,
      contentType: 'application/octet-stream',
      cacheControl: BLOB_CACHE_CONTROL,
      metadata: { sha256 },
      // The key is new; this only guards against a store that would replace an object silently.
      ifNoneMatch: true,
    });
  } catch (err) {
    // Whatever was written goes with the next collection.
    await queueObjectCleanup(db, location, new Date(), 'failed').catch(() => {});
    throw err;
  }
  return location;
}
