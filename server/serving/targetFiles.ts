// Target files as clients download them: only a file some role lists, with that path and hash,
// or listed it until a moment ago: a client that read the version before downloads by the hash
// that version gave, and a new version published meanwhile must not take the file away
// (superseded_targets, SUPERSEDED_TARGET_GRACE_SECONDS).
// Contents stream from where they are kept (server/blobs/), so a large file never sits in memory;
// a file held in object storage may instead be answered with a redirect to its object.
import type { Knex } from 'knex';
import type { BlobContent, BlobStore } from '../blobs/blobStore.ts';
import { findTargetRecord, recentlySuperseded } from '../db/targetsRepo.ts';

/** Sends downloads of files held in object storage there (blobs/downloads.ts). */
export interface DownloadRedirects {
  redirectFor(object: { bucket: string; key: string }): Promise<{ url: string; cacheControl: string }>;
}

export type TargetDownload = { kind: 'stream'; content: BlobContent } | { kind: 'redirect'; url: string; cacheControl: string };

export class TargetFiles {
  constructor(
    private readonly knex: Knex,
    private readonly blobs: BlobStore,
    /** TARGET_DOWNLOADS=redirect: files in object storage are answered with a redirect; null streams everything. */
    private readonly redirects: DownloadRedirects | null = null,
    /** How long a file stays downloadable after a newer version of its role dropped it. */
    private readonly supersededGraceSeconds = 86_400,
  ) {}

  /** The contents of `path` with this sha256, or null when no role lists such a target (now, or within the grace). */
  async get(path: string, sha256: string): Promise<BlobContent | null> {
    const listed =
      (await findTargetRecord(this.knex, path, sha256)) !== undefined ||
      (await recentlySuperseded(this.knex, path, sha256, this.supersededGraceSeconds));
    return listed ? this.blobs.open(sha256) : null;
  }

  /** How to answer a download of `path` with this sha256: its bytes, a redirect, or null (not listed, not held). */
  async download(path: string, sha256: string): Promise<TargetDownload | null> {
    const content = await this.get(path, sha256);
    if (!content) return null;
    if (content.object && this.redirects) return { kind: 'redirect', ...(await this.redirects.redirectFor(content.object)) };
    return { kind: 'stream', content };
  }
}
