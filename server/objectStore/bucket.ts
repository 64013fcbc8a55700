// One bucket (and prefix) of S3-compatible object storage, with the few operations the repository
// needs: write (once, when asked), read as a stream, look at, delete, copy within the store, and a
// short-lived download URL. Only calls every S3-compatible store implements (PutObject,
// multipart uploads, GetObject, HeadObject, DeleteObject, CopyObject, presigned GET), and
// conditional writes (`If-None-Match: *`) that AWS S3 and current gateways honour.
import type { Readable } from 'node:stream';
import {
  CopyObjectCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  PutObjectCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { formatS3Url, keyOf, type S3Location } from './s3Url.ts';

export type ObjectStoreErrorCode = 'object_store_unavailable' | 'object_store_refused';

/** An object store that did not do what was asked. Never carries credentials (the SDK's errors do not either). */
export class ObjectStoreError extends Error {
  override readonly name = 'ObjectStoreError';
  constructor(
    readonly code: ObjectStoreErrorCode,
    message: string,
    /** The store's own error name (AccessDenied, NoSuchBucket, ...), or the network error's code. */
    readonly storeCode?: string,
  ) {
    super(message);
  }
}

export interface PutOptions {
  /** Known length: a stream of this length. */
  length?: number;
  contentType?: string;
  cacheControl?: string;
  /** Refuse to replace an existing object (If-None-Match: *): the answer is then 'exists'. */
  ifNoneMatch?: boolean;
  /** x-amz-meta-* headers (we keep the sha256 there). */
  metadata?: Record<string, string>;
  signal?: AbortSignal;
}

export interface ObjectInfo {
  length: number;
  metadata: Record<string, string>;
  cacheControl: string | undefined;
}

/** Parts of a multipart upload: large enough for few requests, small enough to keep memory flat (x queue). */
const PART_BYTES = 8 * 1024 * 1024;
const PART_QUEUE = 4;

function statusOf(err: unknown): number | undefined {
  return (err as { $metadata?: { httpStatusCode?: number } })?.$metadata?.httpStatusCode;
}

function nameOf(err: unknown): string {
  const e = err as { name?: unknown; code?: unknown; Code?: unknown };
  return String(e?.Code ?? e?.code ?? e?.name ?? 'Error');
}

function isMissing(err: unknown): boolean {
  const name = nameOf(err);
  return statusOf(err) === 404 || name === 'NoSuchKey' || name === 'NotFound';
}

function isPreconditionFailed(err: unknown): boolean {
  return statusOf(err) === 412 || nameOf(err) === 'PreconditionFailed';
}

export class ObjectBucket {
  readonly url: string;

  constructor(
    readonly client: S3Client,
    readonly location: S3Location,
  ) {
    this.url = formatS3Url(location);
  }

  get bucket(): string {
    return this.location.bucket;
  }

  /** The full key of `name` (under the prefix). */
  key(name: string): string {
    return keyOf(this.location, name);
  }

  /** An S3 failure as our error: unavailable (network, 5xx, throttling) or refused (4xx). */
  private wrap(err: unknown, what: string): ObjectStoreError {
    if (err instanceof ObjectStoreError) return err;
    const status = statusOf(err);
    const code = nameOf(err);
    const refused = status !== undefined && status >= 400 && status < 500 && status !== 429 && status !== 408;
    const message = err instanceof Error ? err.message : String(err);
    return new ObjectStoreError(
      refused ? 'object_store_refused' : 'object_store_unavailable',
      `${what} in ${this.url}: ${code}${status ? ` (HTTP ${status})` : ''}${message && message !== code ? `: ${message}` : ''}`,
      code,
    );
  }

  /**
   * Writes `name`. A Buffer is one PutObject; a stream is uploaded in parts (multipart above 8 MiB,
   * never more than a few parts in memory). With `ifNoneMatch`, an existing object is left as it
   * is and 'exists' is answered.
   */
  async put(name: string, body: Buffer | Readable, opts: PutOptions = {}): Promise<'written' | 'exists'> {
    const params = {
      Bucket: this.bucket,
      Key: this.key(name),
      ...(opts.contentType ? { ContentType: opts.contentType } : {}),
      ...(opts.cacheControl ? { CacheControl: opts.cacheControl } : {}),
      ...(opts.ifNoneMatch ? { IfNoneMatch: '*' } : {}),
      ...(opts.metadata ? { Metadata: opts.metadata } : {}),
    };
    try {
      if (Buffer.isBuffer(body)) {
        await this.client.send(new PutObjectCommand({ ...params, Body: body, ContentLength: body.length }), {
          ...(opts.signal ? { abortSignal: opts.signal } : {}),
        });
      } else {
        const upload = new Upload({
          client: this.client,
          params: { ...params, Body: body, ...(opts.length !== undefined ? { ContentLength: opts.length } : {}) },
          partSize: PART_BYTES,
          queueSize: PART_QUEUE,
          leavePartsOnError: false,
        });
        const abort = () => void upload.abort().catch(() => {});
        opts.signal?.addEventListener('abort', abort, { once: true });
        try {
          await upload.done();
        } finally {
          opts.signal?.removeEventListener('abort', abort);
        }
      }
      return 'written';
    } catch (err) {
      if (opts.ifNoneMatch && isPreconditionFailed(err)) return 'exists';
      throw this.wrap(err, `writing ${params.Key}`);
    }
  }

  /** The object's length and metadata, or null when there is none. */
  async head(name: string): Promise<ObjectInfo | null> {
    try {
      const res = await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: this.key(name) }));
      return { length: Number(res.ContentLength ?? 0), metadata: res.Metadata ?? {}, cacheControl: res.CacheControl };
    } catch (err) {
      if (isMissing(err)) return null;
      throw this.wrap(err, `looking at ${this.key(name)}`);
    }
  }

  /** The object's bytes (from byte `offset` on) as a stream, or null when there is none. */
  async get(name: string, opts: { signal?: AbortSignal; offset?: number } = {}): Promise<{ body: Readable; length: number } | null> {
    const { signal, offset } = opts;
    try {
      const range = offset ? { Range: `bytes=${offset}-` } : {};
      const res = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: this.key(name), ...range }), {
        ...(signal ? { abortSignal: signal } : {}),
      });
      return { body: res.Body as Readable, length: Number(res.ContentLength ?? 0) };
    } catch (err) {
      if (isMissing(err)) return null;
      throw this.wrap(err, `reading ${this.key(name)}`);
    }
  }

  /** Removes the object (nothing when there is none). */
  async delete(name: string): Promise<void> {
    try {
      await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: this.key(name) }));
    } catch (err) {
      if (isMissing(err)) return;
      throw this.wrap(err, `removing ${this.key(name)}`);
    }
  }

  /**
   * Copies an object of the same store (`sourceBucket`/`sourceKey`, full key) to `name`, inside
   * the store (no byte through this process), with new headers. Up to 5 GiB (one CopyObject).
   */
  async copyFrom(sourceBucket: string, sourceKey: string, name: string, opts: PutOptions = {}): Promise<void> {
    try {
      await this.client.send(
        new CopyObjectCommand({
          Bucket: this.bucket,
          Key: this.key(name),
          CopySource: `${sourceBucket}/${sourceKey.split('/').map(encodeURIComponent).join('/')}`,
          MetadataDirective: 'REPLACE',
          ...(opts.contentType ? { ContentType: opts.contentType } : {}),
          ...(opts.cacheControl ? { CacheControl: opts.cacheControl } : {}),
          ...(opts.metadata ? { Metadata: opts.metadata } : {}),
        }),
      );
    } catch (err) {
      throw this.wrap(err, `copying ${sourceBucket}/${sourceKey} to ${this.key(name)}`);
    }
  }

  /** Throws when the bucket cannot be used: refused (no such bucket, no permission) or unreachable. */
  async checkAccess(): Promise<void> {
    try {
      await this.client.send(new HeadBucketCommand({ Bucket: this.bucket }), { abortSignal: AbortSignal.timeout(10_000) });
    } catch (err) {
      throw this.wrap(err, 'reaching the bucket');
    }
  }

  /** A GET URL for the object, signed for `seconds` (the bucket need not be public). */
  async presignedGet(name: string, seconds: number): Promise<string> {
    return getSignedUrl(this.client, new GetObjectCommand({ Bucket: this.bucket, Key: this.key(name) }), { expiresIn: seconds });
  }
}
