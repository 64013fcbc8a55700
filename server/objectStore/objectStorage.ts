// The process's access to object storage: one S3 client (made on first use, so a repository that
// never touches object storage needs no AWS settings), and the buckets and objects reached with it.
import type { S3Client } from '@aws-sdk/client-s3';
import { ObjectBucket } from './bucket.ts';
import { createS3Client, checkS3Client } from './s3Client.ts';
import type { S3Settings } from './s3Settings.ts';
import { parseObjectUrl, type S3Location } from './s3Url.ts';

export class ObjectStorage {
  private client: S3Client | null = null;

  constructor(private readonly settings: S3Settings) {}

  get s3(): S3Client {
    this.client ??= createS3Client(this.settings);
    return this.client;
  }

  /** Fails with a clear message when the AWS settings cannot work (no region). */
  async check(): Promise<void> {
    await checkS3Client(this.s3);
  }

  bucket(location: S3Location): ObjectBucket {
    return new ObjectBucket(this.s3, location);
  }

  /** The object named by `s3://BUCKET/KEY`: its bucket (at the root) and key. */
  object(url: string): { bucket: ObjectBucket; key: string } {
    const { bucket, key } = parseObjectUrl(url);
    return { bucket: new ObjectBucket(this.s3, { bucket, prefix: '' }), key };
  }

  close(): void {
    this.client?.destroy();
    this.client = null;
  }
}
