// Key rotation, revocation and recovery, followed by clients that last updated before each change:
// an unmodified tuf-js Updater for the top-level chain, the identity-aware client for projects.
import assert from 'node:assert/strict';
import type { KeyObject } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import request from 'supertest';
import { Updater } from 'tuf-js';
import { editedRootSigned, editedTargetsSigned } from '../core/ceremony.ts';
import type { JsonObject } from '../core/canonical.ts';
import { encodePrivateKeyFile, publicKeyFileOf } from '../core/keyFile.ts';
import { generatePrivateKey, keyidOf } from '../core/keys.ts';
import { buildTargetsSigned, describeTarget, expiresAfter, signEnvelope, type Envelope } from '../core/metadata.ts';
import { privateKeySigner } from '../core/signer.ts';
import { IdentityClient } from '../client/identityUpdater.ts';
import { mustRun } from './helpers/cli.ts';
import { bootstrappedWithSigstore, delegateProject, signAs, type CeremonyKeys, type TestRepo } from './helpers/repo.ts';

let t: TestRepo;
let keys: CeremonyKeys;
let work: string;
const pub = (k: KeyObject) => privateKeySigner(k).publicKey;
const signers = (ks: KeyObject[]) => ks.map(privateKeySigner);

before(async () => {
  ({ t, keys } = await bootstrappedWithSigstore());
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'tuf-rotation-'));
  fs.writeFileSync(path.join(work, '1.root.json'), (await request(t.baseUrl).get('/metadata/1.root.json')).text);
});
after(async () => t.close());

const admin = (p: string) => request(t.baseUrl).post(p).set('authorization', `Bearer ${t.adminToken}`);

async function currentRoot(): Promise<Envelope> {
  return JSON.parse((await request(t.baseUrl).get(`/metadata/${t.repo.cache.head('root')!.version}.root.json`)).text);
}
async function currentTargets(): Promise<Envelope> {
  return JSON.parse((await request(t.baseUrl).get(`/metadata/${t.repo.cache.head('targets')!.version}.targets.json`)).text);
}

/** Where a client keeps its trusted state between refreshes; starts from root v1. */
function clientOptions(name: string) {
  const metadataDir = path.join(work, name, 'metadata');
  if (!fs.existsSync(metadataDir)) {
    fs.mkdirSync(metadataDir, { recursive: true });
    fs.copyFileSync(path.join(work, '1.root.json'), path.join(metadataDir, 'root.json'));
  }
  return {
    metadataDir,
    metadataBaseUrl: `${t.baseUrl}/metadata`,
    targetDir: path.join(work, name, 'targets'),
    targetBaseUrl: `${t.baseUrl}/targets`,
  };
}
const updater = (name: string) => new Updater(clientOptions(name));
const identityClient = (name: string) => new IdentityClient(clientOptions(name));
function trusted(name: string, role: string): Envelope {
  return JSON.parse(fs.readFileSync(path.join(work, name, 'metadata', `${role}.json`), 'utf8'));
}

const A = keys_();
function keys_() {
  return {
    b: generatePrivateKey('ed25519'),
    c: generatePrivateKey('ecdsa'),
    d: generatePrivateKey('ed25519'),
    e: generatePrivateKey('ed25519'),
    f: generatePrivateKey('ed25519'),
  };
}

test('the client that trusted root v1 follows two rotations: threshold 1 -> 2, then every original key replaced', async () => {
  await updater('old').refresh();
  assert.equal(trusted('old', 'root').signed.version, 1);
  const original = keys.root[0]!;
  // v2: root keys original + B + C, threshold 2; signed by v1's threshold (original) and 2 of v2's.
  const v2 = editedRootSigned(
    (await currentRoot()).signed,
    {
      add: [
        { role: 'root', key: pub(A.b) },
        { role: 'root', key: pub(A.c) },
      ],
      thresholds: { root: 2 },
    },
    t.clock.now(),
  );
  const r2 = await admin('/admin/metadata/root').send(await signEnvelope(v2, signers([original, A.b])));
  assert.equal(r2.status, 201, JSON.stringify(r2.body));
  // v3: only D and E, threshold 1: signed by 2 of v2's keys and by one of its own.
  const v3 = editedRootSigned(
    v2,
    {
      remove: [
        { role: 'root', keyid: keyidOf(pub(original)) },
        { role: 'root', keyid: keyidOf(pub(A.b)) },
        { role: 'root', keyid: keyidOf(pub(A.c)).slice(0, 12) },
      ],
      add: [
        { role: 'root', key: pub(A.d) },
        { role: 'root', key: pub(A.e) },
      ],
      thresholds: { root: 1 },
    },
    t.clock.now(),
  );
  const r3 = await admin('/admin/metadata/root').send(await signEnvelope(v3, signers([A.b, A.c, A.d])));
  assert.equal(r3.status, 201, JSON.stringify(r3.body));
  await updater('old').refresh();
  assert.equal(trusted('old', 'root').signed.version, 3);
  assert.ok(!Object.keys(trusted('old', 'root').signed.keys as object).includes(keyidOf(pub(original))));
});

test('root N+1 signed only by the new keys, or only by the old ones, is refused', async () => {
  const v4 = editedRootSigned(
    (await currentRoot()).signed,
    {
      remove: [
        { role: 'root', keyid: keyidOf(pub(A.d)) },
        { role: 'root', keyid: keyidOf(pub(A.e)) },
      ],
      add: [{ role: 'root', key: pub(A.f) }],
    },
    t.clock.now(),
  );
  for (const [what, by] of [
    ['only new keys', [A.f]],
    ['only old keys', [A.d, A.e]],
  ] as const) {
    const res = await admin('/admin/metadata/root').send(await signEnvelope(v4, signers([...by])));
    assert.equal(res.status, 403, what);
    assert.equal(res.body.error.code, 'threshold_not_met', what);
  }
  assert.equal(t.repo.cache.head('root')!.version, 3);
});

test('online key rotation: the server signs with the new keys as soon as root names them', async () => {
  await updater('old').refresh();
  const ts = t.repo.keyStore;
  const newSnapshot = await ts.create('snapshot');
  const newTimestamp = await ts.create('timestamp');
  // A root naming a key the server does not hold is refused.
  const stranger = privateKeySigner(generatePrivateKey('ed25519')).publicKey;
  const bad = editedRootSigned(
    (await currentRoot()).signed,
    { online: { snapshot: newSnapshot.publicKey, timestamp: stranger } },
    t.clock.now(),
  );
  const refused = await admin('/admin/metadata/root').send(await signEnvelope(bad, signers([A.d])));
  assert.equal(refused.status, 422);
  assert.equal(refused.body.error.code, 'online_keys_mismatch');

  const v4 = editedRootSigned(
    (await currentRoot()).signed,
    { online: { snapshot: newSnapshot.publicKey, timestamp: newTimestamp.publicKey } },
    t.clock.now(),
  );
  const res = await admin('/admin/metadata/root').send(await signEnvelope(v4, signers([A.d])));
  assert.equal(res.status, 201, JSON.stringify(res.body));
  assert.deepEqual(
    res.body.published.map((p: { role: string }) => p.role),
    ['root', 'snapshot', 'timestamp'],
  );
  const timestamp = JSON.parse((await request(t.baseUrl).get('/metadata/timestamp.json')).text) as Envelope;
  assert.deepEqual(
    timestamp.signatures.map((s) => s.keyid),
    [newTimestamp.keyid],
  );
  await updater('old').refresh();
  assert.equal(trusted('old', 'root').signed.version, 4);
  assert.equal(trusted('old', 'timestamp').signatures[0]!.keyid, newTimestamp.keyid);
  // Re-signing later still uses the key root names, not the old one.
  t.clock.advanceSeconds(13 * 3600);
  await t.repo.resignTick();
  const later = JSON.parse((await request(t.baseUrl).get('/metadata/timestamp.json')).text) as Envelope;
  assert.deepEqual(
    later.signatures.map((s) => s.keyid),
    [newTimestamp.keyid],
  );
  await updater('old').refresh();
});

test('targets key rotation goes through root, with targets re-signed by the new key in the same step', async () => {
  const newTargetsKey = generatePrivateKey('ed25519');
  const v5 = editedRootSigned(
    (await currentRoot()).signed,
    {
      remove: [{ role: 'targets', keyid: keyidOf(pub(keys.targets[0]!)) }],
      add: [{ role: 'targets', key: pub(newTargetsKey) }],
    },
    t.clock.now(),
  );
  const rootEnv = await signEnvelope(v5, signers([A.d]));
  const alone = await admin('/admin/metadata/root').send(rootEnv);
  assert.equal(alone.status, 409);
  assert.equal(alone.body.error.code, 'targets_resign_required');
  const targets = await currentTargets();
  const resigned = await signEnvelope(editedTargetsSigned(targets.signed, {}, t.clock.now()), [privateKeySigner(newTargetsKey)]);
  const both = await admin('/admin/metadata/root').send({ root: rootEnv, targets: resigned });
  assert.equal(both.status, 201, JSON.stringify(both.body));
  keys.targets[0] = newTargetsKey; // later delegations are signed with the new key
  await updater('old').refresh();
  assert.equal(trusted('old', 'root').signed.version, 5);
  assert.equal(trusted('old', 'targets').signed.version, (targets.signed.version as number) + 1);
  assert.deepEqual(
    trusted('old', 'targets').signatures.map((s) => s.keyid),
    [keyidOf(pub(newTargetsKey))],
  );
});

test('edit-root on the command line: a threshold raise pushed with tuf-carry', async () => {
  const dir = path.join(work, 'cli');
  fs.mkdirSync(dir, { recursive: true });
  const env = { TUF_KEY_PASSPHRASE: 'rotation test passphrase' };
  for (const [name, key] of [
    ['d', A.d],
    ['e', A.e],
  ] as const) {
    const file = encodePrivateKeyFile(name, key, env.TUF_KEY_PASSPHRASE);
    fs.writeFileSync(path.join(dir, `${name}.key.json`), JSON.stringify(file));
    fs.writeFileSync(path.join(dir, `${name}.pub.json`), JSON.stringify(publicKeyFileOf(file)));
  }
  fs.writeFileSync(path.join(dir, '5.root.json'), JSON.stringify(await currentRoot()));
  await mustRun('keys-offline/main.ts', ['edit-root', '--from', '5.root.json', '--out', '6.root.json', '--root-threshold', '2'], env, dir);
  await mustRun('keys-offline/main.ts', ['sign', '6.root.json', '--key', 'd.key.json'], env, dir);
  await mustRun('keys-offline/main.ts', ['sign', '6.root.json', '--key', 'e.key.json'], env, dir);
  const status = await mustRun('keys-offline/main.ts', ['status', '6.root.json', '--previous', '5.root.json'], env, dir);
  assert.match(status, /root: 1 of \[[0-9a-f]{8}, [0-9a-f]{8}\] -> 2 of \[[0-9a-f]{8}, [0-9a-f]{8}\]/);
  assert.match(status, /previous root v5's root role: 2 of 2 keys signed, threshold 1: MET/);
  await mustRun('carry/main.ts', ['--server', t.baseUrl, 'push', '6.root.json'], { TUF_ADMIN_TOKEN: t.adminToken }, dir);
  await updater('old').refresh();
  assert.equal(trusted('old', 'root').signed.version, 6);
});

const ALICE = 'alice@example.com';
const BOB = 'bob@example.com';

async function publishRelease(project: string, version: number, files: Record<string, Buffer>, by: string[]): Promise<void> {
  const targets = Object.fromEntries(Object.entries(files).map(([p, b]) => [p, describeTarget(b)]));
  const signed: JsonObject = buildTargetsSigned({ version, expires: expiresAfter(t.clock.now(), 30 * 86_400), targets });
  const env = await signAs(
    t,
    signed,
    by.map((identity) => ({ identity })),
  );
  const res = await request(t.baseUrl)
    .post(`/api/v1/projects/${project}/uploads`)
    .send({ metadata: env, files: Object.fromEntries(Object.entries(files).map(([p, b]) => [p, b.toString('base64')])) });
  assert.equal(res.status, 201, JSON.stringify(res.body));
}

test('a maintainer replaced: the old release needs re-signing, clients refuse it until the new maintainer re-signs', async () => {
  // Delegations are signed with the current targets key (rotated above).
  await delegateProject(t, keys, 'app', [ALICE]);
  await publishRelease('app', 1, { 'app/app-1.0.tgz': Buffer.from('app 1.0') }, [ALICE]);
  const before = identityClient('users');
  assert.ok(await before.getTargetInfo('app/app-1.0.tgz'));

  await delegateProject(t, keys, 'app', [BOB]);
  const info = await request(t.baseUrl).get('/api/v1/projects/app');
  assert.match(info.body.needsResigning.reason, /v1 has 0 valid signature\(s\) of the 1 now required/);
  const listed = await request(t.baseUrl).get('/admin/projects/resign-needed').set('authorization', `Bearer ${t.adminToken}`);
  assert.deepEqual(
    listed.body.projects.map((p: { project: string }) => p.project),
    ['app'],
  );
  await assert.rejects(identityClient('users').getTargetInfo('app/app-1.0.tgz'), /signed by 0\/1 keys/);

  const out = await mustRun('maintainer/main.ts', ['resign', '--server', t.baseUrl, '--project', 'app', '--dev-identity', BOB]);
  assert.match(out, /published app v2/);
  assert.equal((await request(t.baseUrl).get('/api/v1/projects/app')).body.needsResigning, null);
  const file = await identityClient('users').download('app/app-1.0.tgz', path.join(work, 'app-1.0.tgz'));
  assert.equal(fs.readFileSync(file, 'utf8'), 'app 1.0');
});

test('an identity revoked: clients refuse what only that identity signed', async () => {
  await delegateProject(t, keys, 'lib', [ALICE, BOB], 1);
  await publishRelease('lib', 1, { 'lib/lib-1.0.tgz': Buffer.from('lib 1.0') }, [ALICE]);
  assert.ok(await identityClient('lib-user').getTargetInfo('lib/lib-1.0.tgz'));
  await delegateProject(t, keys, 'lib', [BOB], 1); // alice's account was compromised
  await assert.rejects(identityClient('lib-user').getTargetInfo('lib/lib-1.0.tgz'), /signed by 0\/1 keys/);
  // Alice can no longer publish either.
  const targets = { 'lib/lib-2.0.tgz': describeTarget(Buffer.from('evil')) };
  const env = await signAs(t, buildTargetsSigned({ version: 2, expires: expiresAfter(t.clock.now(), 86_400), targets }), [
    { identity: ALICE },
  ]);
  const res = await request(t.baseUrl)
    .post('/api/v1/projects/lib/uploads')
    .send({ metadata: env, files: { 'lib/lib-2.0.tgz': Buffer.from('evil').toString('base64') } });
  assert.equal(res.status, 403);
  assert.equal(res.body.error.code, 'threshold_not_met');
});

test('expiry warnings for offline roles, in the API and in /readyz', async () => {
  const ready = await request(t.baseUrl).get('/readyz');
  assert.equal(ready.status, 200);
  assert.deepEqual(ready.body.warnings, []);
  t.clock.advanceSeconds(340 * 86_400); // root and targets now expire within 30 days
  await t.repo.resignTick(); // keep timestamp and snapshot fresh at the new time
  const warned = await request(t.baseUrl).get('/readyz');
  assert.equal(warned.status, 200, 'a warning does not take the server out of service');
  assert.ok(
    warned.body.warnings.some((w: string) => /^root v\d+ expires in \d+ days/.test(w)),
    JSON.stringify(warned.body),
  );
  const status = await request(t.baseUrl).get('/admin/status').set('authorization', `Bearer ${t.adminToken}`);
  assert.ok(status.body.offlineExpiry.every((e: { warning: boolean }) => e.warning));
  t.clock.advanceSeconds(60 * 86_400);
  await t.repo.resignTick();
  const expired = await request(t.baseUrl).get('/readyz');
  assert.equal(expired.status, 503);
  assert.match(expired.body.checks.offlineRoles.detail, /expired/);
});
