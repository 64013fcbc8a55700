// Publishing to a bucket (PUBLISH_TO) that a static host or CDN serves, against the run's real Ceph
// S3 gateway, with no server between the clients and the bucket: the first copy of a repository
// that already has history, then every publication as it comes, in an order that keeps every
// client consistent at every moment (checked write by write through a recording relay), while
// uploads run on two server processes and a stock tuf-js client and `tuf-client fetch` read the
// bucket; write-once names and cache headers; a conflicting object stops the copy loudly.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { Updater } from 'tuf-js';
import { sha256Hex } from '../core/canonical.ts';
import { putBlob } from '../server/db/targetsRepo.ts';
import { checkWriteOrder } from './helpers/bucketOrder.ts';
import { runCli } from './helpers/cli.ts';
import { keyProjects, keyProjectsTargets, nextRelease, sendRelease, type KeyProjects } from './helpers/keyProjects.ts';
import { ALICE, projectTools } from './helpers/projects.ts';
import { delegateProject, makeRoot, newKeys, signAs, startTestRepo, type CeremonyKeys, type TestRepo } from './helpers/repo.ts';
import { createTestBucket, s3Env, type TestBucket } from './helpers/s3.ts';
import { startS3Recorder, type S3Recorder } from './helpers/s3Recorder.ts';

const PREFIX = 'repo';
let bucket: TestBucket;
let recorder: S3Recorder;
let a: TestRepo; // no PUBLISH_TO
let b: TestRepo; // PUBLISH_TO=s3://BUCKET/repo
let keys: CeremonyKeys;
let projects: KeyProjects;
let work: string;
let repoUrl: string;

const { release } = projectTools(() => ({ t: a, work }));

before(async () => {
  Object.assign(process.env, s3Env());
  bucket = await createTestBucket('pub');
  await bucket.makePublic();
  recorder = await startS3Recorder(s3Env().AWS_ENDPOINT_URL_S3!);
  process.env.AWS_ENDPOINT_URL_S3 = recorder.url;
  repoUrl = `${bucket.httpUrl}/${PREFIX}`;
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'tuf-publish-to-'));

  // A repository with history before any bucket: projects delegated to keys, and demo to alice.
  a = await startTestRepo();
  keys = newKeys();
  projects = keyProjects(['p0', 'p1', 'p2', 'p3']);
  const root = await makeRoot(a, keys);
  fs.writeFileSync(path.join(work, 'root.json'), JSON.stringify(root));
  const trustedRootBytes = Buffer.from(JSON.stringify(a.sigstore.setup.trustedRoot));
  fs.writeFileSync(path.join(work, 'sigstore-root.json'), trustedRootBytes);
  await putBlob(a.repo.knex, sha256Hex(trustedRootBytes), trustedRootBytes);
  await a.repo.admission.bootstrap(root, await keyProjectsTargets(projects, keys.targets[0]!, trustedRootBytes, a.clock.now()), 'test');
  await delegateProject(a, keys, 'demo', [ALICE]);
  const demo = { 'demo/demo-1.0.tgz': Buffer.from('demo 1.0, signed by alice through Sigstore\n') };
  const res = await fetch(`${a.baseUrl}/api/v1/projects/demo/uploads`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      metadata: await signAs(a, release(1, demo), [{ identity: ALICE }]),
      files: { 'demo/demo-1.0.tgz': demo['demo/demo-1.0.tgz'].toString('base64') },
    }),
  });
  assert.equal(res.status, 201, await res.text());
  for (const p of ['p0', 'p1', 'p0']) assert.equal((await sendRelease(a.baseUrl, await nextRelease(projects, p))).status, 201);

  // A second server process on the same database, with PUBLISH_TO: it sets the bucket.
  b = await startTestRepo({
    databaseUrl: a.databaseUrl,
    home: a.home,
    sigstore: a.sigstore,
    env: { PUBLISH_TO: `${bucket.url}/${PREFIX}`, TIMESTAMP_MAX_AGE_SECONDS: '17' },
  });
});
after(async () => {
  await b?.close();
  await a?.close();
  await recorder?.close();
  fs.rmSync(work, { recursive: true, force: true });
});

/** Steps B's copy until nothing is left (the loop is not running in these tests unless started). */
async function copyAll(): Promise<void> {
  for (let i = 0; i < 200; i++) if ((await b.repo.storage.publisher!.step()) !== 'copied') return;
  throw new Error('the copy did not finish');
}

function stockClient(name: string): Updater {
  const dir = path.join(work, name);
  fs.mkdirSync(path.join(dir, 'metadata'), { recursive: true });
  fs.mkdirSync(path.join(dir, 'targets'), { recursive: true });
  if (!fs.existsSync(path.join(dir, 'metadata', 'root.json')))
    fs.copyFileSync(path.join(work, 'root.json'), path.join(dir, 'metadata', 'root.json'));
  return new Updater({
    metadataDir: path.join(dir, 'metadata'),
    metadataBaseUrl: `${repoUrl}/metadata`,
    targetDir: path.join(dir, 'targets'),
    targetBaseUrl: `${repoUrl}/targets`,
  });
}

async function tufClientFetch(target: string, state: string) {
  return runCli('client/main.ts', [
    'fetch',
    target,
    '--server',
    repoUrl,
    '--root',
    path.join(work, 'root.json'),
    '--out',
    path.join(work, `${state}.out`),
    '--dir',
    path.join(work, state),
    '--verbose',
  ]);
}

async function serverTimestamp(t: TestRepo): Promise<number> {
  return JSON.parse(await (await fetch(`${t.baseUrl}/metadata/timestamp.json`)).text()).signed.version;
}

async function bucketTimestamp(): Promise<number | null> {
  const bytes = await bucket.get(`${PREFIX}/metadata/timestamp.json`);
  return bytes ? JSON.parse(bytes.toString('utf8')).signed.version : null;
}

test('the first copy turns the bucket into a repository: stock tuf-js and tuf-client verify from it, no server in between', async () => {
  assert.equal(await bucketTimestamp(), null, 'nothing before the first copy');
  await copyAll();
  assert.equal(await bucketTimestamp(), await serverTimestamp(a));
  const client = stockClient('stock-first');
  await client.refresh();
  const info = await client.getTargetInfo('sigstore/trusted_root.json');
  assert.ok(info);
  assert.deepEqual(JSON.parse(fs.readFileSync(await client.downloadTarget(info), 'utf8')), a.sigstore.setup.trustedRoot);
  // The identity-signed release, verified from the bucket by our client (proofs are not in the
  // bucket: the client reads snapshot.json, which the timestamp names).
  const fetched = await tufClientFetch('demo/demo-1.0.tgz', 'first');
  assert.equal(fetched.status, 0, fetched.stdout + fetched.stderr);
  assert.equal(fs.readFileSync(path.join(work, 'first.out'), 'utf8'), 'demo 1.0, signed by alice through Sigstore\n');
  assert.match(fetched.stderr, /no TAP 16 proofs served .*404.*reading snapshot.json/);
  const first = await checkWriteOrder(recorder.writes, bucket.name, PREFIX, (k) => bucket.get(k));
  assert.equal(first.timestamps, 1);
});

test('while uploads run on two processes, every publication reaches the bucket in order and clients reading the bucket never fail', async () => {
  b.repo.storage.publisher!.start();
  let uploading = true;
  const published: { path: string; bytes: Buffer }[] = [];
  /** `VERSION.PROJECT` -> the file that release lists. */
  const releases = new Map<string, { path: string; bytes: Buffer }>();
  const uploads = (async () => {
    for (let round = 0; round < 10; round++) {
      await Promise.all(
        ['p0', 'p1', 'p2', 'p3'].map(async (p, i) => {
          const upload = await nextRelease(projects, p);
          const res = await sendRelease((round + i) % 2 === 0 ? a.baseUrl : b.baseUrl, upload);
          assert.equal(res.status, 201, res.text);
          published.push(upload.file);
          releases.set(`${upload.version}.${p}`, upload.file);
        }),
      );
    }
    uploading = false;
  })();
  // Clients of the bucket, all along: each refresh verifies whatever the bucket holds at that moment.
  let refreshes = 0;
  let fetches = 0;
  const clients = (async () => {
    while (uploading) {
      // A new Updater for each refresh (tuf-js refreshes once per instance), on the same kept metadata.
      const stock = stockClient('stock-during');
      await stock.refresh();
      refreshes += 1;
      // The bucket lags the server a little: look for a file of a release the snapshot the client
      // just verified lists (each release replaces its project's files).
      const meta = JSON.parse(fs.readFileSync(path.join(work, 'stock-during', 'metadata', 'snapshot.json'), 'utf8')).signed.meta;
      const file = ['p0', 'p1', 'p2', 'p3'].map((p) => releases.get(`${meta[`${p}.json`]?.version}.${p}`)).find((f) => f !== undefined);
      if (file && fetches < 3) {
        const info = await stock.getTargetInfo(file.path);
        assert.ok(info, `${file.path} is listed once the bucket's timestamp covers it`);
        assert.deepEqual(
          fs.readFileSync(await stock.downloadTarget(info, path.join(work, 'stock-during', 'targets', `${fetches}.bin`))),
          file.bytes,
        );
        // Each release replaces its project's files; the identity-signed demo release stays listed.
        const res = await tufClientFetch('demo/demo-1.0.tgz', `during-${fetches}`);
        assert.equal(res.status, 0, res.stdout + res.stderr);
        assert.equal(fs.readFileSync(path.join(work, `during-${fetches}.out`), 'utf8'), 'demo 1.0, signed by alice through Sigstore\n');
        fetches += 1;
      }
    }
  })();
  await Promise.all([uploads, clients]);
  // The copy catches up with the last publication.
  const deadline = Date.now() + 30_000;
  while ((await bucketTimestamp()) !== (await serverTimestamp(a))) {
    assert.ok(Date.now() < deadline, 'the bucket caught up within 30 s');
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.ok(refreshes >= 3 && fetches >= 1, `${refreshes} refreshes and ${fetches} tuf-client fetches ran during the uploads`);
  const status = (await (await fetch(`${b.baseUrl}/readyz`)).json()) as { checks: Record<string, { ok: boolean; detail: string }> };
  assert.match(status.checks.publishedCopy!.detail, /copy to s3:\/\/pub-[0-9a-f]+\/repo: \d+\.\d s behind, 0 publication\(s\) waiting/);
  // Every timestamp written was preceded by everything it reaches.
  const order = await checkWriteOrder(recorder.writes, bucket.name, PREFIX, (k) => bucket.get(k));
  // How many role versions the check met depends on how many publications the uploads were
  // batched into (fewer with one-statement commits: 8 timestamps, 28 role versions here); that
  // every version reached the bucket is checked next.
  assert.ok(order.timestamps >= 2 && order.roles >= 20, JSON.stringify(order));
  // Every version of every project published since the bucket was set is there.
  const keysThere = new Set(await bucket.keys(`${PREFIX}/metadata/`));
  for (const p of ['p0', 'p1', 'p2', 'p3']) {
    for (let v = 3; v < projects.next.get(p)!; v++) assert.ok(keysThere.has(`${PREFIX}/metadata/${v}.${p}.json`), `${p} v${v}`);
  }
  for (const f of published)
    assert.ok(await bucket.get(`${PREFIX}/targets/${path.dirname(f.path)}/${sha256Hex(f.bytes)}.${path.basename(f.path)}`), f.path);
  const metrics = await (await fetch(`${b.baseUrl}/metrics`)).text();
  assert.match(metrics, /^tuf_publish_lag_seconds 0$/m);
  assert.match(metrics, /^tuf_publish_waiting_publications 0$/m);
  assert.match(metrics, /^tuf_publish_objects_written_total [1-9]\d*$/m);
});

test('versioned names are immutable in caches, timestamp.json is not; a name already holding other bytes stops the copy, loudly', async () => {
  const head = async (key: string) => fetch(`${bucket.httpUrl}/${key}`, { method: 'HEAD' });
  const snapshot = (await bucket.keys(`${PREFIX}/metadata/`)).find((k) => k.endsWith('.snapshot.json'))!;
  assert.equal((await head(snapshot)).headers.get('cache-control'), 'public, max-age=31536000, immutable');
  assert.equal((await head(`${PREFIX}/metadata/timestamp.json`)).headers.get('cache-control'), 'public, max-age=17');
  const target = (await bucket.keys(`${PREFIX}/targets/p0/`))[0]!;
  assert.equal((await head(target)).headers.get('cache-control'), 'public, max-age=31536000, immutable');

  // Someone else wrote p3's next version name: the copy refuses to overwrite it and waits.
  const squatted = `${PREFIX}/metadata/${projects.next.get('p3')}.p3.json`;
  const { s3Client } = await import('./helpers/s3.ts');
  const { PutObjectCommand, DeleteObjectCommand } = await import('@aws-sdk/client-s3');
  const client = s3Client();
  await client.send(new PutObjectCommand({ Bucket: bucket.name, Key: squatted, Body: 'not from this repository' }));
  const before = await bucketTimestamp();
  assert.equal((await sendRelease(a.baseUrl, await nextRelease(projects, 'p3'))).status, 201);
  let ready: { checks: Record<string, { detail: string }>; warnings: string[] } | null = null;
  for (let i = 0; i < 100; i++) {
    ready = (await (await fetch(`${a.baseUrl}/readyz`)).json()) as typeof ready;
    if (ready!.warnings.some((w) => w.includes('holds other bytes'))) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.ok(
    ready!.warnings.some((w) => w.includes(`${squatted} in ${bucket.name} holds other bytes than the repository's file of that name`)),
    JSON.stringify(ready),
  );
  assert.equal(await bucketTimestamp(), before, 'nothing after the conflict was published');
  assert.equal((await bucket.get(squatted))!.toString(), 'not from this repository', 'not overwritten');
  const status = await runCli('server/main.ts', ['publish-to', 'status', '--json'], { DATABASE_URL: a.databaseUrl, TUF_HOME: a.home });
  const json = JSON.parse(status.stdout);
  assert.equal(json.url, `${bucket.url}/${PREFIX}`);
  assert.ok(json.waiting >= 1);
  assert.match(json.lastError, /holds other bytes/);
  // The operator removes it: the copy goes on by itself.
  await client.send(new DeleteObjectCommand({ Bucket: bucket.name, Key: squatted }));
  const deadline = Date.now() + 60_000;
  while ((await bucketTimestamp()) !== (await serverTimestamp(a))) {
    assert.ok(Date.now() < deadline, 'the copy resumed');
    await new Promise((r) => setTimeout(r, 200));
  }
  await checkWriteOrder(recorder.writes, bucket.name, PREFIX, (k) => bucket.get(k));
});

test('publish-to stop stops recording publications; a server with PUBLISH_TO sets the bucket again', async () => {
  const stop = await runCli('server/main.ts', ['publish-to', 'stop'], { DATABASE_URL: a.databaseUrl, TUF_HOME: a.home });
  assert.equal(stop.status, 0, stop.stderr);
  assert.match(stop.stdout, /no longer recorded for s3:\/\/pub-/);
  assert.equal((await sendRelease(a.baseUrl, await nextRelease(projects, 'p2'))).status, 201);
  assert.equal(Number((await a.repo.knex('publish_outbox').count({ n: '*' }))[0]!.n), 0);
  const status = await runCli('server/main.ts', ['publish-to', 'status'], { DATABASE_URL: a.databaseUrl, TUF_HOME: a.home });
  assert.match(status.stdout, /no bucket: publications are not recorded/);
});
