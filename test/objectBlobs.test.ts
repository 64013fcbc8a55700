// Target files in S3-compatible object storage (BLOB_STORE_URL=s3://BUCKET/PREFIX), against the
// run's real Ceph S3 gateway: stored once under a new key, streamed both ways (multipart for large
// files), downloads redirected to the object or streamed through and verified by a stock tuf-js
// client, files in PostgreSQL still served beside them, and garbage collection removing objects.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { Updater } from 'tuf-js';
import { editedTargetsSigned } from '../core/ceremony.ts';
import { describeTarget, signEnvelope } from '../core/metadata.ts';
import { privateKeySigner } from '../core/signer.ts';
import { putBlob } from '../server/db/targetsRepo.ts';
import { sha256Hex } from '../core/canonical.ts';
import { bootstrapped, startTestRepo, type CeremonyKeys, type TestRepo } from './helpers/repo.ts';
import { createTestBucket, s3Env, type TestBucket } from './helpers/s3.ts';
import type { Envelope } from '../core/metadata.ts';

Object.assign(process.env, s3Env());

let bucket: TestBucket;
let t: TestRepo;
let keys: CeremonyKeys;
let targets: Envelope;
let work: string;

before(async () => {
  bucket = await createTestBucket('blobs');
  const first = await bootstrapped({ env: { BLOB_STORE_URL: `${bucket.url}/files` } });
  t = first.t;
  keys = first.keys;
  targets = first.targets;
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'tuf-objblobs-'));
  fs.writeFileSync(path.join(work, '1.root.json'), JSON.stringify(first.root));
});
after(async () => {
  await t?.close();
  fs.rmSync(work, { recursive: true, force: true });
});

async function putAdminBlob(bytes: Buffer, base = t.baseUrl, token = t.adminToken) {
  const res = await fetch(`${base}/admin/blobs`, {
    method: 'PUT',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/octet-stream' },
    body: new Uint8Array(bytes),
  });
  return { status: res.status, body: (await res.json()) as { sha256: string; created: boolean } };
}

/** Lists `files` in the next top-level targets version (the files are uploaded first). */
async function listTargets(files: Record<string, Buffer>): Promise<void> {
  for (const bytes of Object.values(files)) assert.equal((await putAdminBlob(bytes)).status < 300, true);
  const add = Object.fromEntries(Object.entries(files).map(([p, b]) => [p, describeTarget(b)]));
  targets = await signEnvelope(editedTargetsSigned(targets.signed, { add }, t.clock.now()), [privateKeySigner(keys.targets[0]!)]);
  await t.repo.admission.submitTargets(targets, 'test');
}

function updater(dir: string, base = t.baseUrl): Updater {
  fs.mkdirSync(path.join(work, dir, 'metadata'), { recursive: true });
  fs.mkdirSync(path.join(work, dir, 'targets'), { recursive: true });
  fs.copyFileSync(path.join(work, '1.root.json'), path.join(work, dir, 'metadata', 'root.json'));
  return new Updater({
    metadataDir: path.join(work, dir, 'metadata'),
    metadataBaseUrl: `${base}/metadata`,
    targetDir: path.join(work, dir, 'targets'),
    targetBaseUrl: `${base}/targets`,
  });
}

test('a file streamed in is one object under the prefix, named by a row, with no bytes in PostgreSQL', async () => {
  const bytes = Buffer.from('object storage holds this file\n');
  const { status, body } = await putAdminBlob(bytes);
  assert.equal(status, 201);
  assert.equal(body.created, true);
  const row = await t.repo.knex('target_blobs').where({ sha256: body.sha256 }).first();
  assert.equal(row.content, null);
  assert.match(row.location, new RegExp(`^s3://${bucket.name}/files/${body.sha256}-[0-9a-f]{12}$`));
  assert.equal(Number((await t.repo.knex('target_blob_chunks').where({ sha256: body.sha256 }).count({ n: '*' }))[0]!.n), 0);
  const key = row.location.slice(`s3://${bucket.name}/`.length);
  assert.deepEqual(await bucket.get(key), bytes);
  // The same bytes again: held already, no second object, nothing claimed left behind.
  const again = await putAdminBlob(bytes);
  assert.equal(again.body.created, false);
  assert.deepEqual(
    (await bucket.keys('files/')).filter((k) => k.includes(body.sha256)),
    [key],
  );
  assert.equal(Number((await t.repo.knex('object_cleanup').count({ n: '*' }))[0]!.n), 0);
});

test('a file whose bytes do not match is refused and leaves no object', async () => {
  const before = await bucket.keys('files/');
  const bytes = Buffer.from('the listed bytes');
  const project = 'hashes';
  // A streamed file checked against what metadata lists: through the blob store directly.
  await assert.rejects(
    t.repo.storage.blobs.receive((await import('node:stream')).Readable.from([Buffer.from('other bytes!!!!!')]), {
      length: bytes.length,
      sha256: sha256Hex(bytes),
      maxBytes: 1024,
      what: `file ${project}/x`,
    }),
    (err: { code?: string }) => err.code === 'target_hash_mismatch',
  );
  assert.deepEqual(await bucket.keys('files/'), before);
});

test('a 20 MiB file goes up in parts and comes back by redirect and streamed, byte for byte', async () => {
  const big = Buffer.alloc(20 * 1024 * 1024);
  for (let i = 0; i < big.length; i += 4096) big.writeUInt32BE(i, i);
  await listTargets({ 'big/big.bin': big });
  const sha = sha256Hex(big);
  const url = `${t.baseUrl}/targets/big/${sha}.big.bin`;
  const redirect = await fetch(url, { redirect: 'manual' });
  assert.equal(redirect.status, 302);
  assert.equal(redirect.headers.get('cache-control'), 'no-store');
  const location = redirect.headers.get('location')!;
  assert.ok(location.startsWith(`${s3Env().AWS_ENDPOINT_URL_S3}/${bucket.name}/files/${sha}-`), location);
  assert.match(location, /X-Amz-Signature=/, 'a presigned URL: the bucket is not public');
  const followed = Buffer.from(await (await fetch(url)).arrayBuffer());
  assert.equal(createHash('sha256').update(followed).digest('hex'), sha);

  // The same repository streaming downloads through itself (TARGET_DOWNLOADS=stream).
  const streaming = await startTestRepo({
    databaseUrl: t.databaseUrl,
    home: t.home,
    env: { BLOB_STORE_URL: `${bucket.url}/files`, TARGET_DOWNLOADS: 'stream' },
  });
  try {
    const res = await fetch(`${streaming.baseUrl}/targets/big/${sha}.big.bin`, { redirect: 'manual' });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-length'), String(big.length));
    const bytes = Buffer.from(await res.arrayBuffer());
    assert.equal(createHash('sha256').update(bytes).digest('hex'), sha);
  } finally {
    await streaming.close();
  }
});

test('a stock tuf-js client downloads and verifies files held in object storage and in PostgreSQL', async () => {
  // One file kept in PostgreSQL (stored before the move to object storage), one in the bucket.
  const inPostgres = Buffer.from('kept in PostgreSQL since before the move\n');
  await putBlob(t.repo.knex, sha256Hex(inPostgres), inPostgres);
  const inBucket = Buffer.from('kept in the bucket\n');
  await listTargets({ 'mixed/old.txt': inPostgres, 'mixed/new.txt': inBucket });
  assert.equal(
    (
      await t.repo
        .knex('target_blobs')
        .where({ sha256: sha256Hex(inPostgres) })
        .first()
    ).location,
    null,
  );
  const client = updater('stock');
  await client.refresh();
  for (const [name, bytes] of [
    ['mixed/old.txt', inPostgres],
    ['mixed/new.txt', inBucket],
  ] as const) {
    const info = await client.getTargetInfo(name);
    assert.ok(info, name);
    const saved = await client.downloadTarget(info, path.join(work, 'stock', 'targets', path.basename(name)));
    assert.deepEqual(fs.readFileSync(saved), bytes);
  }
});

test('garbage collection removes an unlisted file and then its object', async () => {
  const orphan = Buffer.from('nobody lists this file');
  const { body } = await putAdminBlob(orphan);
  const row = await t.repo.knex('target_blobs').where({ sha256: body.sha256 }).first();
  const key = row.location.slice(`s3://${bucket.name}/`.length);
  assert.ok(await bucket.get(key));
  t.clock.advanceSeconds(2 * 86_400);
  const report = await t.repo.gc.run();
  assert.ok(report.blobsRemoved.some((b) => b.sha256 === body.sha256));
  assert.ok(report.objectsRemoved >= 1);
  assert.equal(await bucket.get(key), null, 'the object is gone');
  // Listed files stay, object and row.
  const listed = await t.repo.knex('target_blobs').whereNotNull('location');
  for (const r of listed) assert.ok(await bucket.get(r.location.slice(`s3://${bucket.name}/`.length)), r.sha256);
  // Uploaded again later: a new object under a new key.
  const again = await putAdminBlob(orphan);
  assert.equal(again.body.created, true);
  const newRow = await t.repo.knex('target_blobs').where({ sha256: body.sha256 }).first();
  assert.notEqual(newRow.location, row.location);
});

test('a bucket that does not exist stops the start with a clear message', async () => {
  await assert.rejects(
    startTestRepo({
      databaseUrl: t.databaseUrl,
      home: t.home,
      sigstore: t.sigstore,
      env: { BLOB_STORE_URL: 's3://no-such-bucket-here/x' },
    }),
    (err: Error & { code?: string }) =>
      err.code === 'object_store_refused' && /no-such-bucket-here/.test(err.message) && /NoSuchBucket|404/.test(err.message),
  );
});
