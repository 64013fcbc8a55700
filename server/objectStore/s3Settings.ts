// S3 settings read from the environment, and where requests go, without loading the AWS SDK: the
// configuration is read by every command, the SDK only by those that talk to a bucket.
type Env = Record<string, string | undefined>;

export interface S3Settings {
  /** S3_FORCE_PATH_STYLE=true: http://ENDPOINT/BUCKET/KEY instead of http://BUCKET.ENDPOINT/KEY (gateways without virtual-host buckets). */
  forcePathStyle: boolean;
}

export class ObjectStoreConfigError extends Error {
  override readonly name = 'ObjectStoreConfigError';
  readonly code = 'object_store_config' as const;
}

export function s3SettingsFrom(env: Env): S3Settings {
  const raw = env.S3_FORCE_PATH_STYLE;
  if (raw !== undefined && raw !== '' && raw !== 'true' && raw !== 'false')
    throw new ObjectStoreConfigError(`S3_FORCE_PATH_STYLE must be true or false, got ${JSON.stringify(raw)}`);
  return { forcePathStyle: raw === 'true' };
}

/** Where S3 requests go, for logs and errors: the endpoint variable, or AWS's own endpoints. */
export function describeS3Endpoint(env: Env = process.env): string {
  const endpoint = env.AWS_ENDPOINT_URL_S3 || env.AWS_ENDPOINT_URL;
  const region = env.AWS_REGION || env.AWS_DEFAULT_REGION || 'the region of the AWS configuration';
  if (!endpoint) return `AWS S3 in ${region}`;
  try {
    const u = new URL(endpoint);
    u.username = '';
    u.password = '';
    return `${u.origin}${u.pathname === '/' ? '' : u.pathname} (${region})`;
  } catch {
    return `an endpoint that is not a URL (AWS_ENDPOINT_URL_S3)`;
  }
}
