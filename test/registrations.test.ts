// Registrations cannot be hijacked or spammed (issue 19, part 2): a contested project is shown to
// the admins and to every registrant and is refused by `tuf-offline delegate --registrations`
// until the admin accepts registrations by id; limits per identity and per project; look-alike
// (PEP 503) and reserved names refused at registration, at admission and offline.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import request from 'supertest';
import type { RegistrationListJson } from '../core/apiTypes.ts';
import { editedTargetsSigned } from '../core/ceremony.ts';
import { registrationSigned, withDelegation } from '../core/delegations.ts';
import { identityKeyid } from '../core/identity.ts';
import { signEnvelope, type Envelope } from '../core/metadata.ts';
import { privateKeySigner } from '../core/signer.ts';
import { mustRun, runCli } from './helpers/cli.ts';
import { bootstrappedWithSigstore, delegateProject, signAs, type CeremonyKeys, type TestRepo } from './helpers/repo.ts';

let t: TestRepo;
let keys: CeremonyKeys;
let work: string;
let issuer: string;

before(async () => {
  ({ t, keys } = await bootstrappedWithSigstore({
    env: {
      WRITE_RATE_LIMIT_PER_MINUTE: '0',
      MAX_PENDING_REGISTRATIONS_PER_IDENTITY: '3',
      MAX_PENDING_REGISTRATIONS_PER_PROJECT: '3',
      RESERVED_PROJECT_NAMES: 'internal',
    },
  }));
  issuer = t.sigstore.sigstore.issuerUrl;
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'tuf-registrations-'));
});
after(async () => t.close());

const admin = (url: string) => request(t.baseUrl).get(url).set('authorization', `Bearer ${t.adminToken}`);

async function signedRegistration(project: string, identity: string): Promise<Envelope> {
  return signAs(t, registrationSigned(project, { identity, issuer }, t.clock.now()), [{ identity }]);
}

async function register(project: string, identity: string): Promise<request.Response> {
  return request(t.baseUrl)
    .post('/api/v1/registrations')
    .send(await signedRegistration(project, identity));
}

async function pendingCount(): Promise<number> {
  return Number((await t.repo.knex('registrations').where({ status: 'pending' }).count({ n: '*' }))[0]!.n);
}

async function pull(dir: string): Promise<string> {
  return mustRun('carry/main.ts', ['--server', t.baseUrl, 'pull', '--out', dir], { TUF_ADMIN_TOKEN: t.adminToken });
}

const targetsFileIn = (dir: string) =>
  path.join(
    dir,
    fs.readdirSync(dir).find((f) => /^\d+\.targets\.json$/.test(f))!,
  );

describe('a contested project', () => {
  const ALICE = 'alice@example.com';
  const EVE = 'eve@example.com';
  let aliceId: number;
  let eveId: number;

  test('two identities ask for one project: both registrants and the admins see the contest', async () => {
    const first = await mustRun('maintainer/main.ts', [
      'register',
      '--server',
      t.baseUrl,
      '--project',
      'contested',
      '--dev-identity',
      ALICE,
    ]);
    assert.doesNotMatch(first, /CONTESTED/);
    const second = await mustRun('maintainer/main.ts', [
      'register',
      '--server',
      t.baseUrl,
      '--project',
      'contested',
      '--dev-identity',
      EVE,
    ]);
    assert.match(second, /CONTESTED/);
    assert.match(second, new RegExp(`registration \\d+: ${ALICE.replace('.', '\\.')} at ${issuer}`));

    const list = (await admin('/admin/registrations?status=pending')).body as RegistrationListJson;
    const mine = list.registrations.filter((r) => r.project === 'contested');
    assert.equal(mine.length, 2);
    for (const r of mine) {
      assert.equal(r.contested, true);
      assert.deepEqual(
        r.competing.map((c) => c.identity),
        [r.identity === ALICE ? EVE : ALICE],
      );
    }
    aliceId = mine.find((r) => r.identity === ALICE)!.id;
    eveId = mine.find((r) => r.identity === EVE)!.id;
    assert.deepEqual(
      list.contested.map((c) => [c.project, c.registrations.map((r) => r.id)]),
      [['contested', [aliceId, eveId]]],
    );
    assert.ok(list.reservedNames.includes('sigstore') && list.reservedNames.includes('internal'), JSON.stringify(list.reservedNames));

    // The public view every registrant can read, and tuf-maintainer status on it.
    const open = await request(t.baseUrl).get('/api/v1/projects/contested/registrations');
    assert.equal(open.status, 200);
    assert.equal(open.body.contested, true);
    assert.deepEqual(
      open.body.registrations.map((r: { id: number }) => r.id),
      [aliceId, eveId],
    );
    const status = await mustRun('maintainer/main.ts', ['status', '--server', t.baseUrl, '--project', 'contested']);
    assert.match(status, /CONTESTED: 2 identities/);
    assert.match(status, new RegExp(`pending registration ${eveId}: eve@example\\.com`));
  });

  test('tuf-carry pull writes the contest to registrations.json and status.json', async () => {
    const dir = path.join(work, 'pulled-contest');
    const out = await pull(dir);
    assert.match(out, /CONTESTED: contested: 2 registrations/);
    const registrations = JSON.parse(fs.readFileSync(path.join(dir, 'registrations.json'), 'utf8')) as RegistrationListJson;
    assert.equal(registrations.contested[0]!.project, 'contested');
    assert.ok(registrations.registrations.filter((r) => r.project === 'contested').every((r) => r.contested));
    const status = JSON.parse(fs.readFileSync(path.join(dir, 'status.json'), 'utf8'));
    assert.deepEqual(
      status.contestedProjects.map((c: { project: string }) => c.project),
      ['contested'],
    );
  });

  test('tuf-offline delegate --registrations refuses it, listing every claim, until --accept names the chosen ones', async () => {
    const dir = path.join(work, 'pulled-contest');
    const regs = path.join(dir, 'registrations.json');
    const out = path.join(work, 'contested.targets.json');
    const refused = await runCli('keys-offline/main.ts', [
      'delegate',
      '--from',
      targetsFileIn(dir),
      '--out',
      out,
      '--project',
      'contested',
      '--registrations',
      regs,
    ]);
    assert.equal(refused.status, 1, refused.stdout);
    assert.match(refused.stderr, /contested/);
    for (const [id, who] of [
      [aliceId, ALICE],
      [eveId, EVE],
    ] as const) {
      assert.match(
        refused.stderr,
        new RegExp(`registration ${id}: ${who.replace('.', '\\.')} at ${issuer.replace(/[.:/]/g, '\\$&')}, requested \\d{4}-`),
      );
    }
    assert.equal(fs.existsSync(out), false, 'nothing written');

    const wrongId = await runCli('keys-offline/main.ts', [
      'delegate',
      '--from',
      targetsFileIn(dir),
      '--out',
      out,
      '--project',
      'contested',
      '--registrations',
      regs,
      '--accept',
      '999999',
    ]);
    assert.equal(wrongId.status, 1);
    assert.match(wrongId.stderr, /registration 999999 is not a pending registration for contested/);

    await mustRun('keys-offline/main.ts', [
      'delegate',
      '--from',
      targetsFileIn(dir),
      '--out',
      out,
      '--project',
      'contested',
      '--registrations',
      regs,
      '--accept',
      String(aliceId),
    ]);
    const next = JSON.parse(fs.readFileSync(out, 'utf8')) as Envelope;
    const role = (next.signed.delegations as { roles: { name: string; keyids: string[] }[] }).roles.find((r) => r.name === 'contested')!;
    assert.deepEqual(role.keyids, [identityKeyid(ALICE, issuer)], 'only the accepted identity');
  });

  test('an uncontested project works as before, and asking again keeps the first registration', async () => {
    const first = await register('quiet', 'bob@example.com');
    assert.equal(first.status, 201, JSON.stringify(first.body));
    assert.equal(first.body.registration.contested, false);
    const again = await register('quiet', 'bob@example.com');
    assert.equal(again.status, 200);
    assert.equal(again.body.registration.id, first.body.registration.id);
    const dir = path.join(work, 'pulled-quiet');
    await pull(dir);
    const out = path.join(work, 'quiet.targets.json');
    await mustRun('keys-offline/main.ts', [
      'delegate',
      '--from',
      targetsFileIn(dir),
      '--out',
      out,
      '--project',
      'quiet',
      '--registrations',
      path.join(dir, 'registrations.json'),
    ]);
    const role = (
      (JSON.parse(fs.readFileSync(out, 'utf8')) as Envelope).signed.delegations as { roles: { name: string; keyids: string[] }[] }
    ).roles.find((r) => r.name === 'quiet')!;
    assert.deepEqual(role.keyids, [identityKeyid('bob@example.com', issuer)]);
  });
});

describe('limits', () => {
  test('one identity may hold 3 pending registrations (configured): the 4th is a 429, nothing stored', async () => {
    for (const p of ['spam-1', 'spam-2', 'spam-3']) assert.equal((await register(p, 'spammer@example.com')).status, 201);
    const before = await pendingCount();
    const res = await register('spam-4', 'spammer@example.com');
    assert.equal(res.status, 429);
    assert.equal(res.body.error.code, 'registration_limit_identity');
    assert.equal(await pendingCount(), before);
  });

  test('one project may have 3 pending registrations, also when they arrive at once', async () => {
    const requests = await Promise.all(Array.from({ length: 6 }, (_, i) => signedRegistration('crowded', `crowd-${i}@example.com`)));
    const before = await pendingCount();
    const results = await Promise.all(requests.map((r) => request(t.baseUrl).post('/api/v1/registrations').send(r)));
    assert.deepEqual(results.map((r) => r.status).sort(), [201, 201, 201, 409, 409, 409]);
    for (const r of results.filter((x) => x.status === 409)) assert.equal(r.body.error.code, 'registration_limit_project');
    assert.equal(await pendingCount(), before + 3);
  });
});

describe('look-alike and reserved names', () => {
  test('a registration spelled like another pending one or a delegated project is refused, naming it', async () => {
    assert.equal((await register('my-lib', 'carol@example.com')).status, 201);
    const before = await pendingCount();
    const clash = await register('my_lib', 'dave@example.com');
    assert.equal(clash.status, 409);
    assert.equal(clash.body.error.code, 'confusable_name');
    assert.match(clash.body.error.message, /"my-lib"/);
    await delegateProject(t, keys, 'lib-one', ['frank@example.com']);
    const delegated = await register('lib.one', 'dave@example.com');
    assert.equal(delegated.body.error.code, 'confusable_name');
    assert.match(delegated.body.error.message, /existing project "lib-one"/);
    assert.equal(await pendingCount(), before);
  });

  test("the repository's own folder and configured names cannot be registered", async () => {
    for (const name of ['sigstore', 'internal']) {
      const res = await register(name, 'grace@example.com');
      assert.equal(res.status, 409, name);
      assert.equal(res.body.error.code, 'reserved_name', name);
    }
  });

  test('admin targets delegating a look-alike or reserved name is refused', async () => {
    const current = (await t.repo.current.targets())!;
    for (const [name, code] of [
      ['my.lib', 'confusable_name'],
      ['lib_one', 'confusable_name'],
      ['internal', 'reserved_name'],
      ['sigstore', 'reserved_name'],
    ] as const) {
      const next = editedTargetsSigned(
        withDelegation(current.envelope.signed, name, [{ identity: 'x@example.com', issuer }], 1),
        {},
        t.clock.now(),
      );
      const res = await request(t.baseUrl)
        .post('/admin/metadata/targets')
        .set('authorization', `Bearer ${t.adminToken}`)
        .send(await signEnvelope(next, [privateKeySigner(keys.targets[0]!)]));
      assert.equal(res.status, 409, `${name}: ${JSON.stringify(res.body)}`);
      assert.equal(res.body.error.code, code, name);
    }
  });

  test('tuf-offline delegate refuses the same against the targets it edits', async () => {
    const dir = path.join(work, 'pulled-names');
    await pull(dir);
    const from = targetsFileIn(dir);
    const out = path.join(work, 'names.targets.json');
    const cases: [string, string[], Record<string, string>, RegExp][] = [
      ['lib_one', [], {}, /too similar to the existing project "lib-one"/],
      ['my.lib', ['--registrations', path.join(dir, 'registrations.json')], {}, /too similar to the pending registration for "my-lib"/],
      ['sigstore', [], {}, /reserved/],
      ['internal', ['--registrations', path.join(dir, 'registrations.json')], {}, /reserved/], // the server's list, in the file
      ['private', [], { RESERVED_PROJECT_NAMES: 'private,secret' }, /reserved/],
      ['secret', ['--reserved', 'secret'], {}, /reserved/],
    ];
    for (const [project, extra, env, message] of cases) {
      const args = [
        'delegate',
        '--from',
        from,
        '--out',
        out,
        '--project',
        project,
        ...(extra.includes('--registrations') ? [] : ['--identity', 'x@example.com', '--issuer', issuer]),
        ...extra,
      ];
      const res = await runCli('keys-offline/main.ts', args, env);
      assert.equal(res.status, 1, `${project}: ${res.stdout}`);
      assert.match(res.stderr, message, project);
      assert.equal(fs.existsSync(out), false);
    }
    // The same spelling is a replacement, not a look-alike.
    await mustRun('keys-offline/main.ts', [
      'delegate',
      '--from',
      from,
      '--out',
      out,
      '--project',
      'lib-one',
      '--identity',
      'frank@example.com',
      '--issuer',
      issuer,
      '--identity',
      'gina@example.com',
      '--issuer',
      issuer,
    ]);
  });
});
