// Settings of object storage (issue 20): where target files are kept, how they are downloaded,
// and the bucket the repository is published to. Part of the one configuration (config.ts).
import { s3SettingsFrom, type S3Settings } from './s3Settings.ts';
import { parseS3Url, type S3Location } from './s3Url.ts';

type Env = Record<string, string | undefined>;

export type TargetDownloads = 'redirect' | 'stream';

export interface StorageConfig {
  /** BLOB_STORE_URL: where new target files are stored. null (unset, or `postgres`): in PostgreSQL; else s3://BUCKET[/PREFIX]. */
  blobStore: S3Location | null;
  /** TARGET_DOWNLOADS: files held in object storage are answered with a redirect (default) or streamed through this server. */
  targetDownloads: TargetDownloads;
  /** BLOB_PUBLIC_URL: a URL that serves the blob bucket's objects (the bucket's public URL or a CDN); redirects go to BASE/KEY. Unset: presigned URLs. */
  blobPublicUrl: string | null;
  /** TARGET_REDIRECT_SECONDS: how long a presigned download URL is valid (default 300). */
  targetRedirectSeconds: number;
  /** PUBLISH_TO: s3://BUCKET[/PREFIX] the repository is copied to, for a static host or CDN; null: none. */
  publishTo: S3Location | null;
  /** PUBLISH_CONCURRENCY: objects written at once while copying to PUBLISH_TO (default 8). */
  publishConcurrency: number;
  /** PUBLISH_LAG_WARNING_SECONDS: /readyz warns when the copy is further behind (default 60). */
  publishLagWarningSeconds: number;
  /** PUBLISH_LEASE_SECONDS: how long another process waits before it takes over the copy from one that stopped answering (default 30). */
  publishLeaseSeconds: number;
  s3: S3Settings;
}

function int(env: Env, name: string, fallback: number, min: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  if (!/^\d+$/.test(raw) || Number(raw) < min)
    throw new Error(`configuration: ${name} must be an integer >= ${min}, got ${JSON.stringify(raw)}`);
  return Number(raw);
}

function httpUrl(env: Env, name: string): string | null {
  const raw = env[name];
  if (!raw) return null;
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new Error(`configuration: ${name} must be an http(s) URL, got ${JSON.stringify(raw)}`);
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new Error(`configuration: ${name} must be an http(s) URL`);
  if (url.username || url.password || url.search || url.hash)
    throw new Error(`configuration: ${name} takes no credentials, query or fragment`);
  return raw.replace(/\/+$/, '');
}

export function loadStorageConfig(env: Env): StorageConfig {
  const blob = env.BLOB_STORE_URL ?? '';
  const blobStore = blob === '' || blob === 'postgres' ? null : parseS3Url(blob, 'configuration: BLOB_STORE_URL (or postgres)');
  const downloads = env.TARGET_DOWNLOADS ?? 'redirect';
  if (downloads !== 'redirect' && downloads !== 'stream')
    throw new Error(`configuration: TARGET_DOWNLOADS must be redirect or stream, got ${JSON.stringify(downloads)}`);
  const publishTo = env.PUBLISH_TO ? parseS3Url(env.PUBLISH_TO, 'configuration: PUBLISH_TO') : null;
  if (publishTo && blobStore && publishTo.bucket === blobStore.bucket && overlaps(publishTo.prefix, blobStore.prefix))
    throw new Error(
      'configuration: PUBLISH_TO and BLOB_STORE_URL overlap: give them different buckets or prefixes that do not contain each other',
    );
  return {
    blobStore,
    targetDownloads: downloads,
    blobPublicUrl: httpUrl(env, 'BLOB_PUBLIC_URL'),
    targetRedirectSeconds: int(env, 'TARGET_REDIRECT_SECONDS', 300, 1),
    publishTo,
    publishConcurrency: int(env, 'PUBLISH_CONCURRENCY', 8, 1),
    publishLagWarningSeconds: int(env, 'PUBLISH_LAG_WARNING_SECONDS', 60, 1),
    publishLeaseSeconds: int(env, 'PUBLISH_LEASE_SECONDS', 30, 3),
    s3: s3SettingsFrom(env),
  };
}

function overlaps(a: string, b: string): boolean {
  return a === '' || b === '' || a === b || a.startsWith(`${b}/`) || b.startsWith(`${a}/`);
}
