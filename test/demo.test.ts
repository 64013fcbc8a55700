// `npm start` on a fresh directory, then `npm run demo` twice against it, and again after demo's
// maintainer was revoked (issue 17 item 5): the real commands, a real server process with its own
// embedded PostgreSQL, its local Sigstore and dev ceremony, run with two workers as `npm start`
// runs on a machine of two cores or more (each worker has a local Sigstore on the same keys and
// log file: a certificate from one verifies in the other, a log entry from one is found in both).
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { freePort } from '../server/db/embeddedPostgres.ts';
import { projectPlacement } from '../core/bins.ts';
import type { JsonObject } from '../core/canonical.ts';
import { mustRun } from './helpers/cli.ts';

const repo = path.resolve(import.meta.dirname, '..');
let home: string;
let server: ChildProcess;
let url: string;
let serverOutput = '';

before(async () => {
  home = fs.mkdtempSync(path.join(os.tmpdir(), 'tuf-dev-'));
  fs.chmodSync(home, 0o755);
  const port = await freePort();
  url = `http://127.0.0.1:${port}`;
  server = spawn(process.execPath, [path.join(repo, 'bin', 'tuf-server.mjs'), 'start'], {
    cwd: home,
    env: { ...process.env, PORT: String(port), PUBLIC_URL: url, LOG_LEVEL: 'info', NODE_ENV: 'development', WEB_CONCURRENCY: '2' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  server.stdout!.on('data', (d) => (serverOutput += d));
  server.stderr!.on('data', (d) => (serverOutput += d));
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (server.exitCode !== null) throw new Error(`server exited: ${serverOutput}`);
    try {
      // Ready, and both workers serve (the first answers before the second listens).
      if ((await fetch(`${url}/readyz`)).status === 200 && /^tuf_server_processes 2$/m.test(await (await fetch(`${url}/metrics`)).text()))
        break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`server not ready: ${serverOutput}`);
    await new Promise((r) => setTimeout(r, 200));
  }
});

after(async () => {
  server.kill('SIGTERM');
  if (server.exitCode === null) await new Promise((r) => server.once('exit', r));
  fs.rmSync(home, { recursive: true, force: true });
});

function demo(extra: Record<string, string> = {}): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', path.join(repo, 'scripts', 'demo.ts')], {
      cwd: repo,
      env: { ...process.env, DEMO_SERVER: url, DEV_DIR: path.join(home, '.dev'), ...extra },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    child.on('close', (code) => resolve({ code: code ?? 1, out }));
  });
}

test('npm start prints where to point a client, and warns that it is a development setup', () => {
  assert.match(serverOutput, new RegExp(`metadata URL:\\s+${url}/metadata/`));
  assert.match(serverOutput, /trusted root:\s+\S+\.dev\/1\.root\.json/);
  assert.match(serverOutput, /DEVELOPMENT CEREMONY/);
  assert.ok(fs.existsSync(path.join(home, '.dev', '1.root.json')));
});

test('the demo story runs, and runs again against the same server', async () => {
  const first = await demo();
  assert.equal(first.code, 0, first.out);
  assert.match(first.out, /register demo-maintainer@example\.com/);
  assert.match(first.out, /published demo v1/);
  assert.match(first.out, /verified and saved demo\/demo-1\.0\.tgz/);
  // The client learned the roles' versions from TAP 16 proofs, not from the whole snapshot.json.
  assert.match(first.out, /snapshot: v\d+ by TAP 16 proofs/);
  assert.match(first.out, /proof: demo v1 in snapshot v\d+/);
  assert.match(first.out, /demo v1: 1\/1 valid signatures, threshold MET/);
  const second = await demo();
  assert.equal(second.code, 0, second.out);
  assert.match(second.out, /already a maintainer of demo/);
  assert.match(second.out, /published demo v2/);
});

test('after a revocation (demo delegated to someone else, as the runbook does), the demo runs again: it delegates demo back and publishes', async () => {
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'tuf-demo-revoke-'));
  try {
    const devDir = path.join(home, '.dev');
    const admin = { TUF_ADMIN_TOKEN: fs.readFileSync(path.join(devDir, 'admin-token'), 'utf8').trim() };
    const issuer = ((await (await fetch(`${url}/api/v1/config`)).json()) as { sigstore: { oidcIssuer: string } }).sigstore.oidcIssuer;
    await mustRun('carry/main.ts', ['--server', url, 'pull', '--out', 'current'], admin, work);
    const targetsFile = fs.readdirSync(path.join(work, 'current')).find((f) => /^\d+\.targets\.json$/.test(f))!;
    const top = JSON.parse(fs.readFileSync(path.join(work, 'current', targetsFile), 'utf8')) as { signed: JsonObject };
    const bin = projectPlacement(top.signed, 'demo').role;
    assert.notEqual(bin, 'targets', 'development repositories use bins');
    await mustRun('carry/main.ts', ['--server', url, 'pull', '--out', 'current', '--bin', bin], admin, work);
    const from = path.join('current', targetsFile);
    const delegated = ['--from', from, '--bins', 'current/bins', '--out', 'revoked', '--project', 'demo'];
    await mustRun('keys-offline/main.ts', ['delegate', ...delegated, '--identity', 'other@example.com', '--issuer', issuer], {}, work);
    const key = path.join(devDir, 'keys', 'dev-bins.key.json');
    await mustRun(
      'keys-offline/main.ts',
      ['sign', path.join('revoked', `${bin}.json`), '--key', key],
      { TUF_KEY_PASSPHRASE: 'insecure-dev-passphrase' },
      work,
    );
    await mustRun('carry/main.ts', ['--server', url, 'push', path.join('revoked', `${bin}.json`)], admin, work);

    const again = await demo();
    assert.equal(again.code, 0, again.out);
    assert.match(again.out, /"demo" is delegated to other@example\.com, not to demo-maintainer@example\.com/);
    assert.match(again.out, /a registration would be refused \(already_delegated\)/);
    assert.match(again.out, /published demo v3/);
    assert.match(again.out, /demo v3: 1\/1 valid signatures, threshold MET/);
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
});

test('pointed at no server, the demo says how to point it at one (DEMO_SERVER, DEV_DIR)', async () => {
  const res = await demo({ DEMO_SERVER: `http://127.0.0.1:${await freePort()}` });
  assert.equal(res.code, 1);
  assert.match(res.out, /no repository answers at http:\/\/127\.0\.0\.1:\d+ \(ECONNREFUSED\)\. Start one with `npm start`/);
  assert.match(res.out, /DEMO_SERVER=http:\/\/HOST:PORT DEV_DIR=\/path\/to\/its\/\.dev npm run demo/);
});

test('tokens and private keys never reach the server log', () => {
  assert.doesNotMatch(serverOutput, /eyJ[A-Za-z0-9_-]{10,}\./, 'no JWT');
  assert.doesNotMatch(serverOutput, /PRIVATE KEY/);
  assert.doesNotMatch(serverOutput, /tufadm_/);
});
