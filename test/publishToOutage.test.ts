// The copy to a bucket through an outage of the object store: a real S3 gateway (this test's own,
// on the run's Ceph cluster) is killed while uploads go on. Uploads keep being published (the
// bucket is a copy, not a dependency), the copy reports its failure and its growing lag
// (/readyz, /metrics, publish-to status), and once the gateway is back the bucket catches up with
// nothing skipped and nothing out of order (checked write by write through a recording relay).
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { Updater } from 'tuf-js';
import { sha256Hex } from '../core/canonical.ts';
import type { Gateway } from '../local-services/ceph.ts';
import { putBlob } from '../server/db/targetsRepo.ts';
import { checkWriteOrder } from './helpers/bucketOrder.ts';
import { keyProjects, keyProjectsTargets, nextRelease, sendRelease, type KeyProjects } from './helpers/keyProjects.ts';
import { makeRoot, newKeys, startTestRepo, type TestRepo } from './helpers/repo.ts';
import { createTestBucket, ownGateway, s3Env, type TestBucket } from './helpers/s3.ts';
import { startS3Recorder, type S3Recorder } from './helpers/s3Recorder.ts';

let bucket: TestBucket;
let gateway: Gateway;
let recorder: S3Recorder;
let t: TestRepo;
/** A second process keeping its files in the same store (BLOB_STORE_URL). */
let files: TestRepo;
let projects: KeyProjects;
let work: string;

before(async () => {
  Object.assign(process.env, s3Env());
  bucket = await createTestBucket('outage');
  await bucket.makePublic();
  gateway = await ownGateway();
  recorder = await startS3Recorder(gateway.endpoint);
  process.env.AWS_ENDPOINT_URL_S3 = recorder.url;
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'tuf-outage-'));
  t = await startTestRepo({ env: { PUBLISH_TO: bucket.url, PUBLISH_LAG_WARNING_SECONDS: '1' } });
  const keys = newKeys();
  projects = keyProjects(['q0', 'q1', 'q2']);
  const root = await makeRoot(t, keys);
  fs.writeFileSync(path.join(work, 'root.json'), JSON.stringify(root));
  const trustedRootBytes = Buffer.from(JSON.stringify(t.sigstore.setup.trustedRoot));
  await putBlob(t.repo.knex, sha256Hex(trustedRootBytes), trustedRootBytes);
  await t.repo.admission.bootstrap(root, await keyProjectsTargets(projects, keys.targets[0]!, trustedRootBytes, t.clock.now()), 'test');
  t.repo.storage.publisher!.start();
  files = await startTestRepo({
    databaseUrl: t.databaseUrl,
    home: t.home,
    sigstore: t.sigstore,
    env: { BLOB_STORE_URL: `${bucket.url}/files` },
  });
});
after(async () => {
  await files?.close();
  await t?.close();
  await recorder?.close();
  await gateway?.kill();
  fs.rmSync(work, { recursive: true, force: true });
});

const serverTimestamp = async () => JSON.parse(await (await fetch(`${t.baseUrl}/metadata/timestamp.json`)).text()).signed.version as number;
const bucketTimestamp = async () => {
  const bytes = await bucket.get('metadata/timestamp.json');
  return bytes ? (JSON.parse(bytes.toString('utf8')).signed.version as number) : 0;
};

async function until(what: string, ms: number, check: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function uploadRound(): Promise<void> {
  await Promise.all(
    ['q0', 'q1', 'q2'].map(async (p) => {
      const res = await sendRelease(t.baseUrl, await nextRelease(projects, p));
      assert.equal(res.status, 201, res.text);
    }),
  );
}

test('uploads go on while the object store is down; the copy says so, then catches up in order', async () => {
  for (let i = 0; i < 3; i++) await uploadRound();
  await until('the first rounds reach the bucket', 30_000, async () => (await bucketTimestamp()) === (await serverTimestamp()));

  await gateway.kill();
  const down = await serverTimestamp();
  for (let i = 0; i < 4; i++) await uploadRound(); // published while the bucket cannot be written
  assert.ok((await serverTimestamp()) > down);
  await until('the failure and the lag show in /readyz', 30_000, async () => {
    const ready = (await (await fetch(`${t.baseUrl}/readyz`)).json()) as { warnings: string[]; status: string };
    return (
      ready.status === 'ready' &&
      ready.warnings.some((w) =>
        /copy to s3:\/\/outage-[0-9a-f]+: \d+\.\d s behind, [1-9]\d* publication\(s\) waiting; last error: /.test(w),
      )
    );
  });
  // A file for the object store meanwhile: 503, to be retried, never a 500.
  const put = await fetch(`${files.baseUrl}/admin/blobs`, {
    method: 'PUT',
    headers: { authorization: `Bearer ${files.adminToken}` },
    body: new Uint8Array(Buffer.from('during the outage')),
  });
  assert.equal(put.status, 503);
  assert.equal(((await put.json()) as { error: { code: string } }).error.code, 'unavailable');
  assert.equal(put.headers.get('retry-after'), '5');
  const metrics = await (await fetch(`${t.baseUrl}/metrics`)).text();
  assert.match(metrics, /^tuf_publish_waiting_publications [1-9]\d*$/m);
  assert.match(metrics, /^tuf_publish_lag_seconds (?!0$)[\d.]+$/m);
  assert.match(metrics, /^tuf_publish_errors_total [1-9]\d*$/m);

  await gateway.restart();
  const again = await fetch(`${files.baseUrl}/admin/blobs`, {
    method: 'PUT',
    headers: { authorization: `Bearer ${files.adminToken}` },
    body: new Uint8Array(Buffer.from('during the outage')),
  });
  assert.equal(again.status, 201);
  for (let i = 0; i < 2; i++) await uploadRound();
  await until('the bucket caught up', 90_000, async () => (await bucketTimestamp()) === (await serverTimestamp()));
  await until('the outbox is empty', 10_000, async () => Number((await t.repo.knex('publish_outbox').count({ n: '*' }))[0]!.n) === 0);

  // Write by write, no timestamp.json before what it reaches; every release's role version is there.
  const order = await checkWriteOrder(recorder.writes, bucket.name, '', (k) => bucket.get(k));
  assert.ok(order.timestamps >= 2, JSON.stringify(order));
  const keysThere = new Set(await bucket.keys('metadata/'));
  for (const p of ['q0', 'q1', 'q2'])
    for (let v = 1; v < projects.next.get(p)!; v++) assert.ok(keysThere.has(`metadata/${v}.${p}.json`), `${p} v${v}`);
  const ready = (await (await fetch(`${t.baseUrl}/readyz`)).json()) as { warnings: string[] };
  assert.deepEqual(
    ready.warnings.filter((w) => w.includes('copy to')),
    [],
  );

  // A stock client reading the bucket is up to date.
  fs.mkdirSync(path.join(work, 'c', 'metadata'), { recursive: true });
  fs.copyFileSync(path.join(work, 'root.json'), path.join(work, 'c', 'metadata', 'root.json'));
  const client = new Updater({
    metadataDir: path.join(work, 'c', 'metadata'),
    metadataBaseUrl: `${gateway.endpoint}/${bucket.name}/metadata`,
    targetDir: path.join(work, 'c'),
    targetBaseUrl: `${gateway.endpoint}/${bucket.name}/targets`,
  });
  await client.refresh();
  const last = `q1/q1-${projects.next.get('q1')! - 1}.bin`;
  assert.ok(await client.getTargetInfo(last), last);
});
