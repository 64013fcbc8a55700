// A maintainer revoked in a bins repository, with the real tools, as docs/runbooks.md walks it:
// the project's bin is pulled by name (`tuf-carry pull --bin`; tuf-offline prints that command
// when the bin is missing, and refuses an --out that names a .json file), the bin is re-signed and
// pushed; then what each party sees: the revoked identity's `tuf-maintainer status` says it is not
// a maintainer any more and who is, the others' says "since BIN vN" (the bin's version, not top-level
// targets'), as /admin/projects/resign-needed does, and `tuf-client verify` given top-level targets
// names the bin file to pass instead.
import assert from 'node:assert/strict';
import type { KeyObject } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import request from 'supertest';
import { binOf, binsOf } from '../core/bins.ts';
import { encodePrivateKeyFile } from '../core/keyFile.ts';
import { mustRun, runCli } from './helpers/cli.ts';
import { bootstrapWithBins, startTestRepo, type TestRepo } from './helpers/repo.ts';

const BINS = 16;
const PASSPHRASE = 'bins-revocation-test-passphrase';
const ALICE = 'alice@example.com';
const BOB = 'bob@example.com';
const PROJECT = 'lib';
const BIN = binOf(PROJECT, BINS).name;
let t: TestRepo;
let binsKey: KeyObject;
let work: string;
let issuer: string;

before(async () => {
  t = await startTestRepo({ env: { WRITE_RATE_LIMIT_PER_MINUTE: '0' } });
  issuer = t.sigstore.sigstore.issuerUrl;
  ({ binsKey } = await bootstrapWithBins(t, BINS));
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'tuf-bins-revocation-'));
  fs.writeFileSync(path.join(work, 'bins.key.json'), JSON.stringify(encodePrivateKeyFile('bins', binsKey, PASSPHRASE)));
  fs.writeFileSync(path.join(work, 'sigstore-root.json'), JSON.stringify(t.sigstore.setup.trustedRoot));
});
after(async () => {
  await t.close();
  fs.rmSync(work, { recursive: true, force: true });
});

const offline = (...args: string[]) => runCli('keys-offline/main.ts', args, { TUF_KEY_PASSPHRASE: PASSPHRASE }, work);
const carry = (...args: string[]) => runCli('carry/main.ts', ['--server', t.baseUrl, ...args], { TUF_ADMIN_TOKEN: t.adminToken }, work);
const mustCarry = async (...args: string[]) => {
  const res = await carry(...args);
  assert.equal(res.status, 0, res.stdout + res.stderr);
  return res.stdout;
};
const maintainer = (...args: string[]) => mustRun('maintainer/main.ts', [...args, '--server', t.baseUrl, '--project', PROJECT]);
const client = (...args: string[]) => runCli('client/main.ts', args, {}, work);
const re = (s: string) => new RegExp(s.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&'));
const targetsFile = (dir: string) =>
  path.join(
    dir,
    fs.readdirSync(path.join(work, dir)).find((f) => /^\d+\.targets\.json$/.test(f))!,
  );

/**
 * Delegates PROJECT to `identities` in its bin, from a pull that holds it, and pushes the bin;
 * `changes`: what `tuf-offline status --previous` must list against the pulled bin before signing.
 */
async function delegateInBin(dir: string, out: string, identities: string[], changes: string[] = []): Promise<void> {
  const ids = identities.flatMap((i) => ['--identity', i, '--issuer', issuer]);
  const res = await offline('delegate', '--from', targetsFile(dir), '--bins', `${dir}/bins`, '--out', out, '--project', PROJECT, ...ids);
  assert.equal(res.status, 0, res.stderr);
  const file = path.join(out, `${BIN}.json`);
  const pulled = fs.readdirSync(path.join(work, dir, 'bins')).find((f) => f.endsWith(`.${BIN}.json`));
  assert.ok(pulled, `the pull in ${dir} holds ${BIN}`);
  // The next step it prints compares with the pulled bin, so whoever follows it sees the changes.
  const previous = path.join(dir, 'bins', pulled);
  assert.match(
    res.stdout,
    re(
      `next: tuf-offline status ${file} --delegator ${targetsFile(dir)} --previous ${previous} (the changes each signer reviews), tuf-offline sign ${file} --key BINS_KEY`,
    ),
  );
  if (changes.length > 0) {
    const status = await offline('status', file, '--delegator', targetsFile(dir), '--previous', previous);
    for (const line of changes) assert.match(status.stdout, re(line), status.stdout);
  }
  assert.equal((await offline('sign', file, '--key', 'bins.key.json')).status, 0);
  assert.match(await mustCarry('push', file), /accepted/);
}

describe('a maintainer revoked in a bins repository', () => {
  test('the bin is pulled by name: tuf-offline names it and prints the command, refuses a .json --out, and tuf-carry pull --bin fetches exactly it', async () => {
    await mustCarry('pull', '--out', 'c1'); // no pending registration: no bin comes
    const args = ['delegate', '--from', targetsFile('c1'), '--bins', 'c1/bins', '--project', PROJECT];
    const ids = ['--identity', ALICE, '--issuer', issuer, '--identity', BOB, '--issuer', issuer];

    const file = await offline(...args, '--out', '3.targets.json', ...ids);
    assert.equal(file.status, 1, file.stdout);
    assert.match(
      file.stderr,
      re(
        `--out 3.targets.json: this repository delegates projects through bins, so delegate writes the bin ${PROJECT} falls in (${BIN}.json, its next version) into a directory`,
      ),
    );
    assert.match(file.stderr, re(`--out approved writes approved/${BIN}.json`));
    assert.match(file.stderr, /\[bins_out_is_a_file\]$/m);
    assert.equal(fs.existsSync(path.join(work, '3.targets.json')), false, 'nothing written');

    const missing = await offline(...args, '--out', 'approved', ...ids);
    assert.equal(missing.status, 1, missing.stdout);
    assert.match(
      missing.stderr,
      re(
        `a bin not in c1/bins: ${PROJECT} in ${BIN}. Pull it first, on the connected machine: \`tuf-carry --server URL pull --out c1 --bin ${BIN}\``,
      ),
    );
    assert.match(missing.stderr, /\[bin_not_pulled\]$/m);
    assert.equal(fs.existsSync(path.join(work, 'approved')), false);

    const plural = await carry('pull', '--out', 'c1', '--bins', BIN);
    assert.equal(plural.status, 2, 'a usage error');
    assert.match(
      plural.stderr,
      /pull takes --bin NAME \(repeatable\) for named bins, or --all-bins for every bin; --bins DIR is for bootstrap/,
    );
    assert.match(plural.stderr, /; see `tuf-carry --help`$/m);
    const absent = binsOf(4)[1]!.name; // well formed, but not one of this repository's 16 bins
    const unknown = await carry('pull', '--out', 'c1', '--bin', absent);
    assert.equal(unknown.status, 1);
    assert.match(
      unknown.stderr,
      re(
        `--bin ${absent}: top-level targets v1 delegates no bin of that name; its 16 bins are named ${binsOf(BINS)[0]!.name} … ${binsOf(BINS).at(-1)!.name}`,
      ),
    );
    assert.match(unknown.stderr, /\[unknown_bin\]$/m);
    assert.equal((await carry('pull', '--out', 'c1', '--bin', BIN, '--all-bins')).status, 2);

    // The command tuf-offline printed, run as printed: exactly that bin, then the approval.
    assert.match(await mustCarry('pull', '--out', 'c1', '--bin', BIN), re(`wrote 1 bins to c1/bins`));
    assert.deepEqual(fs.readdirSync(path.join(work, 'c1', 'bins')), [`1.${BIN}.json`]);
    await delegateInBin('c1', 'approved', [ALICE, BOB]);

    fs.writeFileSync(path.join(work, 'lib-1.0.tgz'), 'lib 1.0\n');
    assert.match(await maintainer('publish', '--dev-identity', ALICE, path.join(work, 'lib-1.0.tgz')), /published lib v1/);
    const fetched = await client(
      'fetch',
      'lib/lib-1.0.tgz',
      '--server',
      t.baseUrl,
      '--root',
      await rootFile(),
      '--out',
      'lib.tgz',
      '--dir',
      'state',
    );
    assert.equal(fetched.status, 0, fetched.stderr);
    assert.ok(fs.existsSync(path.join(work, 'state', 'metadata', `${BIN}.json`)), 'the client keeps the bin beside targets.json');
  });

  test('tuf-client verify: given top-level targets it names the bin file to pass (exit 2, delegated_by_bin); given the bin, exit 0 or 3 by the threshold', async () => {
    const role = path.join('state', 'metadata', 'lib.json');
    const sigstore = ['--sigstore-trusted-root', 'sigstore-root.json'];
    const top = await client('verify', role, '--delegator', path.join('state', 'metadata', 'targets.json'), '--role', PROJECT, ...sigstore);
    assert.equal(top.status, 2, top.stdout + top.stderr);
    assert.match(
      top.stderr,
      re(
        `${PROJECT} is delegated by the bin ${BIN}, not by top-level targets. Pass the bin as the delegator: tuf-client verify ${role} --delegator state/metadata/${BIN}.json --role ${PROJECT}`,
      ),
    );
    assert.match(top.stderr, /\[delegated_by_bin\]$/m);
    const bin = await client('verify', role, '--delegator', path.join('state', 'metadata', `${BIN}.json`), '--role', PROJECT, ...sigstore);
    assert.equal(bin.status, 0, bin.stdout + bin.stderr);
    assert.match(bin.stdout, /lib v1: 1\/1 valid signatures, threshold MET/);
    const usage = await client('verify', role, '--delegator', path.join('state', 'metadata', `${BIN}.json`));
    assert.equal(usage.status, 2, 'usage errors exit 2, as the help says');
    assert.match((await client('--help')).stdout, /2 {2}usage: an unknown command or option/);
  });

  test('after the revocation: "not a maintainer any more" for the revoked identity, "since BIN vN" for the others and the admins', async () => {
    await mustCarry('pull', '--out', 'c2', '--bin', BIN);
    await delegateInBin('c2', 'revoked', [BOB], [`~ delegation ${PROJECT}: signer removed: ${ALICE} at ${issuer}`]);
    const binVersion = t.repo.cache.head(BIN)!.version;
    const topVersion = t.repo.cache.head('targets')!.version;
    assert.notEqual(binVersion, topVersion, 'the bin and top-level targets have different versions here');

    const admin = await request(t.baseUrl).get('/admin/projects/resign-needed').set('authorization', `Bearer ${t.adminToken}`);
    assert.equal(admin.status, 200);
    const [entry] = admin.body.projects;
    assert.deepEqual(
      { ...entry, reason: undefined, detectedAt: undefined },
      {
        project: PROJECT,
        version: 1,
        targetsVersion: topVersion,
        delegator: BIN,
        delegatorVersion: binVersion,
        since: `${BIN} v${binVersion}`,
        reason: undefined,
        detectedAt: undefined,
      },
    );

    const since = re(`NEEDS RE-SIGNING: v1 has 0 valid signature(s) of the 1 now required (since ${BIN} v${binVersion}); `);
    const anonymous = await maintainer('status');
    assert.match(anonymous, since);
    assert.match(anonymous, re(`a current maintainer (${BOB} at ${issuer}) runs \`tuf-maintainer resign --project ${PROJECT}\``));
    assert.doesNotMatch(anonymous, /since targets/);

    const revoked = await maintainer('status', '--dev-identity', ALICE);
    assert.match(
      revoked,
      re(
        `NOT A MAINTAINER ANY MORE: ${ALICE} at ${issuer} is not a maintainer of ${PROJECT} any more (you signed v1); its maintainers now: ${BOB} at ${issuer}. publish, cosign and resign refuse you`,
      ),
    );
    assert.match(revoked, re(`a current maintainer (${BOB} at ${issuer}) runs`));
    assert.doesNotMatch(revoked, /; run `tuf-maintainer resign`/);

    const remaining = await maintainer('status', '--dev-identity', BOB);
    assert.match(remaining, since);
    assert.match(remaining, /; run `tuf-maintainer resign`$/m);
    assert.doesNotMatch(remaining, /NOT A MAINTAINER/);

    // The old release against the new bin: the threshold is not met, exit 3.
    const verify = await client(
      'verify',
      path.join('state', 'metadata', 'lib.json'),
      '--delegator',
      path.join('revoked', `${BIN}.json`),
      '--role',
      PROJECT,
      '--sigstore-trusted-root',
      'sigstore-root.json',
    );
    assert.equal(verify.status, 3, verify.stdout + verify.stderr);
    assert.match(verify.stdout, /lib v1: 0\/1 valid signatures, threshold NOT MET/);

    assert.match(await maintainer('resign', '--dev-identity', BOB), /published lib v2/);
    assert.doesNotMatch(await maintainer('status'), /NEEDS RE-SIGNING/);
  });
});

async function rootFile(): Promise<string> {
  const file = path.join(work, '1.root.json');
  if (!fs.existsSync(file)) fs.writeFileSync(file, (await request(t.baseUrl).get('/metadata/1.root.json')).text);
  return file;
}
