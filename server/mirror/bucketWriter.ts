// Writes the repository's files into the published bucket. Versioned names (N.ROLE.json and target
// files, whose names carry their SHA-256) are written once: the store is asked to refuse an
// overwrite (If-None-Match: *), and an object found there already is accepted only if it holds
// the same bytes (its x-amz-meta-sha256), which is what a copy resumed after a crash finds. Their
// cache headers say immutable. timestamp.json is the one name that changes: short max-age.
import type { BlobStore } from '../blobs/blobStore.ts';
import type { ObjectBucket } from '../objectStore/bucket.ts';
import { sha256Hex } from '../../core/canonical.ts';
import { targetName } from './order.ts';

export const IMMUTABLE = 'public, max-age=31536000, immutable';

/** CopyObject copies up to 5 GiB in one request; larger files go through this process. */
const MAX_COPY_BYTES = 5 * 1024 ** 3;

export class MirrorConflictError extends Error {
  override readonly name = 'MirrorConflictError';
  readonly code = 'mirror_conflict' as const;
}

export class BucketWriter {
  /** Objects written by this writer (not those found in place). */
  written = 0;

  constructor(
    private readonly bucket: ObjectBucket,
    private readonly blobs: BlobStore,
    private readonly timestampMaxAgeSeconds: number,
    private readonly concurrency: number,
  ) {}

  get url(): string {
    return this.bucket.url;
  }

  /** A versioned metadata file (`metadata/N.ROLE.json`), written once. */
  async metadata(name: string, bytes: Buffer): Promise<void> {
    const sha256 = sha256Hex(bytes);
    const outcome = await this.bucket.put(name, bytes, {
      contentType: 'application/json',
      cacheControl: IMMUTABLE,
      ifNoneMatch: true,
      metadata: { sha256 },
    });
    if (outcome === 'written') this.written += 1;
    else await this.sameBytes(name, sha256);
  }

  /** timestamp.json: replaced at each publication, cached briefly. */
  async timestamp(bytes: Buffer, version: number, signal?: AbortSignal): Promise<void> {
    await this.bucket.put('metadata/timestamp.json', bytes, {
      contentType: 'application/json',
      cacheControl: `public, max-age=${this.timestampMaxAgeSeconds}`,
      metadata: { sha256: sha256Hex(bytes), version: String(version) },
      ...(signal ? { signal } : {}),
    });
    this.written += 1;
  }

  /** A target file (`targets/DIR/SHA256.NAME`), from wherever the repository holds it; written once. */
  async target(path: string, sha256: string): Promise<void> {
    const name = targetName(path, sha256);
    const there = await this.bucket.head(name);
    if (there) {
      if (there.metadata.sha256 !== sha256) throw this.conflict(name);
      return;
    }
    const content = await this.blobs.open(sha256);
    if (!content) throw new Error(`target ${path}: the repository holds no file with sha256 ${sha256}`);
    const headers = { contentType: 'application/octet-stream', cacheControl: IMMUTABLE, metadata: { sha256 } };
    if (content.object && content.length <= MAX_COPY_BYTES) {
      // Inside the store: no byte passes through this process.
      await this.bucket.copyFrom(content.object.bucket, content.object.key, name, headers);
      this.written += 1;
      return;
    }
    const outcome = await this.bucket.put(name, content.stream(), { ...headers, length: content.length, ifNoneMatch: true });
    if (outcome === 'written') this.written += 1;
    else await this.sameBytes(name, sha256);
  }

  /** Runs `work` over `items`, `concurrency` at a time; the first failure stops the rest and is thrown. */
  async each<T>(items: readonly T[], work: (item: T) => Promise<void>): Promise<void> {
    let next = 0;
    let failure: unknown = null;
    const worker = async () => {
      while (failure === null && next < items.length) {
        const item = items[next++]!;
        try {
          await work(item);
        } catch (err) {
          failure ??= err;
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(this.concurrency, items.length) }, worker));
    if (failure !== null) throw failure;
  }

  private async sameBytes(name: string, sha256: string): Promise<void> {
    const there = await this.bucket.head(name);
    if (!there || there.metadata.sha256 !== sha256) throw this.conflict(name);
  }

  private conflict(name: string): MirrorConflictError {
    return new MirrorConflictError(
      `${this.bucket.key(name)} in ${this.bucket.bucket} holds other bytes than the repository's file of that name (not written by this server?): remove it, and the copy goes on`,
    );
  }
}
