// A development server whose DATA_DIR and DEV_DIR sit in one folder that does not exist yet
// (issue 22): only the folders holding secrets are private, so the embedded PostgreSQL (run as an
// unprivileged user when we are root) reaches DATA_DIR; and `tuf-server audit verify` runs beside
// it, on the embedded PostgreSQL the server runs, without the server's PORT or PUBLIC_URL.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import { runCli } from './helpers/cli.ts';
import { startServerProcess, type ServerProcess } from './helpers/serverProcess.ts';

let base: string;
let home: string;
let server: ServerProcess;
const env = () => ({ TUF_HOME: home, DATA_DIR: path.join(base, 'x', 'data'), DEV_DIR: path.join(base, 'x', 'dev') });
const mode = (p: string) => fs.statSync(p).mode & 0o777;

before(async () => {
  base = fs.mkdtempSync(path.join(os.tmpdir(), 'tuf-folders-'));
  fs.chmodSync(base, 0o755); // as /srv or /tmp would be
  home = path.join(base, 'home');
  fs.mkdirSync(home, { mode: 0o755 });
  assert.equal(fs.existsSync(path.join(base, 'x')), false);
  server = await startServerProcess({ ...env(), NODE_ENV: 'development', DEV_BINS: '16', LOG_LEVEL: 'warn' });
});

after(async () => {
  await server?.stop();
  fs.rmSync(base, { recursive: true, force: true });
});

test('DATA_DIR and DEV_DIR in one fresh folder: the server comes up, and only the secret folders are private', async () => {
  assert.equal((await fetch(`${server.url}/readyz`)).status, 200, server.output());
  const x = path.join(base, 'x');
  assert.notEqual(mode(x) & 0o055, 0, `the shared parent ${x} must not be private (mode ${mode(x).toString(8)})`);
  assert.notEqual(mode(path.join(x, 'data')) & 0o055, 0, 'DATA_DIR itself is not private');
  for (const secret of [
    path.join(x, 'dev'),
    path.join(x, 'dev', 'keys'),
    path.join(x, 'dev', 'sigstore'),
    path.join(x, 'data', 'online-keys'), // ONLINE_KEYS_DIR follows DATA_DIR
  ]) {
    assert.equal(mode(secret), 0o700, `${secret} holds secrets: 0700, got ${mode(secret).toString(8)}`);
  }
  assert.equal(mode(path.join(x, 'data', 'pg')), 0o700, 'the PostgreSQL cluster');
  assert.equal(fs.existsSync(path.join(home, '.data')), false, 'nothing under TUF_HOME/.data: DATA_DIR holds the online keys too');
  assert.ok(fs.existsSync(path.join(x, 'dev', '1.root.json')));
});

test('audit verify beside the running development server uses its embedded PostgreSQL and names it, without the password', async () => {
  // Another PORT and PUBLIC_URL than the server's: the audit needs neither.
  const res = await runCli('server/main.ts', ['audit', 'verify'], { ...env(), PORT: '1', PUBLIC_URL: 'http://elsewhere.invalid' });
  assert.equal(res.status, 0, res.stdout + res.stderr);
  const pgDir = path.join(base, 'x', 'data', 'pg');
  assert.match(
    res.stdout,
    /^database: postgres:\/\/postgres@127\.0\.0\.1:\d+\/tuf \(the embedded PostgreSQL in (\S+), already running: postmaster pid \d+\)$/m,
  );
  assert.ok(res.stdout.includes(pgDir), res.stdout);
  const password = fs.readFileSync(`${pgDir}.password`, 'utf8').trim();
  assert.equal(res.stdout.includes(password) || res.stderr.includes(password), false, 'the database password is never printed');
  assert.match(res.stdout, /^sigstore trusted root: \S+dev\/sigstore\/trusted_root\.json \(the local development Sigstore\)$/m);
  assert.match(res.stdout, /^[1-9]\d* versions checked, 0 problem\(s\)$/m);
  assert.match(res.stdout, /^audit verify: OK$/m);

  // From another directory, with --data-dir (and DEV_DIR for the local Sigstore's root).
  const other = await runCli(
    'server/main.ts',
    ['audit', 'verify', '--data-dir', path.join(base, 'x', 'data')],
    { DEV_DIR: path.join(base, 'x', 'dev') },
    base,
  );
  assert.equal(other.status, 0, other.stdout + other.stderr);
  assert.match(other.stdout, /already running/);
  assert.match(other.stdout, /^audit verify: OK$/m);
  // The server still serves: the audit stopped nothing of it.
  assert.equal((await fetch(`${server.url}/readyz`)).status, 200);
});

test('audit verify on a folder without a cluster fails and creates none', async () => {
  const empty = path.join(base, 'empty-data');
  const res = await runCli('server/main.ts', ['audit', 'verify', '--data-dir', empty], { DEV_DIR: path.join(base, 'x', 'dev') }, base);
  assert.equal(res.status, 1, res.stdout + res.stderr);
  assert.match(res.stderr, /no PostgreSQL cluster in \S+empty-data\/pg, so no repository/);
  assert.equal(fs.existsSync(path.join(empty, 'pg')), false, 'the audit never creates a cluster');
});

test("README's stock tuf-js example runs as written against a development server, downloads what it names, and writes only in its scratch folder", async () => {
  const readme = fs.readFileSync(path.resolve(import.meta.dirname, '..', 'README.md'), 'utf8');
  const snippet = /```js\n(import \{ Updater \} from 'tuf-js';[\s\S]*?)```/.exec(readme)?.[1];
  assert.ok(snippet, 'the tuf-js example in README.md');
  const dir = path.join(base, 'readme-client');
  fs.mkdirSync(dir);
  fs.symlinkSync(path.join(base, 'x', 'dev'), path.join(dir, '.dev')); // run where `npm start` runs
  const tufJs = pathToFileURL(createRequire(import.meta.url).resolve('tuf-js')).href;
  const script = snippet.replace("from 'tuf-js'", `from '${tufJs}'`).replaceAll('http://localhost:8080', server.url);
  fs.writeFileSync(path.join(dir, 'example.mjs'), script);
  const scratch = path.join(base, 'tmp'); // the system's temporary directory, for this run
  fs.mkdirSync(scratch);
  const { spawnSync } = await import('node:child_process');
  const res = spawnSync(process.execPath, ['example.mjs'], {
    cwd: dir,
    encoding: 'utf8',
    timeout: 60_000,
    env: { ...process.env, TMPDIR: scratch },
  });
  assert.equal(res.status, 0, res.stdout + res.stderr);
  const saved = /^verified sigstore\/trusted_root\.json, saved to (\S+)$/m.exec(res.stdout)?.[1];
  assert.ok(saved, res.stdout);
  assert.ok(saved.startsWith(`${scratch}${path.sep}tuf-example-`), `saved in a scratch folder: ${saved}`);
  assert.deepEqual(
    JSON.parse(fs.readFileSync(saved, 'utf8')),
    JSON.parse(fs.readFileSync(path.join(base, 'x', 'dev', 'sigstore', 'trusted_root.json'), 'utf8')),
  );
  assert.deepEqual(fs.readdirSync(dir).sort(), ['.dev', 'example.mjs'], 'nothing written where it runs');
});
