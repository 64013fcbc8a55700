// `tuf-offline delegate --require-provenance` with the real tools and server, in the bin layout:
// the requirement is written into the project's delegation in its bin (what the bins keys sign),
// kept when the maintainers change, dropped only by --drop-provenance, said before signing; the
// server takes the bin and names the requirement, and refuses one it could not read.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import request from 'supertest';
import { encodePrivateKeyFile } from '../core/keyFile.ts';
import type { Envelope } from '../core/metadata.ts';
import { mustRun, runCli } from './helpers/cli.ts';
import { GITHUB_ISSUER, RELEASE_WORKFLOW } from './helpers/provenance.ts';
import { bootstrapWithBins, startTestRepo, type TestRepo } from './helpers/repo.ts';

const PASSPHRASE = 'offline-provenance-test-passphrase';
let t: TestRepo;
let work: string;

before(async () => {
  t = await startTestRepo({ env: { WRITE_RATE_LIMIT_PER_MINUTE: '0' } });
  const { binsKey } = await bootstrapWithBins(t, 16);
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'tuf-offline-provenance-'));
  fs.writeFileSync(path.join(work, 'bins.key.json'), JSON.stringify(encodePrivateKeyFile('bins', binsKey, PASSPHRASE)));
});
after(async () => t.close());

const offline = (...args: string[]) => runCli('keys-offline/main.ts', args, { TUF_KEY_PASSPHRASE: PASSPHRASE }, work);
const carry = (...args: string[]) => mustRun('carry/main.ts', ['--server', t.baseUrl, ...args], { TUF_ADMIN_TOKEN: t.adminToken }, work);
const issuer = () => t.sigstore.sigstore.issuerUrl;

/** pull -> delegate (with `extra`) -> sign -> push; the written bin's delegation of mylib, and what delegate said. */
async function delegate(step: string, identities: string[], extra: string[]) {
  await carry('pull', '--out', `${step}-pulled`, '--all-bins');
  const top = fs.readdirSync(path.join(work, `${step}-pulled`)).find((f) => /^\d+\.targets\.json$/.test(f))!;
  const ids = identities.flatMap((i) => ['--identity', i, '--issuer', issuer()]);
  const res = await offline(
    'delegate',
    '--from',
    path.join(`${step}-pulled`, top),
    '--out',
    `${step}-out`,
    '--project',
    'mylib',
    ...ids,
    ...extra,
  );
  assert.equal(res.status, 0, res.stdout + res.stderr);
  const [file] = fs.readdirSync(path.join(work, `${step}-out`)).map((f) => path.join(`${step}-out`, f));
  const signed = await offline('sign', file!, '--key', 'bins.key.json');
  assert.equal(signed.status, 0, signed.stderr);
  await carry('push', file!);
  const bin = JSON.parse(fs.readFileSync(path.join(work, file!), 'utf8')) as Envelope;
  const roles = (bin.signed.delegations as { roles: Record<string, unknown>[] }).roles;
  return { role: roles.find((r) => r.name === 'mylib')!, out: res.stdout };
}

test('the requirement is written into the bin, said before signing, and named by the server', async () => {
  const { role, out } = await delegate(
    'one',
    ['alice@example.com'],
    ['--require-provenance', RELEASE_WORKFLOW, '--provenance-issuer', GITHUB_ISSUER],
  );
  assert.deepEqual(role['x-build-provenance'], { identity: RELEASE_WORKFLOW, issuer: GITHUB_ISSUER });
  assert.match(
    out,
    new RegExp(`mylib: build provenance required from ${RELEASE_WORKFLOW.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')} at https://token`),
  );
  assert.match(out, /\+ delegation mylib: alice@example\.com at .+; build provenance by https:\/\/github\.com\/acme\/mylib\//);
  const info = (await request(t.baseUrl).get('/api/v1/projects/mylib')).body;
  assert.deepEqual(info.provenance, { identity: RELEASE_WORKFLOW, issuer: GITHUB_ISSUER });
});

test('changing the maintainers keeps it; only --drop-provenance removes it, and says so', async () => {
  const kept = await delegate('two', ['alice@example.com', 'bob@example.com'], []);
  assert.deepEqual(kept.role['x-build-provenance'], { identity: RELEASE_WORKFLOW, issuer: GITHUB_ISSUER });
  assert.match(kept.out, /build provenance required from .+ \(kept from the current delegation\)/);
  const dropped = await delegate('three', ['alice@example.com'], ['--drop-provenance']);
  assert.equal(dropped.role['x-build-provenance'], undefined);
  assert.match(dropped.out, /mylib: build provenance not required \(dropped\)/);
  assert.equal((await request(t.baseUrl).get('/api/v1/projects/mylib')).body.provenance, null);
});

test('options that cannot mean one thing are refused before anything is written', async () => {
  await carry('pull', '--out', 'bad-pulled', '--all-bins');
  const top = path.join(
    'bad-pulled',
    fs.readdirSync(path.join(work, 'bad-pulled')).find((f) => /^\d+\.targets\.json$/.test(f))!,
  );
  const base = ['delegate', '--from', top, '--out', 'bad-out', '--project', 'mylib', '--identity', 'a@example.com', '--issuer', issuer()];
  const cases: [string[], RegExp][] = [
    [['--require-provenance', RELEASE_WORKFLOW], /needs --provenance-issuer URL/],
    [['--provenance-issuer', GITHUB_ISSUER], /goes with --require-provenance/],
    [['--require-provenance', RELEASE_WORKFLOW, '--provenance-issuer', GITHUB_ISSUER, '--drop-provenance'], /without --require-provenance/],
    [['--require-provenance', 'a b', '--provenance-issuer', GITHUB_ISSUER], /without spaces/],
  ];
  for (const [extra, message] of cases) {
    const res = await offline(...base, ...extra);
    assert.notEqual(res.status, 0, extra.join(' '));
    assert.match(res.stderr, message, extra.join(' '));
  }
  const bulk = await offline('delegate', '--from', top, '--out', 'bad-out', '--registrations', 'none.json', '--drop-provenance');
  assert.notEqual(bulk.status, 0);
  assert.match(bulk.stderr, /go with delegate --project NAME/);
  assert.equal(fs.existsSync(path.join(work, 'bad-out')), false, 'nothing written');
});

test('the server refuses a bin whose requirement clients could not read', async () => {
  const { role } = await delegate(
    'four',
    ['alice@example.com'],
    ['--require-provenance', RELEASE_WORKFLOW, '--provenance-issuer', GITHUB_ISSUER],
  );
  assert.ok(role['x-build-provenance']);
  await carry('pull', '--out', 'five-pulled', '--all-bins');
  const top = fs.readdirSync(path.join(work, 'five-pulled')).find((f) => /^\d+\.targets\.json$/.test(f))!;
  const res = await offline(
    'delegate',
    '--from',
    path.join('five-pulled', top),
    '--out',
    'five-out',
    '--project',
    'mylib',
    '--identity',
    'alice@example.com',
    '--issuer',
    issuer(),
    '--threshold',
    '1',
  );
  assert.equal(res.status, 0, res.stderr);
  const file = path.join(work, 'five-out', fs.readdirSync(path.join(work, 'five-out'))[0]!);
  const bin = JSON.parse(fs.readFileSync(file, 'utf8')) as Envelope;
  const mylib = (bin.signed.delegations as { roles: Record<string, unknown>[] }).roles.find((r) => r.name === 'mylib')!;
  mylib['x-build-provenance'] = { identity: RELEASE_WORKFLOW }; // no issuer: a client could not compare it
  fs.writeFileSync(file, JSON.stringify(bin));
  assert.equal((await offline('sign', file, '--key', 'bins.key.json')).status, 0);
  const push = await runCli('carry/main.ts', ['--server', t.baseUrl, 'push', file], { TUF_ADMIN_TOKEN: t.adminToken }, work);
  assert.notEqual(push.status, 0);
  assert.match(push.stdout + push.stderr, /malformed.*x-build-provenance|x-build-provenance.*must be/s);
});
