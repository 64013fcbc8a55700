// The settings of object storage and of following publications, refused clearly when wrong, and
// the order in which a batch of publications reaches a bucket (server/mirror/order.ts).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { planMetadata, metadataName, targetName } from '../server/mirror/order.ts';
import { describeS3Endpoint, s3SettingsFrom } from '../server/objectStore/s3Settings.ts';
import { formatS3Url, keyOf, parseS3Url } from '../server/objectStore/s3Url.ts';
import { loadStorageConfig } from '../server/objectStore/storageConfig.ts';
import { loadFeedSettings } from '../server/db/feedSettings.ts';
import { runCli } from './helpers/cli.ts';

test('s3://BUCKET[/PREFIX] is parsed strictly', () => {
  assert.deepEqual(parseS3Url('s3://tuf-files', 'X'), { bucket: 'tuf-files', prefix: '' });
  assert.deepEqual(parseS3Url('s3://tuf.files/a/b/', 'X'), { bucket: 'tuf.files', prefix: 'a/b' });
  assert.equal(keyOf(parseS3Url('s3://b12/p', 'X'), 'metadata/1.root.json'), 'p/metadata/1.root.json');
  assert.equal(formatS3Url(parseS3Url('s3://b12/p/', 'X')), 's3://b12/p');
  for (const bad of [
    'http://bucket',
    's3://',
    's3://Bucket',
    's3://ab',
    's3://-bucket',
    's3://a..b',
    's3://bucket/a//b',
    's3://bucket/../x',
    's3://bucket/a\\b',
  ]) {
    assert.throws(
      () => parseS3Url(bad, 'BLOB_STORE_URL'),
      (err: Error & { code?: string }) => err.code === 'bad_s3_url' && /^BLOB_STORE_URL: /.test(err.message),
      bad,
    );
  }
});

test('object storage settings: defaults, and every mistake refused with the setting named', () => {
  const defaults = loadStorageConfig({});
  assert.equal(defaults.blobStore, null);
  assert.equal(defaults.publishTo, null);
  assert.equal(defaults.targetDownloads, 'redirect');
  assert.equal(loadStorageConfig({ BLOB_STORE_URL: 'postgres' }).blobStore, null);
  assert.deepEqual(loadStorageConfig({ BLOB_STORE_URL: 's3://files/x', PUBLISH_TO: 's3://files/site' }).publishTo, {
    bucket: 'files',
    prefix: 'site',
  });
  const refused: [Record<string, string>, RegExp][] = [
    [{ TARGET_DOWNLOADS: 'proxy' }, /TARGET_DOWNLOADS must be redirect or stream/],
    [{ BLOB_STORE_URL: 'postgresql://x' }, /BLOB_STORE_URL/],
    [{ BLOB_STORE_URL: 's3://files', PUBLISH_TO: 's3://files/site' }, /PUBLISH_TO and BLOB_STORE_URL overlap/],
    [{ BLOB_STORE_URL: 's3://files/a', PUBLISH_TO: 's3://files/a/b' }, /overlap/],
    [{ BLOB_PUBLIC_URL: 'ftp://cdn' }, /BLOB_PUBLIC_URL must be an http\(s\) URL/],
    [{ BLOB_PUBLIC_URL: 'https://user:pw@cdn.example.org' }, /BLOB_PUBLIC_URL takes no credentials/],
    [{ S3_FORCE_PATH_STYLE: 'yes' }, /S3_FORCE_PATH_STYLE must be true or false/],
    [{ PUBLISH_CONCURRENCY: '0' }, /PUBLISH_CONCURRENCY must be an integer >= 1/],
    [{ PUBLISH_LEASE_SECONDS: '1' }, /PUBLISH_LEASE_SECONDS must be an integer >= 3/],
  ];
  for (const [env, message] of refused) assert.throws(() => loadStorageConfig(env), message, JSON.stringify(env));
  assert.equal(s3SettingsFrom({ S3_FORCE_PATH_STYLE: 'true' }).forcePathStyle, true);
  assert.throws(() => loadFeedSettings({ DATABASE_LISTEN: 'maybe' }), /DATABASE_LISTEN must be auto, on or off/);
  assert.throws(() => loadFeedSettings({ PUBLICATION_POLL_MS: '5' }), /PUBLICATION_POLL_MS must be an integer >= 10/);
});

test('where S3 requests go is said without credentials', () => {
  assert.equal(
    describeS3Endpoint({ AWS_ENDPOINT_URL_S3: 'https://key:secret@s3.example.org:9000', AWS_REGION: 'eu-west-1' }),
    'https://s3.example.org:9000 (eu-west-1)',
  );
  assert.equal(describeS3Endpoint({ AWS_REGION: 'us-east-1' }), 'AWS S3 in us-east-1');
});

test('the server refuses to start on a wrong setting, naming it, before it opens anything', async () => {
  const res = await runCli('server/main.ts', ['start'], {
    BLOB_STORE_URL: 's3://Not_A_Bucket',
    DATABASE_URL: 'postgres://nobody@127.0.0.1:1/x',
  });
  assert.equal(res.status, 1);
  assert.match(res.stderr, /BLOB_STORE_URL.*"Not_A_Bucket" is not a valid bucket name/);
});

test('a batch of publications is copied phase by phase: targets roles before snapshot, timestamp last and only the newest', () => {
  const plan = planMetadata([
    { role: 'p1', version: 2 },
    { role: 'snapshot', version: 7 },
    { role: 'timestamp', version: 9 },
    { role: 'p1', version: 3 },
    { role: 'bin-00', version: 4 },
    { role: 'root', version: 2 },
    { role: 'targets', version: 5 },
    { role: 'snapshot', version: 8 },
    { role: 'timestamp', version: 10 },
    { role: 'p1', version: 2 },
  ]);
  assert.deepEqual([...plan.keys()], ['delegated', 'top-level', 'snapshot', 'timestamp']);
  assert.deepEqual(plan.get('delegated'), [
    { role: 'bin-00', version: 4 },
    { role: 'p1', version: 2 },
    { role: 'p1', version: 3 },
  ]);
  assert.deepEqual(plan.get('top-level'), [
    { role: 'root', version: 2 },
    { role: 'targets', version: 5 },
  ]);
  assert.deepEqual(plan.get('snapshot'), [
    { role: 'snapshot', version: 7 },
    { role: 'snapshot', version: 8 },
  ]);
  assert.deepEqual(plan.get('timestamp'), [{ role: 'timestamp', version: 10 }]);
  assert.equal(metadataName('timestamp', 10), 'metadata/timestamp.json');
  assert.equal(metadataName('bin-00', 4), 'metadata/4.bin-00.json');
  assert.equal(targetName('demo/sub/demo-1.0.tgz', 'ab'.repeat(32)), `targets/demo/sub/${'ab'.repeat(32)}.demo-1.0.tgz`);
  assert.equal(targetName('top.txt', 'cd'.repeat(32)), `targets/${'cd'.repeat(32)}.top.txt`);
});
