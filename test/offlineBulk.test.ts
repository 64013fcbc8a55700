// Bulk approval in the bin layout with the real tools: maintainers register, `tuf-carry pull`,
// `tuf-offline delegate --registrations FILE` without --project approves every pending
// registration at once (each affected bin written once, top-level targets untouched), `sign`,
// `tuf-carry push`; the maintainers then publish with `tuf-maintainer`. A contested project, a
// left-over request for a project already delegated and a reserved name refuse the whole run.
import assert from 'node:assert/strict';
import type { KeyObject } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import request from 'supertest';
import { binOf, projectPlacement } from '../core/bins.ts';
import { registrationSigned } from '../core/delegations.ts';
import { identityKeyid } from '../core/identity.ts';
import { encodePrivateKeyFile } from '../core/keyFile.ts';
import type { Envelope } from '../core/metadata.ts';
import { mustRun, runCli } from './helpers/cli.ts';
import { bootstrapWithBins, signAs, startTestRepo, type TestRepo } from './helpers/repo.ts';

const BINS = 32;
const PASSPHRASE = 'bulk-approval-test-passphrase';
let t: TestRepo;
let binsKey: KeyObject;
let work: string;
let issuer: string;

before(async () => {
  t = await startTestRepo({ env: { WRITE_RATE_LIMIT_PER_MINUTE: '0' } });
  issuer = t.sigstore.sigstore.issuerUrl;
  ({ binsKey } = await bootstrapWithBins(t, BINS));
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'tuf-bulk-'));
  fs.writeFileSync(path.join(work, 'bins.key.json'), JSON.stringify(encodePrivateKeyFile('bins', binsKey, PASSPHRASE)));
});
after(async () => t.close());

const offline = (args: string[]) => runCli('keys-offline/main.ts', args, { TUF_KEY_PASSPHRASE: PASSPHRASE }, work);
const carry = (...args: string[]) => mustRun('carry/main.ts', ['--server', t.baseUrl, ...args], { TUF_ADMIN_TOKEN: t.adminToken }, work);
const re = (s: string) => new RegExp(s.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&'));

/** Two names in one bin, two more each in a bin of its own: the projects of the bulk run. */
function pickProjects(): { same: [string, string]; others: [string, string] } {
  const candidates = Array.from({ length: 400 }, (_, i) => `pkg-${i}`);
  const bin = (p: string) => binOf(p, BINS).name;
  for (const a of candidates) {
    const b = candidates.find((c) => c !== a && bin(c) === bin(a));
    if (!b) continue;
    const c = candidates.find((x) => bin(x) !== bin(a));
    const d = c && candidates.find((x) => bin(x) !== bin(a) && bin(x) !== bin(c));
    if (c && d) return { same: [a, b], others: [c, d] };
  }
  throw new Error('no names to pick');
}

async function register(project: string, identity: string): Promise<number> {
  const signed = await signAs(t, registrationSigned(project, { identity, issuer }, t.clock.now()), [{ identity }]);
  const res = await request(t.baseUrl).post('/api/v1/registrations').send(signed);
  assert.equal(res.status, 201, JSON.stringify(res.body));
  return res.body.registration.id as number;
}

const pulledTargets = (dir: string) =>
  path.join(
    dir,
    fs.readdirSync(path.join(work, dir)).find((f) => /^\d+\.targets\.json$/.test(f))!,
  );
const readEnvelope = (file: string) => JSON.parse(fs.readFileSync(path.join(work, file), 'utf8')) as Envelope;

describe('bulk approval in the bin layout', () => {
  const { same, others } = pickProjects();
  const projects = [...same, ...others];
  const maintainer = (p: string) => `${p}-maint@example.com`;
  let aliceId: number;
  let eveId: number;
  let targetsVersion: number;

  test('a contested project in the registrations file refuses the whole run without --accept, listing its claims', async () => {
    for (const p of projects) await register(p, maintainer(p));
    aliceId = await register('contest', 'alice@example.com');
    eveId = await register('contest', 'eve@example.com');
    await carry('pull', '--out', 'pulled');
    targetsVersion = t.repo.cache.head('targets')!.version;
    const args = ['delegate', '--from', pulledTargets('pulled'), '--bins', 'pulled/bins', '--out', 'approved'];
    const refused = await offline([...args, '--registrations', 'pulled/registrations.json']);
    assert.equal(refused.status, 1, refused.stdout);
    assert.match(refused.stderr, /refusing the whole run: 1 project of pulled\/registrations\.json needs a decision \(nothing written\)/);
    assert.match(refused.stderr, /project contest: contested: 2 identities asked for it/);
    assert.match(refused.stderr, re(`registration ${aliceId}: alice@example.com at ${issuer}, requested `));
    assert.match(refused.stderr, re(`registration ${eveId}: eve@example.com at ${issuer}, requested `));
    assert.match(refused.stderr, /--accept ID/);
    assert.equal(fs.existsSync(path.join(work, 'approved')), false, 'nothing written');

    // --threshold and --identity belong to one project; an --accept of no pending registration is refused.
    assert.match(
      (await offline([...args, '--registrations', 'pulled/registrations.json', '--threshold', '2'])).stderr,
      /--threshold goes with --project/,
    );
    const unknown = await offline([...args, '--registrations', 'pulled/registrations.json', '--accept', '999999']);
    assert.equal(unknown.status, 1);
    assert.match(unknown.stderr, /--accept 999999: not a pending registration/);
  });

  test('with --accept: every affected bin written once (version + 1), top-level targets untouched; the server takes them', async () => {
    const top = readEnvelope(pulledTargets('pulled')).signed;
    const binOfProject = new Map([...projects, 'contest'].map((p) => [p, projectPlacement(top, p).role]));
    const affected = [...new Set(binOfProject.values())].sort();
    assert.ok(affected.length >= 3 && binOfProject.get(same[0]) === binOfProject.get(same[1]));

    const res = await offline([
      'delegate',
      '--from',
      pulledTargets('pulled'),
      '--bins',
      'pulled/bins',
      '--out',
      'approved',
      '--registrations',
      'pulled/registrations.json',
      '--accept',
      String(aliceId),
    ]);
    assert.equal(res.status, 0, res.stderr);
    for (const p of projects) assert.match(res.stdout, re(`approved ${p}: ${maintainer(p)} at ${issuer} -> ${binOfProject.get(p)}\n`));
    assert.match(res.stdout, re(`approved contest: alice@example.com at ${issuer} -> ${binOfProject.get('contest')}\n`));
    assert.match(res.stdout, re(`approved 5 projects in ${affected.length} bins: wrote ${affected.length} unsigned bin files to approved`));
    assert.match(res.stdout, /top-level targets is unchanged/);

    // One file per affected bin, each the pulled version + 1, expiry kept.
    const written = fs.readdirSync(path.join(work, 'approved')).sort();
    assert.deepEqual(
      written,
      affected.map((b) => `${b}.json`),
    );
    const pulledBins = fs.readdirSync(path.join(work, 'pulled', 'bins'));
    for (const bin of affected) {
      const before = readEnvelope(
        path.join(
          'pulled',
          'bins',
          pulledBins.find((f) => f.endsWith(`.${bin}.json`))!,
        ),
      ).signed;
      const after = readEnvelope(path.join('approved', `${bin}.json`)).signed;
      assert.equal(after.version, Number(before.version) + 1, bin);
      assert.equal(after.expires, before.expires, `${bin}: expiry kept`);
      assert.match(
        res.stdout,
        re(`wrote unsigned ${bin} v${after.version} to approved/${bin}.json; expires ${before.expires} (kept from v${before.version}`),
      );
      const names = (after.delegations as { roles: { name: string }[] }).roles.map((r) => r.name).sort();
      assert.deepEqual(
        names,
        [...binOfProject]
          .filter(([, b]) => b === bin)
          .map(([p]) => p)
          .sort(),
      );
    }
    const contest = (
      readEnvelope(path.join('approved', `${binOfProject.get('contest')}.json`)).signed.delegations as {
        roles: { name: string; keyids: string[] }[];
      }
    ).roles.find((r) => r.name === 'contest')!;
    assert.deepEqual(contest.keyids, [identityKeyid('alice@example.com', issuer)], 'only the accepted identity');

    const headsBefore = new Map(affected.map((b) => [b, t.repo.cache.head(b)!.version]));
    const files = written.map((f) => path.join('approved', f));
    assert.equal((await offline(['sign', ...files, '--key', 'bins.key.json'])).status, 0);
    const pushed = await carry('push', ...files);
    assert.match(pushed, /accepted/);
    assert.equal(t.repo.cache.head('targets')!.version, targetsVersion, 'top-level targets not re-signed');
    for (const b of affected) assert.equal(t.repo.cache.head(b)!.version, headsBefore.get(b)! + 1, b);

    const approved = await request(t.baseUrl).get('/admin/registrations?status=approved').set('authorization', `Bearer ${t.adminToken}`);
    assert.deepEqual(approved.body.registrations.map((r: { project: string }) => r.project).sort(), [...projects, 'contest'].sort());
    for (const p of projects) {
      const info = await request(t.baseUrl).get(`/api/v1/projects/${p}`);
      assert.equal(info.body.delegated, true, p);
      assert.deepEqual(
        info.body.maintainers.map((m: { identity: string }) => m.identity),
        [maintainer(p)],
      );
    }
  });

  test('the approved maintainers publish, two of them in the same bin', async () => {
    for (const p of [same[0], same[1], others[0]]) {
      const file = path.join(work, `${p}-1.0.tgz`);
      fs.writeFileSync(file, `${p} 1.0\n`);
      const out = await mustRun('maintainer/main.ts', [
        'publish',
        '--server',
        t.baseUrl,
        '--project',
        p,
        '--dev-identity',
        maintainer(p),
        file,
      ]);
      assert.match(out, re(`published ${p} v1`));
    }
  });

  test('a left-over request for a project now delegated refuses a later run; --skip leaves it out', async () => {
    await carry('pull', '--out', 'pulled-2');
    const args = ['delegate', '--from', pulledTargets('pulled-2'), '--bins', 'pulled-2/bins', '--out', 'approved-2'];
    const refused = await offline([...args, '--registrations', 'pulled-2/registrations.json']);
    assert.equal(refused.status, 1, refused.stdout);
    assert.match(
      refused.stderr,
      re(`project contest: already delegated to alice@example.com at ${issuer}; bulk approval never replaces a delegation`),
    );
    assert.match(refused.stderr, re(`registration ${eveId}: eve@example.com at ${issuer}`));
    assert.equal(fs.existsSync(path.join(work, 'approved-2')), false);
    const skipped = await offline([...args, '--registrations', 'pulled-2/registrations.json', '--skip', 'contest']);
    assert.equal(skipped.status, 0, skipped.stderr);
    assert.match(
      skipped.stdout,
      /skipped \(--skip\): contest\nnothing to approve in pulled-2\/registrations\.json: no pending registration left; no file written/,
    );
    assert.equal(fs.existsSync(path.join(work, 'approved-2')), false);

    // A reserved name in the file (edited by hand: the server refuses to register it) is listed too.
    const file = JSON.parse(fs.readFileSync(path.join(work, 'pulled-2', 'registrations.json'), 'utf8'));
    file.registrations.push({ ...file.registrations[0], id: 424242, project: 'sigstore', identity: 'mallory@example.com' });
    fs.writeFileSync(path.join(work, 'pulled-2', 'edited.json'), JSON.stringify(file));
    const reserved = await offline([...args, '--registrations', 'pulled-2/edited.json']);
    assert.equal(reserved.status, 1);
    assert.match(reserved.stderr, /refusing the whole run: 2 projects/);
    assert.match(reserved.stderr, /project sigstore: project name "sigstore" is reserved by the repository; refusing to delegate it/);
  });
});
