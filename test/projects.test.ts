// Identity delegations end to end on the local Sigstore: registration, admin approval, publishing,
// thresholds, refusals, and a client that verifies identity-signed roles (and refuses the rest).
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import request from 'supertest';
import { Updater } from 'tuf-js';
import type { JsonObject } from '../core/canonical.ts';
import { registrationSigned } from '../core/delegations.ts';
import { identityKeyid } from '../core/identity.ts';
import { buildTargetsSigned, describeTarget, expiresAfter, servedBytes, type Envelope } from '../core/metadata.ts';
import { IdentityClient, identityVerificationInstalled } from '../client/identityUpdater.ts';
import { insertMetadataVersion } from '../server/db/metadataRepo.ts';
import { mustRun, runCli } from './helpers/cli.ts';
import { bootstrappedWithSigstore, delegateProject, signAs, type CeremonyKeys, type TestRepo } from './helpers/repo.ts';

const ALICE = 'alice@example.com';
const BOB = 'bob@example.com';
const MALLORY = 'mallory@example.com';

let t: TestRepo;
let keys: CeremonyKeys;
let work: string;

before(async () => {
  ({ t, keys } = await bootstrappedWithSigstore());
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'tuf-projects-'));
});
after(async () => t.close());

const upload = (project: string, metadata: Envelope, files: Record<string, Buffer> = {}) =>
  request(t.baseUrl)
    .post(`/api/v1/projects/${project}/uploads`)
    .send({ metadata, files: Object.fromEntries(Object.entries(files).map(([p, b]) => [p, b.toString('base64')])) });

function release(version: number, files: Record<string, Buffer>, days = 90): JsonObject {
  const targets = Object.fromEntries(Object.entries(files).map(([p, b]) => [p, describeTarget(b)]));
  return buildTargetsSigned({ version, expires: expiresAfter(t.clock.now(), days * 86_400), targets });
}

async function state() {
  const count = async (table: string) => Number((await t.repo.knex(table).count({ n: '*' }))[0]!.n);
  return {
    metadata: await count('metadata_versions'),
    pending: await count('pending_uploads'),
    registrations: await count('registrations'),
    blobs: await count('target_blobs'),
  };
}

function client(name: string, sigstoreTrustedRoot?: unknown): IdentityClient {
  const dir = path.join(work, name);
  const metadataDir = path.join(dir, 'metadata');
  if (!fs.existsSync(metadataDir)) {
    fs.mkdirSync(metadataDir, { recursive: true });
    fs.writeFileSync(path.join(metadataDir, 'root.json'), fs.readFileSync(path.join(work, 'root.json')));
  }
  return new IdentityClient({
    metadataBaseUrl: `${t.baseUrl}/metadata`,
    targetBaseUrl: `${t.baseUrl}/targets`,
    metadataDir,
    targetDir: path.join(dir, 'targets'),
    ...(sigstoreTrustedRoot !== undefined ? { sigstoreTrustedRoot } : {}),
  });
}

describe('registration', () => {
  test('a maintainer registers with the CLI; the admin sees it and delegates offline; it becomes approved', async () => {
    fs.writeFileSync(path.join(work, 'root.json'), (await request(t.baseUrl).get('/metadata/1.root.json')).text);
    const out = await mustRun('maintainer/main.ts', ['register', '--server', t.baseUrl, '--project', 'demo', '--dev-identity', ALICE]);
    assert.match(out, /registration \d+ for demo by alice@example.com/);
    const again = await runCli('maintainer/main.ts', [
      'register',
      '--server',
      t.baseUrl,
      '--project',
      'bad..name',
      '--dev-identity',
      ALICE,
    ]);
    assert.equal(again.status, 1);
    assert.match(again.stderr, /bad\.\.name/);

    await mustRun('carry/main.ts', ['--server', t.baseUrl, 'pull', '--out', path.join(work, 'pulled')], { TUF_ADMIN_TOKEN: t.adminToken });
    const pulled = JSON.parse(fs.readFileSync(path.join(work, 'pulled', 'registrations.json'), 'utf8'));
    assert.deepEqual(
      pulled.registrations.map((r: { project: string; identity: string; issuer: string }) => [r.project, r.identity, r.issuer]),
      [['demo', ALICE, t.sigstore.sigstore.issuerUrl]],
    );

    // The offline tool turns it into a delegation (the admin signs it; here with the test's key).
    const current = fs.readdirSync(path.join(work, 'pulled')).find((f) => f.endsWith('.targets.json'))!;
    await mustRun('keys-offline/main.ts', [
      'delegate',
      '--from',
      path.join(work, 'pulled', current),
      '--out',
      path.join(work, 'next.targets.json'),
      '--project',
      'demo',
      '--registrations',
      path.join(work, 'pulled', 'registrations.json'),
    ]);
    const next = JSON.parse(fs.readFileSync(path.join(work, 'next.targets.json'), 'utf8')) as Envelope;
    const role = (next.signed.delegations as { roles: { name: string; paths: string[]; keyids: string[] }[] }).roles[0]!;
    assert.deepEqual(role.paths, ['demo/*']);
    assert.deepEqual(role.keyids, [identityKeyid(ALICE, t.sigstore.sigstore.issuerUrl)]);
    await delegateProject(t, keys, 'demo', [ALICE]);
    const approved = await request(t.baseUrl).get('/admin/registrations?status=approved').set('authorization', `Bearer ${t.adminToken}`);
    assert.equal(approved.body.registrations.length, 1);
  });

  test('claims on a delegated project, stale or forged requests are refused', async () => {
    const before = await state();
    const issuer = t.sigstore.sigstore.issuerUrl;
    const taken = await signAs(t, registrationSigned('demo', { identity: BOB, issuer }, t.clock.now()), [{ identity: BOB }]);
    const takenRes = await request(t.baseUrl).post('/api/v1/registrations').send(taken);
    assert.equal(takenRes.status, 409);
    assert.equal(takenRes.body.error.code, 'already_delegated');
    const stale = await signAs(t, registrationSigned('other', { identity: BOB, issuer }, new Date(t.clock.now().getTime() - 3600_000)), [
      { identity: BOB },
    ]);
    assert.equal((await request(t.baseUrl).post('/api/v1/registrations').send(stale)).body.error.code, 'stale_request');
    // Claims to be alice, signed by mallory.
    const forged = await signAs(t, registrationSigned('other', { identity: ALICE, issuer }, t.clock.now()), [
      { identity: MALLORY, keyIssuer: issuer },
    ]);
    const forgedRes = await request(t.baseUrl).post('/api/v1/registrations').send(forged);
    assert.equal(forgedRes.status, 403);
    assert.match(forgedRes.body.error.message, /mallory/);
    for (const name of ['1234', 'a/b', 'Demo', 'x'.repeat(70)]) {
      const bad = {
        signed: { _type: 'registration', project: name, identity: BOB, issuer, requested_at: expiresAfter(t.clock.now(), 0) },
        signatures: [{ keyid: 'x', sig: 'x' }],
      };
      assert.equal((await request(t.baseUrl).post('/api/v1/registrations').send(bad)).body.error.code, 'bad_role_name', name);
    }
    assert.deepEqual(await state(), before);
  });
});

describe('publishing', () => {
  const v1 = { 'demo/demo-1.0.tgz': Buffer.from('demo 1.0 release bytes\n') };

  test('a delegated identity publishes; snapshot, timestamp and the client follow', async () => {
    const res = await upload('demo', await signAs(t, release(1, v1), [{ identity: ALICE }]), v1);
    assert.equal(res.status, 201, JSON.stringify(res.body));
    assert.equal(res.body.status, 'published');
    // The answer names the versions that carry the upload, and nothing more (no signed bytes).
    const snapshotVersion = t.repo.cache.head('snapshot')!.version;
    assert.deepEqual(res.body.published, [
      { role: 'demo', version: 1 },
      { role: 'snapshot', version: snapshotVersion },
      { role: 'timestamp', version: t.repo.cache.head('timestamp')!.version },
    ]);
    const snapshot = JSON.parse((await request(t.baseUrl).get(`/metadata/${snapshotVersion}.snapshot.json`)).text);
    assert.equal(snapshot.signed.meta['demo.json'].version, 1);
    const c = client('c1');
    const file = await c.download('demo/demo-1.0.tgz', path.join(work, 'c1', 'out.tgz'));
    assert.equal(fs.readFileSync(file, 'utf8'), 'demo 1.0 release bytes\n');
  });

  test('the client command fetches, and verify reports each signature', async () => {
    const out = await mustRun('client/main.ts', [
      'fetch',
      'demo/demo-1.0.tgz',
      '--server',
      t.baseUrl,
      '--root',
      path.join(work, 'root.json'),
      '--dir',
      path.join(work, 'cli-client'),
      '--out',
      path.join(work, 'cli.tgz'),
    ]);
    assert.match(out, /verified and saved/);
    assert.equal(fs.readFileSync(path.join(work, 'cli.tgz'), 'utf8'), 'demo 1.0 release bytes\n');
    fs.writeFileSync(path.join(work, 'sigstore-root.json'), JSON.stringify(t.sigstore.setup.trustedRoot));
    fs.writeFileSync(path.join(work, 'demo.json'), (await request(t.baseUrl).get('/metadata/1.demo.json')).text);
    const targetsVersion = t.repo.cache.head('targets')!.version;
    fs.writeFileSync(path.join(work, 'targets.json'), (await request(t.baseUrl).get(`/metadata/${targetsVersion}.targets.json`)).text);
    const verify = await runCli('client/main.ts', [
      'verify',
      path.join(work, 'demo.json'),
      '--delegator',
      path.join(work, 'targets.json'),
      '--role',
      'demo',
      '--sigstore-trusted-root',
      path.join(work, 'sigstore-root.json'),
    ]);
    assert.equal(verify.status, 0, verify.stderr);
    assert.match(verify.stdout, /demo v1: 1\/1 valid signatures, threshold MET/);
    assert.match(verify.stdout, /alice@example\.com \(http:\/\/127\.0\.0\.1:\d+\/oidc\)\s+valid/);
    // Against the public-good trusted root the local signature cannot verify: exit 1.
    const strange = await runCli('client/main.ts', [
      'verify',
      path.join(work, 'demo.json'),
      '--delegator',
      path.join(work, 'targets.json'),
      '--role',
      'demo',
    ]);
    assert.equal(strange.status, 1);
    assert.match(strange.stdout, /NOT MET/);
  });

  test('refusals change nothing: other identity, other issuer, paths outside the project, replays, skips, expiry, bad files', async () => {
    const before = await state();
    const v2 = { 'demo/demo-2.0.tgz': Buffer.from('2.0') };
    const cases: [string, Promise<request.Response>, number, string][] = [
      ['identity not delegated', upload('demo', await signAs(t, release(2, v2), [{ identity: MALLORY }]), v2), 403, 'threshold_not_met'],
      [
        'same e-mail, other issuer',
        upload(
          'demo',
          await signAs(t, release(2, v2), [{ identity: ALICE, issuer: 'other', keyIssuer: t.sigstore.sigstore.issuerUrl }]),
          v2,
        ),
        403,
        'threshold_not_met',
      ],
      [
        'path outside the project',
        upload('demo', await signAs(t, release(2, { 'other/x.tgz': Buffer.from('x') }), [{ identity: ALICE }]), {
          'other/x.tgz': Buffer.from('x'),
        }),
        403,
        'path_not_delegated',
      ],
      [
        'nested path',
        upload('demo', await signAs(t, release(2, { 'demo/sub/x.tgz': Buffer.from('x') }), [{ identity: ALICE }]), {
          'demo/sub/x.tgz': Buffer.from('x'),
        }),
        403,
        'path_not_delegated',
      ],
      ['replayed version', upload('demo', await signAs(t, release(1, v1), [{ identity: ALICE }]), v1), 409, 'version_not_next'],
      ['skipped version', upload('demo', await signAs(t, release(3, v2), [{ identity: ALICE }]), v2), 409, 'version_not_next'],
      ['expiry too far', upload('demo', await signAs(t, release(2, v2, 400), [{ identity: ALICE }]), v2), 422, 'expiry_too_far'],
      [
        'file not matching its hash',
        upload('demo', await signAs(t, release(2, v2), [{ identity: ALICE }]), { 'demo/demo-2.0.tgz': Buffer.from('2.1') }),
        422,
        'target_hash_mismatch',
      ],
      ['project not delegated', upload('nobody', await signAs(t, release(1, v2), [{ identity: ALICE }]), v2), 404, 'not_delegated'],
    ];
    for (const [what, pending, status, code] of cases) {
      const res = await pending;
      assert.equal(res.status, status, `${what}: ${JSON.stringify(res.body)}`);
      assert.equal(res.body.error.code, code, what);
    }
    // Signed bytes changed after signing: the signature no longer verifies.
    const tampered = await signAs(t, release(2, v2), [{ identity: ALICE }]);
    (tampered.signed as { expires: string }).expires = expiresAfter(t.clock.now(), 80 * 86_400);
    assert.equal((await upload('demo', tampered, v2)).body.error.code, 'threshold_not_met');
    const after = await state();
    assert.deepEqual({ ...after, blobs: 0 }, { ...before, blobs: 0 }, 'no metadata, pending or registration changed');
  });

  test('an expired or foreign token fails at signing with a clear error that never shows the token', async () => {
    const expired = await t.sigstore.sigstore.mintToken({ identity: ALICE, expiresInSeconds: -120 });
    const tokenFile = path.join(work, 'expired.jwt');
    fs.writeFileSync(tokenFile, expired);
    fs.writeFileSync(path.join(work, 'demo-2.0.tgz'), '2.0');
    const before = await state();
    const res = await runCli('maintainer/main.ts', [
      'publish',
      '--server',
      t.baseUrl,
      '--project',
      'demo',
      '--token-file',
      tokenFile,
      path.join(work, 'demo-2.0.tgz'),
    ]);
    assert.equal(res.status, 1);
    assert.match(res.stderr, /Sigstore signing failed.*401/);
    assert.ok(!res.stderr.includes(expired) && !res.stdout.includes(expired), 'token not shown');
    const foreign = await runCli(
      'maintainer/main.ts',
      ['publish', '--server', t.baseUrl, '--project', 'demo', path.join(work, 'demo-2.0.tgz')],
      {
        SIGSTORE_ID_TOKEN:
          'eyJhbGciOiJub25lIn0.eyJpc3MiOiJodHRwczovL2V2aWwuZXhhbXBsZSIsImVtYWlsIjoiYWxpY2VAZXhhbXBsZS5jb20iLCJlbWFpbF92ZXJpZmllZCI6dHJ1ZX0.',
      },
    );
    assert.equal(foreign.status, 1);
    assert.match(foreign.stderr, /not a maintainer of demo/);
    assert.doesNotMatch(foreign.stderr, /eyJ/);
    assert.deepEqual(await state(), before);
  });

  test('the maintainer CLI publishes the next version', async () => {
    const out = await mustRun('maintainer/main.ts', [
      'publish',
      '--server',
      t.baseUrl,
      '--project',
      'demo',
      '--dev-identity',
      ALICE,
      path.join(work, 'demo-2.0.tgz'),
    ]);
    assert.match(out, /published demo v2/);
    const c = client('c1');
    await c.refresh();
    assert.ok(await c.getTargetInfo('demo/demo-1.0.tgz'), 'earlier files stay listed');
    assert.ok(await c.getTargetInfo('demo/demo-2.0.tgz'));
  });
});

describe('a project with threshold 2', () => {
  before(async () => delegateProject(t, keys, 'pair', [ALICE, BOB], 2));
  const files = { 'pair/pair-1.0.tgz': Buffer.from('pair 1.0') };

  test('one signature is held pending, not published; a second over the same bytes publishes', async () => {
    const signed = release(1, files);
    const first = await upload('pair', await signAs(t, signed, [{ identity: ALICE }]), files);
    assert.equal(first.status, 202, JSON.stringify(first.body));
    assert.deepEqual([first.body.status, first.body.signatures, first.body.threshold], ['pending', 1, 2]);
    assert.equal((await request(t.baseUrl).get('/metadata/1.pair.json')).status, 404);
    const info = await request(t.baseUrl).get('/api/v1/projects/pair');
    assert.equal(info.body.pending.length, 1);
    // The same signature again does not count twice.
    const again = await upload('pair', await signAs(t, signed, [{ identity: ALICE }]), files);
    assert.equal(again.body.signatures, 1);
    const out = await mustRun('maintainer/main.ts', ['cosign', '--server', t.baseUrl, '--project', 'pair', '--dev-identity', BOB]);
    assert.match(out, /published pair v1/);
    const published = JSON.parse((await request(t.baseUrl).get('/metadata/1.pair.json')).text) as Envelope;
    assert.equal(published.signatures.length, 2);
    assert.equal((await request(t.baseUrl).get('/api/v1/projects/pair')).body.pending.length, 0);
  });

  test('a pending version overtaken by a newer one is dropped with a reason', async () => {
    const a = { 'pair/pair-2.0.tgz': Buffer.from('2.0 by alice') };
    const b = { 'pair/pair-2.0.tgz': Buffer.from('2.0 by both') };
    assert.equal((await upload('pair', await signAs(t, release(2, a), [{ identity: ALICE }]), a)).status, 202);
    assert.equal((await upload('pair', await signAs(t, release(2, b), [{ identity: ALICE }, { identity: BOB }]), b)).status, 201);
    const rows = await t.repo.knex('pending_uploads').where({ role: 'pair', version: 2 }).select('status', 'reason');
    assert.deepEqual(rows.map((r) => r.status).sort(), ['dropped']);
    assert.match(rows[0].reason, /overtaken: version 2 of pair was published/);
  });
});

describe('clients refuse what the delegated identities did not sign', () => {
  test('the identity extension is installed and an unmodified tuf-js cannot verify identity roles', async () => {
    assert.equal(identityVerificationInstalled(), true);
    // Outside an IdentityClient, the patched verifier has no Sigstore verifier and fails closed.
    const dir = path.join(work, 'plain');
    fs.mkdirSync(path.join(dir, 'metadata'), { recursive: true });
    fs.copyFileSync(path.join(work, 'root.json'), path.join(dir, 'metadata', 'root.json'));
    const plain = new Updater({
      metadataBaseUrl: `${t.baseUrl}/metadata`,
      targetBaseUrl: `${t.baseUrl}/targets`,
      metadataDir: path.join(dir, 'metadata'),
      targetDir: path.join(dir, 'targets'),
    });
    await plain.refresh();
    await assert.rejects(plain.getTargetInfo('demo/demo-1.0.tgz'), /signed by 0\/1 keys/);
  });

  test("roles that reached the repository without the delegated identity's signature are refused by the client", async () => {
    // Bypass the server's checks, as a compromised server or database would, and publish roles for
    // demo that the delegated identity (alice) did not sign.
    const issuer = t.sigstore.sigstore.issuerUrl;
    const aliceKeyid = identityKeyid(ALICE, issuer);
    const files = { 'demo/evil.tgz': Buffer.from('evil') };
    const attacks: [string, (version: number) => Promise<Envelope>][] = [
      [
        "a valid Sigstore signature by another identity, under alice's keyid",
        async (version) => {
          const env = await signAs(t, release(version, files), [{ identity: MALLORY, keyIssuer: issuer }]);
          env.signatures[0]!.keyid = aliceKeyid;
          return env;
        },
      ],
      [
        "alice's genuine signature, copied from other bytes",
        async (version) => {
          const genuine = await signAs(t, release(version + 1000, files), [{ identity: ALICE }]);
          return { signed: release(version, files), signatures: genuine.signatures };
        },
      ],
    ];
    for (const [i, [what, make]] of attacks.entries()) {
      const version = t.repo.cache.head('demo')!.version + 1;
      const evil = await make(version);
      await t.repo.publication.transaction('exclusive', async (tx) => {
        await insertMetadataVersion(tx.db, {
          role: 'demo',
          version,
          bytes: servedBytes(evil),
          expires: new Date(String(evil.signed.expires)),
        });
        tx.announce({ role: 'demo', version });
        await tx.signSnapshotAndTimestamp('attack');
      });
      const c = client(`victim-${i}`);
      await c.refresh();
      await assert.rejects(c.getTargetInfo('demo/evil.tgz'), /signed by 0\/1 keys/, what);
    }
    // The history check finds exactly what bypassed the server's checks.
    fs.writeFileSync(path.join(work, 'sigstore-root-for-audit.json'), JSON.stringify(t.sigstore.setup.trustedRoot));
    const audit = await runCli('server/main.ts', ['audit', 'verify'], {
      DATABASE_URL: t.databaseUrl,
      TUF_HOME: t.home,
      DEV_SIGSTORE: 'false',
      SIGSTORE_TRUSTED_ROOT: path.join(work, 'sigstore-root-for-audit.json'),
    });
    assert.equal(audit.status, 1, audit.stderr);
    const flagged = audit.stdout.split('\n').filter((l) => /^demo v\d+: /.test(l));
    assert.ok(
      flagged.some((l) => /not signed by the threshold of its delegation/.test(l)),
      audit.stdout,
    );
    assert.ok(
      flagged.some((l) => /no audit entry records it/.test(l)),
      audit.stdout,
    );
    assert.deepEqual(
      audit.stdout.split('\n').filter((l) => /^[a-z0-9.-]+ v\d+: /.test(l) && !l.startsWith('demo ')),
      [],
      'nothing else flagged',
    );
  });
});
