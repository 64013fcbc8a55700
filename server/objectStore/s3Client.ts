// The S3 client: one per process, for every bucket it uses (target files, the published copy).
// Endpoint, region and credentials come from the AWS SDK's own standard sources, read by the SDK
// itself: AWS_ENDPOINT_URL_S3 (or AWS_ENDPOINT_URL) for S3-compatible stores, AWS_REGION,
// AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY (or a profile, web identity, container or instance
// credentials). Nothing here reads, prints or logs the credentials; `describeS3Endpoint` (s3Settings.ts) says
// where requests go, never with what.
import { S3Client } from '@aws-sdk/client-s3';
import { ObjectStoreConfigError, type S3Settings } from './s3Settings.ts';

export function createS3Client(settings: S3Settings): S3Client {
  // The SDK warns on Node 20 that its releases after early 2027 need Node 22; the version pinned in
  // package.json supports Node 20, which this project supports. The warning is for whoever
  // upgrades the SDK, not for operators reading the server's log.
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  return new S3Client({
    forcePathStyle: settings.forcePathStyle,
    // Our own loops retry (the publication outbox, migrations); one SDK retry covers a dropped
    // keep-alive connection without hiding an outage for long.
    maxAttempts: 2,
    requestHandler: { connectionTimeout: 5_000, requestTimeout: 60_000 },
  });
}

/** Fails with a clear message when the SDK finds no region (it would fail at the first request otherwise). */
export async function checkS3Client(client: S3Client): Promise<void> {
  try {
    const region = await client.config.region();
    if (!region) throw new Error('empty');
  } catch {
    throw new ObjectStoreConfigError('object storage: no region: set AWS_REGION (us-east-1 for most S3-compatible stores)');
  }
}
