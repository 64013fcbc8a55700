// A file a project's newer version no longer lists stays downloadable for a grace period: a client
// that read the version before (the soak saw readers get 404 when a release replaced the file
// between their reading the role and downloading) downloads it by the hash that version gave.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import request from 'supertest';
import { sha256Hex, type JsonObject } from '../core/canonical.ts';
import { buildTargetsSigned, describeTarget, expiresAfter, type Envelope } from '../core/metadata.ts';
import { bootstrappedWithSigstore, delegateProject, signAs, type TestRepo } from './helpers/repo.ts';

const ALICE = 'alice@example.com';
let t: TestRepo;
let strict: TestRepo;

before(async () => {
  const [a, b] = await Promise.all([
    bootstrappedWithSigstore({ env: { WRITE_RATE_LIMIT_PER_MINUTE: '0' } }),
    bootstrappedWithSigstore({ env: { WRITE_RATE_LIMIT_PER_MINUTE: '0', SUPERSEDED_TARGET_GRACE_SECONDS: '0' } }),
  ]);
  t = a.t;
  strict = b.t;
  await delegateProject(t, a.keys, 'demo', [ALICE]);
  await delegateProject(strict, b.keys, 'demo', [ALICE]);
});
after(async () => {
  await t.close();
  await strict.close();
});

const A = { path: 'demo/a-1.0.tgz', bytes: Buffer.from('demo a 1.0') };
const B = { path: 'demo/b-2.0.tgz', bytes: Buffer.from('demo b 2.0') };
type File = typeof A;

function release(repo: TestRepo, version: number, files: File[]): JsonObject {
  const targets = Object.fromEntries(files.map((f) => [f.path, describeTarget(f.bytes)]));
  return buildTargetsSigned({ version, expires: expiresAfter(repo.clock.now(), 30 * 86_400), targets });
}

async function publish(repo: TestRepo, version: number, files: File[]): Promise<void> {
  const metadata: Envelope = await signAs(repo, release(repo, version, files), [{ identity: ALICE }]);
  const res = await request(repo.baseUrl)
    .post('/api/v1/projects/demo/uploads')
    .send({ metadata, files: Object.fromEntries(files.map((f) => [f.path, f.bytes.toString('base64')])) });
  assert.equal(res.status, 201, JSON.stringify(res.body));
}

async function download(repo: TestRepo, file: File, name = file.path): Promise<number> {
  const dir = name.slice(0, name.lastIndexOf('/'));
  const base = name.slice(name.lastIndexOf('/') + 1);
  return (await request(repo.baseUrl).get(`/targets/${dir}/${sha256Hex(file.bytes)}.${base}`)).status;
}

test('a file the next version dropped is still served within the grace period, then no longer', async () => {
  await publish(t, 1, [A]);
  assert.equal(await download(t, A), 200);
  await publish(t, 2, [B]); // v2 replaces a-1.0 with b-2.0
  assert.equal(await download(t, B), 200);
  assert.equal(await download(t, A), 200, 'a client that read v1 a moment ago downloads what it lists');
  // Only that path with that hash: nothing else becomes downloadable.
  assert.equal(await download(t, B, A.path), 404, "b's bytes under a's name");
  assert.equal(await download(t, { path: A.path, bytes: Buffer.from('other bytes') }), 404);
  // Past the grace period (a day by default) the file is gone.
  await t.repo.knex.raw(`update superseded_targets set superseded_at = superseded_at - interval '2 days'`);
  assert.equal(await download(t, A), 404);
  assert.equal(await download(t, B), 200, 'the current version is served regardless');
  // Garbage collection removes the rows whose grace is over (every release adds some).
  assert.equal((await t.repo.gc.run({ dryRun: true })).supersededRemoved, 1);
  assert.equal((await t.repo.gc.run()).supersededRemoved, 1);
  assert.equal(Number((await t.repo.knex('superseded_targets').count({ n: '*' }).first())?.n), 0);
  // Listed again by a later version: served as any current file.
  await publish(t, 3, [A, B]);
  assert.equal(await download(t, A), 200);
});

test('SUPERSEDED_TARGET_GRACE_SECONDS=0 serves only what current versions list (a take-down at once)', async () => {
  await publish(strict, 1, [A]);
  await publish(strict, 2, [B]);
  assert.equal(await download(strict, A), 404);
  assert.equal(await download(strict, B), 200);
});
