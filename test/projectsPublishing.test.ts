// Identity delegations end to end on the local Sigstore: a delegated identity publishes (HTTP and the
// CLIs), a client verifies it, and every refusal leaves the repository as it was.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import request from 'supertest';
import { expiresAfter } from '../core/metadata.ts';
import { mustRun, runCli } from './helpers/cli.ts';
import { ALICE, MALLORY, projectTools, saveTrustedRoot, startProjectsRepo } from './helpers/projects.ts';
import { delegateProject, signAs, type CeremonyKeys, type TestRepo } from './helpers/repo.ts';

let t: TestRepo;
let keys: CeremonyKeys;
let work: string;

const { upload, release, state, client } = projectTools(() => ({ t, work }));

before(async () => {
  ({ t, keys, work } = await startProjectsRepo());
  // What the registration flow (projectsRegistration.test.ts) leaves behind: demo delegated to alice.
  await saveTrustedRoot(t, work);
  await delegateProject(t, keys, 'demo', [ALICE]);
});
after(async () => t.close());

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
    assert.ok(
      fs.existsSync(path.join(work, 'cli-client', 'targets', 'sigstore-trusted_root.json')),
      'fetch keeps the verified Sigstore root',
    );
    fs.writeFileSync(path.join(work, 'sigstore-root.json'), JSON.stringify(t.sigstore.setup.trustedRoot));
    fs.writeFileSync(path.join(work, 'demo.json'), (await request(t.baseUrl).get('/metadata/1.demo.json')).text);
    const targetsVersion = t.repo.cache.head('targets')!.version;
    fs.writeFileSync(path.join(work, 'targets.json'), (await request(t.baseUrl).get(`/metadata/${targetsVersion}.targets.json`)).text);
    const verifyDemo = (...extra: string[]) =>
      runCli('client/main.ts', [
        'verify',
        path.join(work, 'demo.json'),
        '--delegator',
        path.join(work, 'targets.json'),
        '--role',
        'demo',
        ...extra,
      ]);
    const verify = await verifyDemo('--sigstore-trusted-root', path.join(work, 'sigstore-root.json'));
    assert.equal(verify.status, 0, verify.stderr);
    assert.match(verify.stdout, /demo v1: 1\/1 valid signatures, threshold MET/);
    assert.match(verify.stdout, /alice@example\.com \(http:\/\/127\.0\.0\.1:\d+\/oidc\)\s+valid/);
    // With the state of that fetch, the repository's own Sigstore root, verified through TUF, is used.
    const kept = await verifyDemo('--dir', path.join(work, 'cli-client'));
    assert.equal(kept.status, 0, kept.stdout + kept.stderr);
    assert.match(kept.stderr, /^Sigstore trusted root: the repository's sigstore\/trusted_root.json, verified through TUF/);
    // With no state, the public-good trusted root, said so; the local signature cannot verify: exit 3.
    const strange = await verifyDemo('--dir', path.join(work, 'no-state'));
    assert.equal(strange.status, 3);
    assert.match(strange.stdout, /NOT MET/);
    assert.match(strange.stderr, /^Sigstore trusted root: the public-good Sigstore instance/);
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
