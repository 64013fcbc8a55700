// Where a download of a file held in object storage is sent (TARGET_DOWNLOADS=redirect): to
// BLOB_PUBLIC_URL/KEY when the bucket (or a CDN in front of it) is public, otherwise to a GET URL
// presigned for TARGET_REDIRECT_SECONDS. The client verifies length and hashes either way, as it
// does for bytes this server streams.
import type { ObjectStorage } from '../objectStore/objectStorage.ts';

export interface DownloadRedirect {
  url: string;
  cacheControl: string;
}

export class ObjectDownloads {
  constructor(
    private readonly objects: ObjectStorage,
    /** BLOB_PUBLIC_URL without its trailing slash, or null. */
    private readonly publicUrl: string | null,
    private readonly presignSeconds: number,
  ) {}

  async redirectFor(object: { bucket: string; key: string }): Promise<DownloadRedirect> {
    if (this.publicUrl) {
      // A file moved by a migration gets a new object: keep redirects short-lived.
      return { url: `${this.publicUrl}/${object.key.split('/').map(encodeURIComponent).join('/')}`, cacheControl: 'public, max-age=60' };
    }
    const bucket = this.objects.bucket({ bucket: object.bucket, prefix: '' });
    // Presigned URLs expire: no cache may keep the redirect.
    return { url: await bucket.presignedGet(object.key, this.presignSeconds), cacheControl: 'no-store' };
  }
}
