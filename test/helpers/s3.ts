// Object storage for tests: the run's Ceph S3 gateway (test/run.ts starts it when a selected test
// imports this file), buckets of their own per test, and a gateway of the test's own to kill and
// restart (an object-store outage that other test files do not see).
import { randomBytes } from 'node:crypto';
import { CreateBucketCommand, ListObjectsV2Command, PutBucketPolicyCommand, S3Client, GetObjectCommand } from '@aws-sdk/client-s3';
import { startGateway, type Gateway } from '../../local-services/ceph.ts';
import { recordSecret } from './secrets.ts';

/** The AWS SDK's standard variables for the run's gateway (AWS_ENDPOINT_URL_S3, AWS_REGION, keys, S3_FORCE_PATH_STYLE). */
export function s3Env(): Record<string, string> {
  const raw = process.env.TEST_S3_ENV;
  if (!raw) throw new Error('TEST_S3_ENV is not set: run the tests with `npm test` (test/run.ts starts the Ceph S3 gateway)');
  const env = JSON.parse(raw) as Record<string, string>;
  recordSecret(env.AWS_SECRET_ACCESS_KEY!);
  return env;
}

export function s3Client(endpoint = s3Env().AWS_ENDPOINT_URL_S3!): S3Client {
  const env = s3Env();
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  return new S3Client({
    endpoint,
    region: env.AWS_REGION!,
    forcePathStyle: true,
    credentials: { accessKeyId: env.AWS_ACCESS_KEY_ID!, secretAccessKey: env.AWS_SECRET_ACCESS_KEY! },
  });
}

export interface TestBucket {
  name: string;
  /** s3://NAME */
  url: string;
  /** The bucket's URL on the gateway (path style): what a static host would serve. */
  httpUrl: string;
  /** Every key in the bucket (under `prefix`). */
  keys(prefix?: string): Promise<string[]>;
  /** An object's bytes, or null. */
  get(key: string): Promise<Buffer | null>;
  /** Lets anyone read the bucket's objects (GetObject) and see what is missing as 404 (ListBucket), as an operator does for a CDN. */
  makePublic(): Promise<void>;
}

export async function createTestBucket(label = 'test'): Promise<TestBucket> {
  const client = s3Client();
  const name = `${label}-${randomBytes(5).toString('hex')}`;
  await client.send(new CreateBucketCommand({ Bucket: name }));
  const endpoint = s3Env().AWS_ENDPOINT_URL_S3!;
  return {
    name,
    url: `s3://${name}`,
    httpUrl: `${endpoint}/${name}`,
    async keys(prefix = '') {
      const out: string[] = [];
      let token: string | undefined;
      do {
        const res = await client.send(new ListObjectsV2Command({ Bucket: name, Prefix: prefix, ContinuationToken: token }));
        for (const o of res.Contents ?? []) out.push(o.Key!);
        token = res.IsTruncated ? res.NextContinuationToken : undefined;
      } while (token);
      return out.sort();
    },
    async get(key) {
      try {
        const res = await client.send(new GetObjectCommand({ Bucket: name, Key: key }));
        return Buffer.from(await res.Body!.transformToByteArray());
      } catch (err) {
        if ((err as { name?: string }).name === 'NoSuchKey') return null;
        throw err;
      }
    },
    async makePublic() {
      const policy = {
        Version: '2012-10-17',
        Statement: [
          { Effect: 'Allow', Principal: '*', Action: ['s3:GetObject'], Resource: [`arn:aws:s3:::${name}/*`] },
          { Effect: 'Allow', Principal: '*', Action: ['s3:ListBucket'], Resource: [`arn:aws:s3:::${name}`] },
        ],
      };
      await client.send(new PutBucketPolicyCommand({ Bucket: name, Policy: JSON.stringify(policy) }));
    },
  };
}

/** A gateway of this test's own on the run's cluster, to kill and restart. */
export async function ownGateway(): Promise<Gateway> {
  const conf = process.env.TEST_CEPH_CONF;
  if (!conf) throw new Error('TEST_CEPH_CONF is not set: run the tests with `npm test`');
  return startGateway(conf);
}
