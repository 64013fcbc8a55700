// docs/trust-policies.md runs as printed: two development servers started as its setup says (the
// `npm start` block: the same command, the second with PORT, DATA_DIR, DEV_DIR and ONLINE_KEYS_DIR), the tools on
// PATH as `npm link` puts them, and every other `sh` block of the page run in order in one shell,
// in the folder where the servers run. Then what the page says each example prints is checked.
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { freePort } from '../server/db/embeddedPostgres.ts';

const repo = path.resolve(import.meta.dirname, '..');
const doc = fs.readFileSync(path.join(repo, 'docs', 'trust-policies.md'), 'utf8');
let home: string;
const servers: { child: ChildProcess; output: string; url: string }[] = [];

async function startServer(env: Record<string, string>): Promise<{ child: ChildProcess; output: string; url: string }> {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const entry = { child: null as unknown as ChildProcess, output: '', url };
  entry.child = spawn(process.execPath, [path.join(repo, 'bin', 'tuf-server.mjs'), 'start'], {
    cwd: home,
    env: { ...process.env, ...env, PORT: String(port), PUBLIC_URL: url, NODE_ENV: 'development', LOG_LEVEL: 'warn', DEV_BINS: '64' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  entry.child.stdout!.on('data', (d) => (entry.output += d));
  entry.child.stderr!.on('data', (d) => (entry.output += d));
  servers.push(entry);
  const deadline = Date.now() + 120_000;
  for (;;) {
    if (entry.child.exitCode !== null) throw new Error(`server exited: ${entry.output}`);
    try {
      if ((await fetch(`${url}/readyz`)).status === 200) return entry;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`server not ready: ${entry.output}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

before(async () => {
  home = fs.mkdtempSync(path.join(os.tmpdir(), 'tuf-policies-doc-'));
  fs.chmodSync(home, 0o755);
  // `npm link`: the six commands on PATH.
  const bin = path.join(home, 'bin');
  fs.mkdirSync(bin);
  for (const tool of ['tuf-server', 'tuf-offline', 'tuf-carry', 'tuf-maintainer', 'tuf-client', 'tuf-auditor']) {
    fs.writeFileSync(path.join(bin, tool), `#!/bin/sh\nexec "${process.execPath}" "${path.join(repo, 'bin', `${tool}.mjs`)}" "$@"\n`, {
      mode: 0o755,
    });
  }
  // The page's setup, as printed: `npm start`, and a second instance with its own PORT, DATA_DIR, DEV_DIR, ONLINE_KEYS_DIR.
  await Promise.all([startServer({}), startServer({ DATA_DIR: '.data2', DEV_DIR: '.dev2', ONLINE_KEYS_DIR: '.data2/online-keys' })]);
});

after(async () => {
  for (const s of servers) {
    s.child.kill('SIGTERM');
    if (s.child.exitCode === null) await new Promise((r) => s.child.once('exit', r));
  }
  fs.rmSync(home, { recursive: true, force: true });
});

test('every sh block of docs/trust-policies.md runs as printed, and prints what the page says', () => {
  const blocks = [...doc.matchAll(/```sh\n([\s\S]*?)```/g)].map((m) => m[1]!);
  const start = blocks.filter((b) => b.includes('npm start'));
  assert.deepEqual(
    start,
    ['npm start\nPORT=8081 DATA_DIR=.data2 DEV_DIR=.dev2 ONLINE_KEYS_DIR=.data2/online-keys npm start\n'],
    'the setup block is what this test starts',
  );
  const [first, second] = servers;
  const script = blocks
    .filter((b) => !b.includes('npm start'))
    .map((b, i) => `echo "=== block ${i + 1} ==="\n${b}`)
    .join('\n')
    .replaceAll('http://localhost:8080', first!.url)
    .replaceAll('http://localhost:8081', second!.url);
  fs.writeFileSync(path.join(home, 'page.sh'), `set -e\n${script}`);
  const res = spawnSync('bash', ['page.sh'], {
    cwd: home,
    env: { ...process.env, PATH: `${path.join(home, 'bin')}:${process.env.PATH}` },
    encoding: 'utf8',
    timeout: 480_000,
  });
  const out = `${res.stdout}\n${res.stderr}`;
  assert.equal(res.status, 0, out);
  const read = (f: string) => fs.readFileSync(path.join(home, 'try', f), 'utf8');

  // 1. One package from the added repository, everything else from the public one.
  assert.equal(read('got-acme.tgz'), 'acme tool 1.0\n');
  assert.equal(read('got-widget.tgz'), 'widget 1.0, from the public repository\n');
  assert.match(res.stdout, /^acme tool 1\.0\nwidget 1\.0, from the public repository$/m);

  // 2. 2 of 2: agreement, then a disagreement refused and nothing written.
  assert.match(res.stderr, /^mapping 1 \(libx\/\*\): 2 of 2 repositories agree \(threshold 2\): public, acme$/m);
  assert.equal(read('got-libx.tgz'), 'libx 1.0\n');
  assert.match(
    res.stderr,
    /mapping 1 \(paths libx\/\*; 2 of public, acme; terminating\) ends the search: its repositories disagree on libx\/libx-1\.1\.tgz[\s\S]*\[mapping_disagreement\]/,
  );
  assert.equal(fs.existsSync(path.join(home, 'try', 'got-libx-1.1.tgz')), false);

  // 3. The author-and-CI release: refused without the attestation, verified with it, shown by verify; pins.
  assert.match(
    res.stderr,
    /mylib requires build provenance by https:\/\/github\.com\/acme\/mylib\/\.github\/workflows\/release\.yml@refs\/tags\/v1\.0\.0 \(issuer https:\/\/token\.actions\.githubusercontent\.com\) for every file/,
  );
  assert.match(
    res.stderr,
    /^build provenance: [0-9a-f]{3}\/mylib\/mylib-1\.0\.0\.tgz built by https:\/\/github\.com\/acme\/mylib\/\.github\/workflows\/release\.yml@refs\/tags\/v1\.0\.0 \(issuer https:\/\/token\.actions\.githubusercontent\.com\) from git\+https:\/\/github\.com\/acme\/mylib@refs\/tags\/v1\.0\.0 \(SLSA provenance v1, verified\)$/m,
  );
  assert.equal(read('got-mylib.tgz'), 'mylib 1.0.0\n');
  assert.match(res.stdout, /^mylib v1: 1\/1 valid signatures, threshold MET$/m);
  assert.match(res.stdout, /build provenance: every file of mylib needs an attestation by https:\/\/github\.com\/acme\/mylib\//);
  assert.match(
    res.stdout,
    /mylib-1\.0\.0\.tgz: built by https:\/\/github\.com\/acme\/mylib\/.+: valid \(SLSA provenance v1, subject mylib-1\.0\.0\.tgz\)/,
  );
  assert.match(
    res.stderr,
    /^policy: pin 1 \(paths mylib\/\*; 1 of alice@example\.com .+; built by https:\/\/github\.com\/acme\/mylib\/.+\) met$/m,
  );
  assert.match(
    res.stderr,
    /refused by pin 1 \(paths mylib\/\*; 1 of bob@example\.com .+\): 0 of the pinned identities signed, 1 required; mylib v1 is signed by alice@example\.com .+\[pin_not_met\]/,
  );
  // Each refusal shown on the page, with its exit status: publish (1), the disagreement and the pin (3, refused by verification).
  assert.deepEqual(res.stdout.match(/^refused \(exit \d\)$/gm), ['refused (exit 3)', 'refused (exit 1)', 'refused (exit 3)']);
});
