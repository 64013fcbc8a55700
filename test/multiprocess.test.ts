// Several server processes on one database: each sees the others' publications promptly, and
// exactly one of them signs any given snapshot or timestamp version.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import request from 'supertest';
import { editedTargetsSigned } from '../core/ceremony.ts';
import { describeTarget, signEnvelope } from '../core/metadata.ts';
import { privateKeySigner } from '../core/signer.ts';
import { bootstrapped, startTestRepo, type CeremonyKeys, type TestRepo } from './helpers/repo.ts';
import type { Envelope } from '../core/metadata.ts';

let a: TestRepo;
let b: TestRepo;
let keys: CeremonyKeys;
let targets: Envelope;

before(async () => {
  const first = await bootstrapped();
  a = first.t;
  keys = first.keys;
  targets = first.targets;
  // Same database, same online keys (same home), its own cache, listener and clock.
  b = await startTestRepo({ databaseUrl: a.databaseUrl, home: a.home });
});
after(async () => {
  await b.close();
  await a.close();
});

async function waitFor(check: () => Promise<boolean>, ms: number): Promise<number> {
  const start = Date.now();
  while (!(await check())) {
    if (Date.now() - start > ms) throw new Error(`not within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 10));
  }
  return Date.now() - start;
}

test('a targets version accepted by one process is served by the other within a second', async () => {
  const file = Buffer.from('x');
  await request(a.baseUrl).put('/admin/blobs').set('authorization', `Bearer ${a.adminToken}`).send(file);
  const next = await signEnvelope(editedTargetsSigned(targets.signed, { add: { 'x/x.bin': describeTarget(file) } }, a.clock.now()), [
    privateKeySigner(keys.targets[0]!),
  ]);
  const res = await request(a.baseUrl).post('/admin/metadata/targets').set('authorization', `Bearer ${a.adminToken}`).send(next);
  assert.equal(res.status, 201);
  const tsVersion = res.body.published.find((p: { role: string }) => p.role === 'timestamp').version;
  await waitFor(async () => {
    const ts = await request(b.baseUrl).get('/metadata/timestamp.json');
    return JSON.parse(ts.text).signed.version === tsVersion;
  }, 1000);
  assert.equal((await request(b.baseUrl).get('/metadata/2.targets.json')).status, 200);
});

test('when every process re-signs at once, each version is signed exactly once', async () => {
  a.clock.advanceSeconds(13 * 3600);
  b.clock.advanceSeconds(13 * 3600);
  const before = a.repo.cache.head('timestamp')!.version;
  await Promise.all([a.repo.resignTick(), b.repo.resignTick(), a.repo.resignTick(), b.repo.resignTick()]);
  const rows = await a.repo.knex('metadata_versions').where({ role: 'timestamp' }).where('version', '>', before).select('version');
  assert.deepEqual(
    rows.map((r) => r.version),
    [before + 1],
  );
  const signed = await a.repo
    .knex('audit_log')
    .where({ action: 'timestamp.signed', version: before + 1 })
    .count({ n: '*' });
  assert.equal(Number(signed[0]!.n), 1);
});

test('concurrent targets submissions of the same version: one wins, the other is told why', async () => {
  const current = JSON.parse((await request(a.baseUrl).get('/metadata/2.targets.json')).text);
  const mk = async (name: string) => {
    const file = Buffer.from(name);
    await request(a.baseUrl).put('/admin/blobs').set('authorization', `Bearer ${a.adminToken}`).send(file);
    return signEnvelope(editedTargetsSigned(current.signed, { add: { [`x/${name}`]: describeTarget(file) } }, a.clock.now()), [
      privateKeySigner(keys.targets[0]!),
    ]);
  };
  const [one, two] = await Promise.all([mk('one.bin'), mk('two.bin')]);
  const results = await Promise.all([
    request(a.baseUrl).post('/admin/metadata/targets').set('authorization', `Bearer ${a.adminToken}`).send(one),
    request(b.baseUrl).post('/admin/metadata/targets').set('authorization', `Bearer ${b.adminToken}`).send(two),
  ]);
  const statuses = results.map((r) => r.status).sort();
  assert.deepEqual(statuses, [201, 409]);
  assert.equal(results.find((r) => r.status === 409)!.body.error.code, 'version_not_next');
  const versions = await a.repo.knex('metadata_versions').where({ role: 'targets' }).select('version').orderBy('version');
  assert.deepEqual(
    versions.map((v) => v.version),
    [1, 2, 3],
  );
});
