// Identity delegations end to end on the local Sigstore: a maintainer registers, the admin approves
// offline, and claims on a delegated project, stale or forged requests are refused.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import request from 'supertest';
import { registrationSigned } from '../core/delegations.ts';
import { identityKeyid } from '../core/identity.ts';
import { expiresAfter, type Envelope } from '../core/metadata.ts';
import { mustRun, runCli } from './helpers/cli.ts';
import { ALICE, BOB, MALLORY, projectTools, startProjectsRepo } from './helpers/projects.ts';
import { delegateProject, signAs, type CeremonyKeys, type TestRepo } from './helpers/repo.ts';

let t: TestRepo;
let keys: CeremonyKeys;
let work: string;

const { state } = projectTools(() => ({ t, work }));

before(async () => {
  ({ t, keys, work } = await startProjectsRepo());
});
after(async () => t.close());

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
