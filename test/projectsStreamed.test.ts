// Files streamed after their metadata (issue 19): the signed role metadata is verified before the
// server accepts a byte of a file; each listed file is then sent as a raw body, hashed while it is
// staged and cut off at its listed length; the version is published by the request that brings
// the last file, once the threshold is met. (This is where "a version whose file is missing is not
// published" lives now: before, such an upload was refused with target_file_missing.)
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import request from 'supertest';
import type { JsonObject } from '../core/canonical.ts';
import { buildTargetsSigned, describeTarget, expiresAfter, type Envelope } from '../core/metadata.ts';
import { IdentityClient } from '../client/identityUpdater.ts';
import { bootstrappedWithSigstore, delegateProject, signAs, type CeremonyKeys, type TestRepo } from './helpers/repo.ts';

const ALICE = 'alice@example.com';
const BOB = 'bob@example.com';
const MALLORY = 'mallory@example.com';

let t: TestRepo;
let keys: CeremonyKeys;
let work: string;

before(async () => {
  ({ t, keys } = await bootstrappedWithSigstore());
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'tuf-streamed-'));
  fs.writeFileSync(path.join(work, 'root.json'), (await request(t.baseUrl).get('/metadata/1.root.json')).text);
});
after(async () => t.close());

/** The metadata alone: files follow as raw bodies. */
const upload = (project: string, metadata: Envelope) => request(t.baseUrl).post(`/api/v1/projects/${project}/uploads`).send({ metadata });

function release(version: number, files: Record<string, Buffer>, days = 90): JsonObject {
  const targets = Object.fromEntries(Object.entries(files).map(([p, b]) => [p, describeTarget(b)]));
  return buildTargetsSigned({ version, expires: expiresAfter(t.clock.now(), days * 86_400), targets });
}

async function state() {
  const count = async (table: string) => Number((await t.repo.knex(table).count({ n: '*' }))[0]!.n);
  return { metadata: await count('metadata_versions'), pending: await count('pending_uploads'), blobs: await count('target_blobs') };
}

function client(name: string): IdentityClient {
  const dir = path.join(work, name);
  fs.mkdirSync(path.join(dir, 'metadata'), { recursive: true });
  fs.copyFileSync(path.join(work, 'root.json'), path.join(dir, 'metadata', 'root.json'));
  return new IdentityClient({
    metadataBaseUrl: `${t.baseUrl}/metadata`,
    targetBaseUrl: `${t.baseUrl}/targets`,
    metadataDir: path.join(dir, 'metadata'),
    targetDir: path.join(dir, 'targets'),
  });
}

describe('files streamed after their metadata', () => {
  before(async () => {
    await delegateProject(t, keys, 'stream', [ALICE]);
    await delegateProject(t, keys, 'duo', [ALICE, BOB], 2);
    await delegateProject(t, keys, 'moved', [ALICE]);
  });
  const fileUrl = (project: string, signedSha256: string, target: string) =>
    `/api/v1/projects/${project}/uploads/${signedSha256}/files/${target}`;
  const put = (project: string, signedSha256: string, target: string, bytes: Buffer) =>
    request(t.baseUrl)
      .put(fileUrl(project, signedSha256, target))
      .set('content-type', 'application/octet-stream')
      .send(bytes);
  /** Without Content-Length (chunked): only the bytes themselves can tell their length. */
  const putChunked = (project: string, signedSha256: string, target: string, bytes: Buffer) =>
    new Promise<{ status: number; body: { error?: { code: string } } }>((resolve, reject) => {
      const req = http.request(
        `${t.baseUrl}${fileUrl(project, signedSha256, target)}`,
        { method: 'PUT', headers: { 'transfer-encoding': 'chunked' } },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => resolve({ status: res.statusCode!, body: JSON.parse(Buffer.concat(chunks).toString('utf8')) }));
        },
      );
      req.on('error', reject);
      for (let i = 0; i < bytes.length; i += 64 * 1024) req.write(bytes.subarray(i, i + 64 * 1024));
      req.end();
    });

  test('metadata first, verified; then the file, checked against it; the request that brings it publishes', async () => {
    // Over three 1 MiB pieces of the blob store, and not a multiple of one.
    const bytes = Buffer.alloc(3 * 1024 * 1024 + 17);
    for (let i = 0; i < bytes.length; i++) bytes[i] = (i * 31) % 251;
    const target = 'stream/app-1.0.tgz';
    const env = await signAs(t, release(1, { [target]: bytes }), [{ identity: ALICE }]);
    const before = await state();
    // Bytes for an upload nobody sent metadata for: refused before a byte is read.
    const early = await put('stream', 'a'.repeat(64), target, bytes);
    assert.deepEqual([early.status, early.body.error.code], [404, 'upload_not_found']);
    const first = await upload('stream', env);
    assert.equal(first.status, 202, JSON.stringify(first.body));
    assert.deepEqual([first.body.status, first.body.signatures, first.body.threshold], ['awaiting_files', 1, 1]);
    assert.deepEqual(first.body.missingFiles, [{ path: target, length: bytes.length, sha256: describeTarget(bytes).hashes.sha256 }]);
    const sha = first.body.signedSha256 as string;
    assert.equal((await request(t.baseUrl).get('/metadata/1.stream.json')).status, 404, 'nothing published without its file');
    const wrong = Buffer.from(bytes);
    wrong[wrong.length - 1] = wrong[wrong.length - 1]! ^ 1;
    const refusals: [string, () => Promise<{ status: number; body: { error?: { code: string } } }>, number, string][] = [
      ['other bytes of the right length', () => put('stream', sha, target, wrong), 422, 'target_hash_mismatch'],
      [
        'a Content-Length other than the listed length',
        () => put('stream', sha, target, Buffer.concat([bytes, Buffer.from('x')])),
        422,
        'target_hash_mismatch',
      ],
      [
        'more bytes than listed, chunked (cut off at the listed length)',
        () => putChunked('stream', sha, target, Buffer.concat([bytes, Buffer.alloc(2 * 1024 * 1024)])),
        422,
        'target_hash_mismatch',
      ],
      ['fewer bytes, chunked', () => putChunked('stream', sha, target, bytes.subarray(0, 1000)), 422, 'target_hash_mismatch'],
      ['a path the metadata does not list', () => put('stream', sha, 'stream/other.tgz', bytes), 404, 'upload_not_found'],
      ['a path outside the project', () => put('stream', sha, 'demo/app-1.0.tgz', bytes), 404, 'upload_not_found'],
      ['an upload of another project', () => put('demo', sha, target, bytes), 404, 'upload_not_found'],
      ['a malformed upload name', () => put('stream', 'xyz', target, bytes), 400, 'bad_request'],
    ];
    for (const [what, send, status, code] of refusals) {
      const res = await send();
      assert.equal(res.status, status, `${what}: ${JSON.stringify(res.body)}`);
      assert.equal(res.body.error?.code, code, what);
    }
    assert.equal((await state()).blobs, before.blobs, 'no refused bytes were kept');
    const done = await put('stream', sha, target, bytes);
    assert.equal(done.status, 201, JSON.stringify(done.body));
    assert.equal(done.body.status, 'published');
    assert.deepEqual(
      done.body.published.map((p: { role: string }) => p.role),
      ['stream', 'snapshot', 'timestamp'],
    );
    const file = await client('c-stream').download(target, path.join(work, 'c-stream', 'app.tgz'));
    assert.ok(fs.readFileSync(file).equals(bytes), 'the client downloads the streamed bytes, verified');
    // Sent again after publication: answered as published, nothing stored twice.
    const again = await put('stream', sha, target, bytes);
    assert.deepEqual([again.status, again.body.status], [201, 'published']);
    assert.equal((await state()).blobs, before.blobs + 1);
  });

  test('threshold 2: files may follow the first valid signature; a co-signer sends metadata only', async () => {
    const v1 = { 'duo/duo-1.0.tgz': Buffer.from('duo 1.0') };
    const signed1 = release(1, v1);
    const a1 = await upload('duo', await signAs(t, signed1, [{ identity: ALICE }]));
    assert.deepEqual([a1.status, a1.body.status, a1.body.missingFiles.length], [202, 'pending', 1]);
    const f1 = await put('duo', a1.body.signedSha256, 'duo/duo-1.0.tgz', v1['duo/duo-1.0.tgz']);
    assert.deepEqual([f1.status, f1.body.status, f1.body.missingFiles], [202, 'pending', []], 'file held, one signature still missing');
    const b1 = await upload('duo', await signAs(t, signed1, [{ identity: BOB }]));
    assert.deepEqual([b1.status, b1.body.status], [201, 'published']);

    // The co-signer comes first this time: the threshold is met, the version waits for its file.
    const v2 = { 'duo/duo-2.0.tgz': Buffer.from('duo 2.0') };
    const signed2 = release(2, v2);
    const a2 = await upload('duo', await signAs(t, signed2, [{ identity: ALICE }]));
    assert.equal(a2.body.status, 'pending');
    const b2 = await upload('duo', await signAs(t, signed2, [{ identity: BOB }]));
    assert.deepEqual(
      [b2.status, b2.body.status, b2.body.signatures, b2.body.missingFiles.map((m: { path: string }) => m.path)],
      [202, 'awaiting_files', 2, ['duo/duo-2.0.tgz']],
    );
    assert.equal((await request(t.baseUrl).get('/metadata/2.duo.json')).status, 404);
    const f2 = await put('duo', b2.body.signedSha256, 'duo/duo-2.0.tgz', v2['duo/duo-2.0.tgz']);
    assert.deepEqual([f2.status, f2.body.status, f2.body.version], [201, 'published', 2]);
    const served = JSON.parse((await request(t.baseUrl).get('/metadata/2.duo.json')).text) as Envelope;
    assert.equal(served.signatures.length, 2);
  });

  test('no byte is stored for metadata no delegated identity signed, or once the identity is no longer delegated', async () => {
    const files = { 'moved/m-1.0.tgz': Buffer.from('moved 1.0') };
    const signed = release(1, files);
    const before = await state();
    const byMallory = await upload('moved', await signAs(t, signed, [{ identity: MALLORY }]));
    assert.deepEqual([byMallory.status, byMallory.body.error.code], [403, 'threshold_not_met']);
    const sha = 'b'.repeat(64); // any name: nothing is open for moved
    assert.equal((await put('moved', sha, 'moved/m-1.0.tgz', files['moved/m-1.0.tgz'])).body.error.code, 'upload_not_found');
    const byAlice = await upload('moved', await signAs(t, signed, [{ identity: ALICE }]));
    assert.equal(byAlice.body.status, 'awaiting_files');
    // The admins hand the project to bob: alice's verified metadata no longer lets files in.
    await delegateProject(t, keys, 'moved', [BOB]);
    const late = await put('moved', byAlice.body.signedSha256, 'moved/m-1.0.tgz', files['moved/m-1.0.tgz']);
    assert.deepEqual([late.status, late.body.error.code], [403, 'threshold_not_met']);
    assert.equal((await state()).blobs, before.blobs, 'no file stored');
    assert.equal((await request(t.baseUrl).get('/metadata/1.moved.json')).status, 404);
  });
});
