// tuf-offline on a flat repository with the real tools: bulk approval of every pending
// registration in one top-level targets version, and the expiry rules of the edit and bump
// commands (an edit keeps the expiry unless --expires-days gives one, a near expiry is renewed and
// said so, a renewal sets a fresh one), each pushed to or read by the real server.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import request from 'supertest';
import { registrationSigned } from '../core/delegations.ts';
import { identityKeyid } from '../core/identity.ts';
import { encodePrivateKeyFile } from '../core/keyFile.ts';
import { expiresAfter, type Envelope } from '../core/metadata.ts';
import { mustRun, runCli } from './helpers/cli.ts';
import { bootstrappedWithSigstore, signAs, type TestRepo } from './helpers/repo.ts';

const PASSPHRASE = 'offline-flat-test-passphrase';
const DAY_MS = 86_400_000;
let t: TestRepo;
let work: string;
let issuer: string;

before(async () => {
  const started = await bootstrappedWithSigstore({ env: { WRITE_RATE_LIMIT_PER_MINUTE: '0' } });
  t = started.t;
  issuer = t.sigstore.sigstore.issuerUrl;
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'tuf-offline-flat-'));
  for (const [name, key] of [
    ['root', started.keys.root[0]!],
    ['publisher', started.keys.targets[0]!],
  ] as const)
    fs.writeFileSync(path.join(work, `${name}.key.json`), JSON.stringify(encodePrivateKeyFile(name, key, PASSPHRASE)));
});
after(async () => t.close());

const offline = (...args: string[]) => runCli('keys-offline/main.ts', args, { TUF_KEY_PASSPHRASE: PASSPHRASE }, work);
const mustOffline = (...args: string[]) => mustRun('keys-offline/main.ts', args, { TUF_KEY_PASSPHRASE: PASSPHRASE }, work);
const carry = (...args: string[]) => mustRun('carry/main.ts', ['--server', t.baseUrl, ...args], { TUF_ADMIN_TOKEN: t.adminToken }, work);
const read = (file: string) => JSON.parse(fs.readFileSync(path.join(work, file), 'utf8')) as Envelope;
const re = (s: string) => new RegExp(s.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&'));

/** An expiry `days` from now, give or take the minute a command takes. */
function assertAbout(expires: unknown, days: number) {
  const delta = Math.abs(Date.parse(String(expires)) - (Date.now() + days * DAY_MS));
  assert.ok(delta < 120_000, `${String(expires)} is not ${days} days from now`);
}

describe('bulk approval in the flat layout', () => {
  const projects = ['alpha', 'beta', 'gamma'];
  const maintainer = (p: string) => `${p}-maint@example.com`;

  test('every pending registration goes into one top-level targets version, expiry kept; the server takes it', async () => {
    for (const p of projects) {
      const identity = maintainer(p);
      const signed = await signAs(t, registrationSigned(p, { identity, issuer }, t.clock.now()), [{ identity }]);
      assert.equal((await request(t.baseUrl).post('/api/v1/registrations').send(signed)).status, 201);
    }
    await carry('pull', '--out', 'pulled');
    assert.equal(fs.existsSync(path.join(work, 'pulled', 'bins')), false, 'flat: no bins pulled');
    const res = await offline(
      'delegate',
      '--from',
      'pulled/1.targets.json',
      '--out',
      '2.targets.json',
      '--registrations',
      'pulled/registrations.json',
    );
    assert.equal(res.status, 0, res.stderr);
    for (const p of projects) assert.match(res.stdout, re(`approved ${p}: ${maintainer(p)} at ${issuer} -> targets\n`));
    const before = read('pulled/1.targets.json').signed;
    const next = read('2.targets.json').signed;
    assert.equal(next.version, 2);
    assert.equal(next.expires, before.expires, 'expiry kept');
    assert.match(res.stdout, re(`wrote unsigned targets v2 to 2.targets.json; expires ${before.expires} (kept from v1;`));
    assert.match(res.stdout, /approved 3 projects in top-level targets v2: wrote 1 unsigned file, 2\.targets\.json/);
    const roles = (next.delegations as { roles: { name: string; keyids: string[] }[] }).roles;
    assert.deepEqual(roles.map((r) => r.name).sort(), projects);
    for (const r of roles) assert.deepEqual(r.keyids, [identityKeyid(maintainer(r.name), issuer)]);

    await mustOffline('sign', '2.targets.json', '--key', 'publisher.key.json');
    await carry('push', '2.targets.json');
    assert.equal(t.repo.cache.head('targets')!.version, 2);
    const approved = await request(t.baseUrl).get('/admin/registrations?status=approved').set('authorization', `Bearer ${t.adminToken}`);
    assert.deepEqual(approved.body.registrations.map((r: { project: string }) => r.project).sort(), projects);
    for (const p of projects) assert.equal((await request(t.baseUrl).get(`/api/v1/projects/${p}`)).body.delegated, true, p);
  });

  test('nothing pending: nothing written, exit 0; --project with --skip is refused', async () => {
    await carry('pull', '--out', 'pulled-empty');
    const res = await offline(
      'delegate',
      '--from',
      'pulled-empty/2.targets.json',
      '--out',
      'empty.targets.json',
      '--registrations',
      'pulled-empty/registrations.json',
    );
    assert.equal(res.status, 0, res.stderr);
    assert.match(res.stdout, /nothing to approve in pulled-empty\/registrations\.json: no pending registration; no file written/);
    assert.equal(fs.existsSync(path.join(work, 'empty.targets.json')), false);
    const both = await offline('delegate', '--from', 'pulled-empty/2.targets.json', '--out', 'x.json', '--project', 'alpha', '--skip', 'x');
    assert.equal(both.status, 2, 'a usage error');
    assert.match(both.stderr, /--skip goes with delegate --registrations FILE without --project/);
  });
});

describe('expiry of edits and renewals', () => {
  test('edit-root keeps the current expiry without --expires-days and uses it when given; the server takes the new root', async () => {
    await carry('pull', '--out', 'current');
    const v1 = read('current/1.root.json').signed;
    await mustOffline('keygen', '--name', 'extra', '--out', '.');
    const kept = await offline('edit-root', '--from', 'current/1.root.json', '--out', 'kept.root.json', '--add-root-key', 'extra.pub.json');
    assert.equal(kept.status, 0, kept.stderr);
    assert.equal(read('kept.root.json').signed.expires, v1.expires);
    assert.match(
      kept.stdout,
      re(`wrote unsigned root v2 to kept.root.json; expires ${v1.expires} (kept from v1; --expires-days D sets a new one)`),
    );

    const chosen = await offline('edit-root', '--from', 'current/1.root.json', '--out', '2.root.json', '--expires-days', '100');
    assert.equal(chosen.status, 0, chosen.stderr);
    const v2 = read('2.root.json').signed;
    assertAbout(v2.expires, 100);
    assert.match(chosen.stdout, re(`expires ${v2.expires} (--expires-days 100)`));
    await mustOffline('sign', '2.root.json', '--key', 'root.key.json');
    await carry('push', '2.root.json');
    const served = (await (await fetch(`${t.baseUrl}/metadata/2.root.json`)).json()) as Envelope;
    assert.equal(served.signed.expires, v2.expires);

    const bad = await offline('edit-root', '--from', 'current/1.root.json', '--out', 'bad.root.json', '--expires-days', '0');
    assert.equal(bad.status, 2, 'a usage error');
    assert.match(bad.stderr, /--expires-days must be a positive integer; see `tuf-offline --help`/);
  });

  test('an edit of a version that expires within 30 days renews it and says why; bump-root is a renewal', async () => {
    const root = read('2.root.json');
    const soon = expiresAfter(new Date(), 10 * 86_400);
    fs.writeFileSync(path.join(work, 'soon.root.json'), JSON.stringify({ ...root, signed: { ...root.signed, expires: soon } }));
    const renewed = await offline(
      'edit-root',
      '--from',
      'soon.root.json',
      '--out',
      'renewed.root.json',
      '--add-root-key',
      'extra.pub.json',
    );
    assert.equal(renewed.status, 0, renewed.stderr);
    const expires = read('renewed.root.json').signed.expires;
    assertAbout(expires, 365);
    assert.match(
      renewed.stdout,
      re(`expires ${String(expires)} (v2 expires at ${soon}, less than 30 days from now, so renewed to the default 365 days from now;`),
    );

    const bumped = await offline('bump-root', '--from', '2.root.json', '--out', '3.root.json');
    assert.equal(bumped.status, 0, bumped.stderr);
    assertAbout(read('3.root.json').signed.expires, 365);
    assert.match(bumped.stdout, /wrote unsigned root v3 to 3\.root\.json; expires \S+ \(a renewal: the default 365 days from now;/);
  });

  test('edit-root with nothing to change is refused (no_change, exit 1, nothing written) and points to bump-root', async () => {
    for (const noop of [[], ['--root-threshold', '1'], ['--online-keys', 'current/online-keys.json']]) {
      const res = await offline('edit-root', '--from', '2.root.json', '--out', 'noop.root.json', ...noop);
      assert.equal(res.status, 1, `${noop.join(' ')}: ${res.stdout}`);
      assert.match(res.stderr, /edit-root: nothing to change: root v3 would name the same keys and thresholds as v2/);
      assert.match(res.stderr, re('`tuf-offline bump-root --from 2.root.json --out noop.root.json`'));
      assert.match(res.stderr, /\[no_change\]$/m);
      assert.equal(fs.existsSync(path.join(work, 'noop.root.json')), false, 'nothing written');
    }
    // Asked for explicitly: a new expiry is a change.
    const expiry = await offline('edit-root', '--from', '2.root.json', '--out', 'noop.root.json', '--expires-days', '200');
    assert.equal(expiry.status, 0, expiry.stderr);
    assertAbout(read('noop.root.json').signed.expires, 200);
  });

  test('edit-targets keeps the expiry; --expires-days sets one', async () => {
    const before = read('2.targets.json').signed;
    const kept = await offline('edit-targets', '--from', '2.targets.json', '--out', '3.targets.json');
    assert.equal(kept.status, 0, kept.stderr);
    assert.equal(read('3.targets.json').signed.expires, before.expires);
    assert.match(kept.stdout, re(`expires ${before.expires} (kept from v2;`));
    await mustOffline('edit-targets', '--from', '2.targets.json', '--out', '3b.targets.json', '--expires-days', '30');
    assertAbout(read('3b.targets.json').signed.expires, 30);
  });
});
