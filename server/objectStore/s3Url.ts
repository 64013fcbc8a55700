// `s3://BUCKET[/PREFIX]`: where target files (BLOB_STORE_URL) or the published repository
// (PUBLISH_TO) live in S3-compatible object storage. The endpoint, region and credentials are not
// part of it: they come from the AWS SDK's standard variables (s3Client.ts).

export interface S3Location {
  bucket: string;
  /** Without leading or trailing slashes; '' for the bucket's root. */
  prefix: string;
}

export class S3UrlError extends Error {
  override readonly name = 'S3UrlError';
  readonly code = 'bad_s3_url' as const;
}

/** S3's bucket naming rules: 3 to 63 lowercase letters, digits, dots and hyphens, a letter or digit at each end. */
const BUCKET = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;

/** Parses `s3://BUCKET[/PREFIX]`; `what` names the setting in the error (BLOB_STORE_URL). */
export function parseS3Url(url: string, what: string): S3Location {
  const m = /^s3:\/\/([^/]*)(?:\/(.*))?$/.exec(url);
  if (!m) throw new S3UrlError(`${what}: ${JSON.stringify(url)} is not s3://BUCKET[/PREFIX]`);
  const bucket = m[1]!;
  if (!BUCKET.test(bucket) || bucket.includes('..'))
    throw new S3UrlError(
      `${what}: ${JSON.stringify(bucket)} is not a valid bucket name (3 to 63 lowercase letters, digits, dots, hyphens)`,
    );
  const prefix = (m[2] ?? '').replace(/^\/+|\/+$/g, '');
  if (prefix.split('/').some((segment) => segment === '.' || segment === '..' || (prefix !== '' && segment === '')))
    throw new S3UrlError(`${what}: the prefix ${JSON.stringify(prefix)} has an empty, "." or ".." segment`);
  if ([...prefix].some((c) => c.charCodeAt(0) < 0x20 || c.charCodeAt(0) === 0x7f || c === '\\'))
    throw new S3UrlError(`${what}: the prefix has control characters or backslashes`);
  return { bucket, prefix };
}

export function formatS3Url(location: S3Location): string {
  return `s3://${location.bucket}${location.prefix ? `/${location.prefix}` : ''}`;
}

/** The object key of `name` under the location's prefix. */
export function keyOf(location: S3Location, name: string): string {
  return location.prefix ? `${location.prefix}/${name}` : name;
}

/** A single object's URL, as stored for a target file held in object storage: s3://BUCKET/KEY. */
export function objectUrl(bucket: string, key: string): string {
  return `s3://${bucket}/${key}`;
}

export function parseObjectUrl(url: string): { bucket: string; key: string } {
  const m = /^s3:\/\/([^/]+)\/(.+)$/.exec(url);
  if (!m) throw new S3UrlError(`not an object URL: ${JSON.stringify(url)}`);
  return { bucket: m[1]!, key: m[2]! };
}
