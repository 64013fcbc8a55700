// The one-statement commit of an upload (server/projects/fastCommit.ts, db/roleCommit.ts): the
// common upload is committed by one function call decided from memory, a memory behind the database
// never publishes what the database would refuse, and every refusal of the function writes nothing.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import request from 'supertest';
import { sha256Hex } from '../core/canonical.ts';
import { IdentitySignatureVerifier } from '../core/identity.ts';
import { servedBytes } from '../core/metadata.ts';
import { verifyHistory } from '../server/admin/historyCheck.ts';
import { commitRoleInOneStatement, type OneStatementCommit } from '../server/db/roleCommit.ts';
import { ALICE, BOB, projectTools } from './helpers/projects.ts';
import { bootstrappedWithSigstore, delegateProject, signAs, startTestRepo, type CeremonyKeys, type TestRepo } from './helpers/repo.ts';

let a: TestRepo;
let b: TestRepo;
let keys: CeremonyKeys;
const PROJECT = 'quick';
const { release } = projectTools(() => ({ t: a, work: '' }));

before(async () => {
  ({ t: a, keys } = await bootstrappedWithSigstore());
  // A second server process on the same database: it changes what the first holds in memory.
  b = await startTestRepo({ databaseUrl: a.databaseUrl, home: a.home, sigstore: a.sigstore });
  await delegateProject(a, keys, PROJECT, [ALICE]);
});
after(async () => {
  await b.close();
  await a.close();
});

/** tuf_upload_paths_total by "path reason" ("one_statement " or "full delegation_changed", ...). */
async function pathCounts(t: TestRepo): Promise<Map<string, number>> {
  const text = (await request(t.baseUrl).get('/metrics')).text;
  const out = new Map<string, number>();
  for (const m of text.matchAll(/^tuf_upload_paths_total\{path="([a-z_]+)",reason="([a-z_]*)"\} (\d+)/gm))
    out.set(`${m[1]} ${m[2]}`, Number(m[3]));
  return out;
}
const full = (m: Map<string, number>) => [...m].filter(([k]) => k.startsWith('full ')).reduce((x, [, v]) => x + v, 0);
const oneStatement = (m: Map<string, number>) => m.get('one_statement ') ?? 0;

async function uploadTo(t: TestRepo, version: number, identity: string) {
  const files = { [`${PROJECT}/r${version}.tgz`]: Buffer.from(`${PROJECT} ${version} ${identity}`) };
  const metadata = await signAs(a, release(version, files), [{ identity }]);
  const body = { metadata, files: Object.fromEntries(Object.entries(files).map(([p, f]) => [p, f.toString('base64')])) };
  return { res: await request(t.baseUrl).post(`/api/v1/projects/${PROJECT}/uploads`).send(body), files };
}

const count = async (table: string) => Number((await a.repo.knex(table).count({ n: '*' }))[0]!.n);

test('an upload decided from memory is committed in one statement: stored, audited, announced, served by the other process', async () => {
  assert.equal((await uploadTo(a, 1, ALICE)).res.status, 201); // may load the delegation from the database first
  const before = await pathCounts(a);
  const { res, files } = await uploadTo(a, 2, ALICE);
  assert.equal(res.status, 201, JSON.stringify(res.body));
  const after = await pathCounts(a);
  assert.equal(oneStatement(after) - oneStatement(before), 1, 'committed in one statement');
  assert.equal(full(after), full(before), 'no full path taken');
  assert.deepEqual(res.body.published[0], { role: PROJECT, version: 2 });
  // What the full path stores, the one statement stores: the version, its head, records, listed files, audit.
  const stored = await a.repo.knex('metadata_versions').where({ role: PROJECT, version: 2 }).first();
  assert.equal(stored.sha256, sha256Hex(stored.bytes));
  const [path] = Object.keys(files);
  const record = await a.repo.knex('target_records').where({ role: PROJECT, path }).first();
  assert.equal(record.role_version, 2);
  assert.equal(record.hashes.sha256, sha256Hex(files[path!]!));
  assert.ok(await a.repo.knex('listed_blobs').where({ sha256: record.hashes.sha256 }).first());
  assert.ok(await a.repo.knex('target_blobs').where({ sha256: record.hashes.sha256 }).first());
  const audit = await a.repo.knex('audit_log').where({ action: 'project.published', role: PROJECT, version: 2 }).first();
  assert.equal(audit.actor, `identity:${ALICE}`);
  assert.equal((await a.repo.knex('role_heads').where({ role: PROJECT }).first()).version, 2);
  // The other process learns of it by NOTIFY and serves it.
  for (let i = 0; (await request(b.baseUrl).get(`/metadata/2.${PROJECT}.json`)).status !== 200; i++) {
    assert.ok(i < 100, 'the other process serves the new version within a second');
    await new Promise((r) => setTimeout(r, 10));
  }
  const served = await request(a.baseUrl).get(`/targets/${path!.replace(/[^/]+$/, `${record.hashes.sha256}.r2.tgz`)}`);
  assert.equal(served.status, 200);
  assert.deepEqual((await verifyHistory(a.repo.knex, new IdentitySignatureVerifier(a.sigstore.setup.trustedRoot))).problems, []);
});

test('a memory behind the database publishes nothing the database refuses: a maintainer revoked elsewhere is refused', async () => {
  // The other process re-delegates the project to bob alone; this one still holds alice's delegation parsed.
  await delegateProject(b, keys, PROJECT, [BOB]);
  const before = { metadata: await count('metadata_versions'), blobs: await count('target_blobs'), paths: await pathCounts(a) };
  const { res } = await uploadTo(a, 3, ALICE);
  assert.equal(res.status, 403, JSON.stringify(res.body));
  assert.equal(res.body.error.code, 'threshold_not_met');
  assert.equal(await count('metadata_versions'), before.metadata, 'nothing stored');
  assert.equal(await count('target_blobs'), before.blobs, 'not even the inline file');
  const after = await pathCounts(a);
  assert.equal(
    (after.get('full delegation_changed') ?? 0) - (before.paths.get('full delegation_changed') ?? 0),
    1,
    'the statement saw the change',
  );
  // The full path read the new delegation: bob now publishes, in one statement again.
  assert.equal((await uploadTo(a, 3, BOB)).res.status, 201);
  const once = await pathCounts(a);
  assert.equal((await uploadTo(a, 4, BOB)).res.status, 201);
  assert.equal(oneStatement(await pathCounts(a)) - oneStatement(once), 1);
});

test('each refusal of the statement writes nothing', async () => {
  const head = (await a.repo.knex('role_heads').where({ role: PROJECT }).first()).version as number;
  const targets = await a.repo.current.targets();
  const basis = [{ role: 'targets', version: targets!.version, sha256: sha256Hex(servedBytes(targets!.envelope)) }];
  const content = Buffer.from('an inline file');
  const base = (): OneStatementCommit => ({
    role: PROJECT,
    version: head + 1,
    previousVersion: head,
    bytes: Buffer.from('{"signed":{},"signatures":[]}'),
    sha256: '0'.repeat(64),
    expires: new Date(Date.now() + 86_400_000),
    basis,
    records: [{ path: `${PROJECT}/x.tgz`, length: content.length, hashes: { sha256: sha256Hex(content) } }],
    inlineFiles: [{ sha256: sha256Hex(content), content }],
    actor: 'test',
    auditDetails: {},
    announcement: '{"origin":"test","published":[]}',
  });
  const tables = ['metadata_versions', 'role_heads', 'target_records', 'target_blobs', 'listed_blobs', 'audit_log'];
  const snapshot = async () => Promise.all(tables.map(count));
  const before = await snapshot();
  const stale = { ...basis[0]!, sha256: 'f'.repeat(64) };
  const cases: [Partial<OneStatementCommit>, string][] = [
    [{ basis: [stale] }, 'delegation_changed'],
    [{ basis: [...basis, { role: 'bin-nothing', version: 1, sha256: '0'.repeat(64) }] }, 'delegation_changed'],
    [{ previousVersion: head - 1 }, 'head_changed'],
    [{ previousVersion: null }, 'head_changed'],
    [{ inlineFiles: [] }, 'files_missing'],
  ];
  for (const [change, reason] of cases) {
    assert.deepEqual(await commitRoleInOneStatement(a.repo.knex, { ...base(), ...change }), { committed: false, reason }, reason);
  }
  await a.repo.knex('pending_uploads').insert({ role: PROJECT, version: head + 1, signed_sha256: 'a'.repeat(64), envelope: {} });
  assert.deepEqual(await commitRoleInOneStatement(a.repo.knex, base()), { committed: false, reason: 'pending_open' });
  await a.repo
    .knex('pending_uploads')
    .where({ signed_sha256: 'a'.repeat(64) })
    .delete();
  assert.deepEqual(await snapshot(), before, 'no table changed');
});
