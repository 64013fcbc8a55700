// The HTTP API on a real server and a real PostgreSQL: bootstrap, refusals that change nothing,
// serving, authentication, health and metrics.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import request from 'supertest';
import { canonicalBytes, sha256Hex } from '../core/canonical.ts';
import { editedTargetsSigned, bumpedRootSigned } from '../core/ceremony.ts';
import { generatePrivateKey } from '../core/keys.ts';
import { describeTarget, expiresAfter, signEnvelope } from '../core/metadata.ts';
import { privateKeySigner } from '../core/signer.ts';
import { makeRoot, makeTargets, newKeys, startTestRepo, type TestRepo } from './helpers/repo.ts';

async function dbState(t: TestRepo) {
  const count = async (table: string) => Number((await t.repo.knex(table).count({ n: '*' }))[0]!.n);
  return {
    metadata: await count('metadata_versions'),
    heads: JSON.stringify(await t.repo.knex('role_heads').select('role', 'version').orderBy('role')),
    targets: await count('target_records'),
    audit: await count('audit_log'),
  };
}

describe('before bootstrap', () => {
  let t: TestRepo;
  before(async () => {
    t = await startTestRepo();
  });
  after(async () => t.close());

  const post = (path: string, body: unknown, token?: string) =>
    request(t.baseUrl)
      .post(path)
      .set('authorization', `Bearer ${token ?? t.adminToken}`)
      .send(body as object);

  test('admin endpoints require a valid bearer token', async () => {
    const keys = newKeys();
    const body = { root: await makeRoot(t, keys), targets: await makeTargets(t, keys) };
    const none = await request(t.baseUrl).post('/admin/bootstrap').send(body);
    assert.equal(none.status, 401);
    assert.equal(none.body.error.code, 'unauthorized');
    const wrong = await post('/admin/bootstrap', body, 'tufadm_' + 'x'.repeat(40));
    assert.equal(wrong.status, 401);
    assert.equal((await dbState(t)).metadata, 0);
  });

  test('readyz says not ready until bootstrapped; healthz is up', async () => {
    assert.equal((await request(t.baseUrl).get('/healthz')).status, 200);
    const ready = await request(t.baseUrl).get('/readyz');
    assert.equal(ready.status, 503);
    assert.equal(ready.body.checks.database.ok, true);
    assert.equal(ready.body.checks.bootstrapped.ok, false);
  });

  test('refusals: each gets a clear 4xx and changes nothing', async () => {
    const keys = newKeys(3, 1);
    const targets = await makeTargets(t, keys);
    const before = await dbState(t);
    const cases: [string, unknown, number, string][] = [
      [
        'under-signed root (1 of threshold 2)',
        { root: await makeRoot(t, keys, { rootThreshold: 2, signWith: [0] }), targets },
        403,
        'threshold_not_met',
      ],
      [
        'root without the server online keys',
        {
          root: await makeRoot(t, keys, {
            online: {
              snapshot: privateKeySigner(generatePrivateKey('ed25519')).publicKey,
              timestamp: privateKeySigner(generatePrivateKey('ed25519')).publicKey,
            },
          }),
          targets,
        },
        422,
        'online_keys_mismatch',
      ],
      ['expired root', { root: await makeRoot(t, keys, { expires: '2020-01-01T00:00:00Z' }), targets }, 422, 'expired'],
      ['root version 2 at bootstrap', { root: await makeRoot(t, keys, { version: 2 }), targets }, 409, 'version_not_next'],
      [
        'targets signed by a root key',
        { root: await makeRoot(t, keys), targets: await signEnvelope(targets.signed, [privateKeySigner(keys.root[0]!)]) },
        403,
        'threshold_not_met',
      ],
      ['malformed root', { root: { signed: 'nope', signatures: [] }, targets }, 400, 'malformed'],
      ['missing targets', { root: await makeRoot(t, keys) }, 400, 'bad_request'],
    ];
    for (const [what, body, status, code] of cases) {
      const res = await post('/admin/bootstrap', body);
      assert.equal(res.status, status, `${what}: ${JSON.stringify(res.body)}`);
      assert.equal(res.body.error.code, code, what);
      assert.ok(res.body.error.message.length > 10, what);
    }
    const notJson = await request(t.baseUrl)
      .post('/admin/bootstrap')
      .set('authorization', `Bearer ${t.adminToken}`)
      .set('content-type', 'application/json')
      .send('{"root": ');
    assert.equal(notJson.status, 400);
    assert.equal(notJson.body.error.code, 'malformed');
    assert.deepEqual(await dbState(t), before);
  });
});

describe('a bootstrapped repository', () => {
  let t: TestRepo;
  let keys: ReturnType<typeof newKeys>;
  let targetsV1: Awaited<ReturnType<typeof makeTargets>>;
  before(async () => {
    t = await startTestRepo();
    keys = newKeys(3, 1);
    const root = await makeRoot(t, keys, { rootThreshold: 2, signWith: [0, 2] });
    targetsV1 = await makeTargets(t, keys);
    const res = await request(t.baseUrl)
      .post('/admin/bootstrap')
      .set('authorization', `Bearer ${t.adminToken}`)
      .send({ root, targets: targetsV1 });
    assert.equal(res.status, 201, JSON.stringify(res.body));
  });
  after(async () => t.close());

  const admin = (method: 'post' | 'put', path: string) => request(t.baseUrl)[method](path).set('authorization', `Bearer ${t.adminToken}`);

  test('serves v1 metadata in the consistent-snapshot layout with caching headers', async () => {
    for (const name of ['1.root.json', '1.targets.json', '1.snapshot.json']) {
      const res = await request(t.baseUrl).get(`/metadata/${name}`).set('accept-encoding', 'identity');
      assert.equal(res.status, 200, name);
      assert.match(String(res.headers['content-type']), /application\/json/);
      assert.equal(res.headers['cache-control'], 'public, max-age=31536000, immutable');
      assert.equal(res.headers.etag, `"${sha256Hex(Buffer.from(res.text))}"`);
      const again = await request(t.baseUrl).get(`/metadata/${name}`).set('if-none-match', String(res.headers.etag));
      assert.equal(again.status, 304);
    }
    const ts = await request(t.baseUrl).get('/metadata/timestamp.json');
    assert.equal(ts.status, 200);
    assert.match(String(ts.headers['cache-control']), /max-age=30$/);
    const snapshot = await request(t.baseUrl).get('/metadata/1.snapshot.json');
    // Timestamp lists the exact hash and length of the snapshot bytes served.
    assert.deepEqual(JSON.parse(ts.text).signed.meta['snapshot.json'], {
      version: 1,
      length: Buffer.byteLength(snapshot.text),
      hashes: { sha256: sha256Hex(Buffer.from(snapshot.text)) },
    });
    for (const missing of ['2.root.json', '1.timestamp.json', 'root.json', '1.nothing.json', '..%2F1.root.json']) {
      assert.equal((await request(t.baseUrl).get(`/metadata/${missing}`)).status, 404, missing);
    }
  });

  test('a new targets version: files first, then metadata; snapshot and timestamp follow', async () => {
    const file = Buffer.from('release 1.0\n');
    const next = editedTargetsSigned(targetsV1.signed, { add: { 'pkgs/app-1.0.tgz': describeTarget(file) } }, t.clock.now());
    const envelope = await signEnvelope(next, [privateKeySigner(keys.targets[0]!)]);
    const early = await admin('post', '/admin/metadata/targets').send(envelope);
    assert.equal(early.status, 422);
    assert.equal(early.body.error.code, 'target_file_missing');
    const put = await admin('put', '/admin/blobs').set('content-type', 'application/octet-stream').send(file);
    assert.equal(put.status, 201);
    assert.equal(put.body.sha256, sha256Hex(file));
    const ok = await admin('post', '/admin/metadata/targets').send(envelope);
    assert.equal(ok.status, 201, JSON.stringify(ok.body));
    assert.deepEqual(
      ok.body.published.map((p: { role: string }) => p.role),
      ['targets', 'snapshot', 'timestamp'],
    );
    const snap = JSON.parse((await request(t.baseUrl).get('/metadata/2.snapshot.json')).text);
    assert.equal(snap.signed.meta['targets.json'].version, 2);
    const served = await request(t.baseUrl)
      .get(`/targets/pkgs/${sha256Hex(file)}.app-1.0.tgz`)
      .buffer(true);
    assert.equal(served.status, 200);
    assert.ok(Buffer.from(served.body).equals(file));
    assert.equal((await request(t.baseUrl).get(`/targets/pkgs/${'0'.repeat(64)}.app-1.0.tgz`)).status, 404);
    // Replay of the same version, and a skipped version, are refused.
    const replay = await admin('post', '/admin/metadata/targets').send(envelope);
    assert.equal(replay.status, 409);
    assert.equal(replay.body.error.code, 'version_not_next');
    const skip = await signEnvelope({ ...next, version: 4 }, [privateKeySigner(keys.targets[0]!)]);
    assert.equal((await admin('post', '/admin/metadata/targets').send(skip)).body.error.code, 'version_not_next');
    const audit = await admin('post', '/admin/bootstrap').send({});
    assert.equal(audit.status, 400);
  });

  test('root v2 is accepted with 2 of 3 old keys; v1-only or under-signed versions are refused', async () => {
    const v1 = JSON.parse((await request(t.baseUrl).get('/metadata/1.root.json')).text);
    const v2 = bumpedRootSigned(v1.signed, t.clock.now());
    const under = await signEnvelope(v2, [privateKeySigner(keys.root[1]!)]);
    const refused = await admin('post', '/admin/metadata/root').send(under);
    assert.equal(refused.status, 403);
    assert.equal(refused.body.error.code, 'threshold_not_met');
    assert.equal((await request(t.baseUrl).get('/metadata/2.root.json')).status, 404);
    const ok = await admin('post', '/admin/metadata/root').send(
      await signEnvelope(v2, [privateKeySigner(keys.root[0]!), privateKeySigner(keys.root[1]!)]),
    );
    assert.equal(ok.status, 201, JSON.stringify(ok.body));
    const served = await request(t.baseUrl).get('/metadata/2.root.json');
    assert.equal(served.status, 200);
    assert.equal(JSON.parse(served.text).signed.version, 2);
  });

  test('the audit log records who did what, and refuses to be rewritten', async () => {
    const res = await request(t.baseUrl).get('/admin/audit?limit=50').set('authorization', `Bearer ${t.adminToken}`);
    assert.equal(res.status, 200);
    const actions = res.body.entries.map((e: { action: string }) => e.action);
    for (const a of ['root.accepted', 'targets.accepted', 'snapshot.signed', 'timestamp.signed', 'blob.stored'])
      assert.ok(actions.includes(a), a);
    assert.ok(res.body.entries.some((e: { actor: string }) => e.actor.startsWith('admin-token:')));
    await assert.rejects(t.repo.knex('audit_log').update({ actor: 'someone else' }), /append-only/);
    await assert.rejects(t.repo.knex('audit_log').delete(), /append-only/);
  });

  test('readyz is ready; metrics expose versions, expiry and upload outcomes', async () => {
    const ready = await request(t.baseUrl).get('/readyz');
    assert.equal(ready.status, 200, JSON.stringify(ready.body));
    const metrics = (await request(t.baseUrl).get('/metrics')).text;
    assert.match(metrics, /tuf_role_version\{role="timestamp"\} \d+/);
    assert.match(metrics, /tuf_role_expires_in_seconds\{role="root"\} \d+/);
    assert.match(metrics, /tuf_uploads_total\{kind="targets",result="refused",reason="version_not_next"\} [1-9]/);
    assert.match(metrics, /http_requests_total\{method="GET",route="\/metadata\/:name",status="200"\} [1-9]/);
  });

  test('timestamp is re-signed once half its lifetime is gone, snapshot at half of its own', async () => {
    const versionOf = async (name: string) => JSON.parse((await request(t.baseUrl).get(`/metadata/${name}`)).text).signed.version as number;
    const ts0 = await versionOf('timestamp.json');
    await t.repo.resignTick();
    assert.equal(await versionOf('timestamp.json'), ts0, 'nothing due yet');
    t.clock.advanceSeconds(13 * 3600);
    await t.repo.resignTick();
    const ts1 = await versionOf('timestamp.json');
    assert.equal(ts1, ts0 + 1);
    const snapHead = t.repo.cache.head('snapshot')!.version;
    t.clock.advanceSeconds(4 * 86_400);
    await t.repo.resignTick();
    assert.equal(t.repo.cache.head('snapshot')!.version, snapHead + 1);
    assert.equal(await versionOf('timestamp.json'), ts1 + 1);
    const ts = JSON.parse((await request(t.baseUrl).get('/metadata/timestamp.json')).text);
    assert.ok(Date.parse(ts.signed.expires) > t.clock.now().getTime() + 23 * 3600 * 1000);
  });
});

test('served bytes are compact JSON of the document, valid even with PEM keys', async () => {
  const t = await startTestRepo();
  try {
    const keys = newKeys(2, 1);
    const root = await makeRoot(t, keys);
    await t.repo.admission.bootstrap(root, await makeTargets(t, keys), 'test');
    const served = (await request(t.baseUrl).get('/metadata/1.root.json')).text;
    assert.equal(served, JSON.stringify(root));
    assert.notEqual(served, canonicalBytes(root).toString(), 'the ecdsa PEM key makes canonical JSON invalid JSON');
    assert.ok(expiresAfter(t.clock.now(), 1).endsWith('Z'));
  } finally {
    await t.close();
  }
});
