// Nothing grows without bound (issue 19, part 4), on a real PostgreSQL: pending versions expire
// and are removed with their files, old rejected and stale registrations go, files nobody lists
// go after their grace period, and files any stored (even superseded) or pending version lists
// stay. Ages are set in the database (as if time had passed), so the server's clock stays real.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import request from 'supertest';
import { sha256Hex, type JsonObject } from '../core/canonical.ts';
import { registrationSigned } from '../core/delegations.ts';
import { buildTargetsSigned, describeTarget, expiresAfter, type Envelope } from '../core/metadata.ts';
import { listedButMissingBlobs } from '../server/db/gcRepo.ts';
import { mustRun } from './helpers/cli.ts';
import { bootstrappedWithSigstore, delegateProject, signAs, type CeremonyKeys, type TestRepo } from './helpers/repo.ts';

const ALICE = 'alice@example.com';
const BOB = 'bob@example.com';
let t: TestRepo;
let keys: CeremonyKeys;

before(async () => {
  ({ t, keys } = await bootstrappedWithSigstore({ env: { WRITE_RATE_LIMIT_PER_MINUTE: '0' } }));
  await delegateProject(t, keys, 'demo', [ALICE]);
  await delegateProject(t, keys, 'pair', [ALICE, BOB], 2);
});
after(async () => t.close());

const DAY = 86_400;
const b64 = (files: Record<string, Buffer>) => Object.fromEntries(Object.entries(files).map(([p, b]) => [p, b.toString('base64')]));

function release(version: number, files: Record<string, Buffer>, extra: Record<string, Buffer> = {}): JsonObject {
  const targets = Object.fromEntries(Object.entries({ ...files, ...extra }).map(([p, b]) => [p, describeTarget(b)]));
  return buildTargetsSigned({ version, expires: expiresAfter(t.clock.now(), 30 * DAY), targets });
}

async function upload(project: string, metadata: Envelope, files: Record<string, Buffer>) {
  return request(t.baseUrl)
    .post(`/api/v1/projects/${project}/uploads`)
    .send({ metadata, files: b64(files) });
}

async function putAdminBlob(bytes: Buffer) {
  const res = await request(t.baseUrl)
    .put('/admin/blobs')
    .set('authorization', `Bearer ${t.adminToken}`)
    .set('content-type', 'application/octet-stream')
    .send(bytes);
  assert.ok(res.status < 300, JSON.stringify(res.body));
}

async function held(bytes: Buffer): Promise<boolean> {
  return (
    (await t.repo
      .knex('target_blobs')
      .where({ sha256: sha256Hex(bytes) })
      .first('sha256')) !== undefined
  );
}

/** Makes every file, pending version and registration look `seconds` older. */
async function age(seconds: number): Promise<void> {
  const by = `${seconds} seconds`;
  await t.repo.knex.raw(`update target_blobs set touched_at = touched_at - ?::interval`, [by]);
  await t.repo.knex.raw(`update pending_uploads set created_at = created_at - ?::interval, updated_at = updated_at - ?::interval`, [
    by,
    by,
  ]);
  await t.repo.knex.raw(`update registrations set created_at = created_at - ?::interval, decided_at = decided_at - ?::interval`, [by, by]);
}

describe('files and pending versions', () => {
  const v1 = { 'demo/a-1.0.tgz': Buffer.from('demo a 1.0') };
  const v2 = { 'demo/b-2.0.tgz': Buffer.from('demo b 2.0') };
  const pending = { 'pair/pair-1.0.tgz': Buffer.from('pair 1.0, signed by alice only') };
  const orphan = Buffer.from('uploaded by an admin, never listed');
  const refused = { 'demo/c.tgz': Buffer.from('sent with metadata that was refused') };

  test('setup: a published history, a pending version, and a file nobody lists', async () => {
    assert.equal((await upload('demo', await signAs(t, release(1, v1), [{ identity: ALICE }]), v1)).status, 201);
    // v2 no longer lists a-1.0 (only the stored v1 does).
    assert.equal((await upload('demo', await signAs(t, release(2, v2), [{ identity: ALICE }]), v2)).status, 201);
    assert.equal((await upload('pair', await signAs(t, release(1, pending), [{ identity: ALICE }]), pending)).status, 202);
    await putAdminBlob(orphan);
    // Signed by an identity the delegation does not name: refused, and its file never stored.
    const res = await upload('demo', await signAs(t, release(3, { ...v2, ...refused }), [{ identity: 'mallory@example.com' }]), refused);
    assert.equal(res.body.error.code, 'threshold_not_met');
    assert.equal(await held(refused['demo/c.tgz']!), false);
  });

  test('within the grace period nothing is removed', async () => {
    const report = await t.repo.gc.run();
    assert.deepEqual([report.blobsRemoved.length, report.pendingExpired.length], [0, 0]);
  });

  test('after the grace period: a dry run lists the unlisted files and removes nothing; the run removes exactly them', async () => {
    await age(2 * DAY);
    const dry = await t.repo.gc.run({ dryRun: true });
    const expected = [sha256Hex(orphan)];
    assert.deepEqual(dry.blobsRemoved.map((b) => b.sha256).sort(), expected);
    assert.ok(await held(orphan), 'dry run removed nothing');
    const report = await t.repo.gc.run();
    assert.deepEqual(report.blobsRemoved.map((b) => b.sha256).sort(), expected);
    assert.equal(await held(orphan), false);
    for (const bytes of [v1['demo/a-1.0.tgz'], v2['demo/b-2.0.tgz'], pending['pair/pair-1.0.tgz']])
      assert.ok(await held(bytes!), 'listed by a stored or pending version');
    assert.deepEqual(await listedButMissingBlobs(t.repo.knex), []);
    const audit = await t.repo.knex('audit_log').where({ action: 'blobs.removed' });
    assert.equal(audit.length, 1);
  });

  test('storing the same bytes again starts a new grace period', async () => {
    const again = Buffer.from('uploaded twice');
    await putAdminBlob(again);
    await age(2 * DAY);
    await putAdminBlob(again);
    assert.deepEqual((await t.repo.gc.run()).blobsRemoved, []);
    assert.ok(await held(again));
  });

  test('a pending version expires after 14 days, with its file; published files stay', async () => {
    await age(9 * DAY); // 13 days since it was stored, with the 4 above
    assert.deepEqual((await t.repo.gc.run()).pendingExpired, [], 'not yet');
    await age(2 * DAY);
    const dry = await t.repo.gc.run({ dryRun: true });
    assert.deepEqual(
      dry.pendingExpired.map((p) => `${p.role} v${p.version}`),
      ['pair v1'],
    );
    assert.ok(
      dry.blobsRemoved.some((b) => b.sha256 === sha256Hex(pending['pair/pair-1.0.tgz']!)),
      'the dry run counts the file it frees',
    );
    const report = await t.repo.gc.run();
    assert.deepEqual(
      report.pendingExpired.map((p) => `${p.role} v${p.version}`),
      ['pair v1'],
    );
    assert.equal(await held(pending['pair/pair-1.0.tgz']!), false);
    assert.deepEqual((await request(t.baseUrl).get('/api/v1/projects/pair')).body.pending, []);
    assert.equal((await t.repo.knex('audit_log').where({ action: 'project.pending_expired', role: 'pair', version: 1 })).length, 1);
    for (const bytes of [v1['demo/a-1.0.tgz'], v2['demo/b-2.0.tgz']]) assert.ok(await held(bytes!));
    // A client still downloads the published release.
    const file = v2['demo/b-2.0.tgz']!;
    assert.equal((await request(t.baseUrl).get(`/targets/demo/${sha256Hex(file)}.b-2.0.tgz`)).status, 200);
  });
});

describe('registrations', () => {
  async function register(project: string, identity: string): Promise<number> {
    const signed = await signAs(t, registrationSigned(project, { identity, issuer: t.sigstore.sigstore.issuerUrl }, t.clock.now()), [
      { identity },
    ]);
    const res = await request(t.baseUrl).post('/api/v1/registrations').send(signed);
    assert.equal(res.status, 201, JSON.stringify(res.body));
    return res.body.registration.id as number;
  }

  test('rejected ones go after 30 days, undecided ones after 90, approved ones stay', async () => {
    const rejected = await register('spam-one', 'spammer@example.com');
    assert.equal(
      (await request(t.baseUrl).post(`/admin/registrations/${rejected}/reject`).set('authorization', `Bearer ${t.adminToken}`)).status,
      200,
    );
    const stale = await register('abandoned', 'gone@example.com');
    const approved = await register('kept', 'carol@example.com');
    await delegateProject(t, keys, 'kept', ['carol@example.com']);
    await age(31 * DAY);
    assert.deepEqual(
      (await t.repo.gc.run()).registrationsRemoved.map((r) => r.id),
      [rejected],
    );
    await age(60 * DAY);
    const recent = await register('fresh', 'new@example.com');
    assert.deepEqual(
      (await t.repo.gc.run()).registrationsRemoved.map((r) => r.id),
      [stale],
    );
    const left = (await t.repo.knex('registrations').whereIn('id', [rejected, stale, approved, recent]).select('id'))
      .map((r) => Number(r.id))
      .sort((a, b) => a - b);
    assert.deepEqual(left, [approved, recent]);
  });
});

test('tuf-server gc: --dry-run lists, then the run removes', async () => {
  const orphan = Buffer.from('for the command line');
  await putAdminBlob(orphan);
  await age(2 * DAY);
  const env = { DATABASE_URL: t.databaseUrl, TUF_HOME: t.home };
  const dry = await mustRun('server/main.ts', ['gc', '--dry-run'], env);
  assert.match(dry, new RegExp(`would remove file ${sha256Hex(orphan)} \\(${orphan.length} bytes`));
  assert.match(dry, /^dry run: /m);
  assert.ok(await held(orphan));
  const run = await mustRun('server/main.ts', ['gc'], env);
  assert.match(run, new RegExp(`removed file ${sha256Hex(orphan)}`));
  assert.equal(await held(orphan), false);
  assert.doesNotMatch(await mustRun('server/main.ts', ['gc'], env), /removed file/);
});
