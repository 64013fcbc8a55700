// README's production ceremony, and its steps for publishing with a private Sigstore, run exactly
// as README.md prints them (issue 17, items 3, 4 and 6): the commands are read from README.md at
// run time, so the README cannot drift from the tools. They run one by one in bash, in one
// folder, with the five tools on PATH (as `npm link` puts them), against a production server
// process on a fresh database; a local Sigstore plays the private instance. The only changes are
// the placeholders (SUBSTITUTIONS below), and every command must exit 0 unless EXPECTED_EXIT says
// otherwise. Also checked on the way: /readyz before bootstrap is logged once, at warn (item 12).
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { freePort } from '../server/db/embeddedPostgres.ts';
import { createTestDatabase } from './helpers/db.ts';
import { recordSecret } from './helpers/secrets.ts';
import { startLocalSigstore, type LocalSigstoreServer } from './helpers/sigstore.ts';

const repo = path.resolve(import.meta.dirname, '..');
const README = fs.readFileSync(path.join(repo, 'README.md'), 'utf8');

/** The body of the README section whose heading starts with `heading`, up to the next `## `. */
function section(heading: string): string {
  const start = README.indexOf(`\n## ${heading}`);
  assert.ok(start >= 0, `README has a section "${heading}"`);
  const end = README.indexOf('\n## ', start + 4);
  return README.slice(start, end < 0 ? undefined : end);
}

/** The commands of every ```sh block in `text` (also indented ones, in list items), continuation lines joined, comments kept for bash. */
function shellCommands(text: string): string[] {
  const commands: string[] = [];
  for (const [, indent, body] of text.matchAll(/^( *)```sh\n([\s\S]*?)^\1```$/gm)) {
    let current = '';
    for (const raw of body!.split('\n')) {
      const line = raw.startsWith(indent!) ? raw.slice(indent!.length) : raw;
      current += line;
      if (current.endsWith('\\')) {
        current = `${current.slice(0, -1)} `;
        continue;
      }
      if (current.trim() && !current.trim().startsWith('#')) commands.push(current.trim());
      current = '';
    }
  }
  return commands;
}

const ceremony = shellCommands(section('A real ceremony, step by step'));
const privateSigstore = (() => {
  const text = section('Publishing in production');
  const at = text.indexOf('**A private instance**');
  assert.ok(at >= 0, 'README describes publishing with a private Sigstore instance');
  return shellCommands(text.slice(at));
})();

/** Commands README prints that do not exit 0, and why. */
const EXPECTED_EXIT = new Map([
  // The review before signing: the change, and NOT MET (exit 3) until the targets key signs.
  ['tuf-offline status 2.targets.json --previous current/1.targets.json --root current/1.root.json', 3],
]);

let work: string;
let db: { url: string; drop(): Promise<void> };
let sigstore: LocalSigstoreServer;
let server: { proc: ChildProcess; output: () => string } | null = null;
let serverUrl: string;
let adminToken = '';
const env: Record<string, string> = {};
const logFile = process.env.TEST_LOG_DIR ? path.join(process.env.TEST_LOG_DIR, `readme-ceremony-${process.pid}.log`) : null;

/** The placeholders README uses, and what stands for them here. */
function substitute(command: string): string {
  const pairs: [string, string][] = [
    ['postgres://tuf:secret@db.internal/tuf', db.url],
    ['https://tuf.example.org', serverUrl],
    ['--server …', `--server ${serverUrl}`],
    ['tufadm_…', adminToken],
    ['/etc/tuf/sigstore-trusted-root.json', path.join(work, 'sigstore-trusted-root.json')],
    ['https://fulcio.internal.example', sigstore.sigstore.fulcioUrl],
    ['https://rekor.internal.example', sigstore.sigstore.rekorUrl],
  ];
  return pairs.reduce((c, [from, to]) => c.replaceAll(from, to), command);
}

async function stopServer(): Promise<void> {
  if (!server) return;
  const { proc } = server;
  if (proc.exitCode === null && proc.signalCode === null) {
    proc.kill('SIGTERM');
    await new Promise((r) => proc.once('exit', r));
  }
  server = null;
}

/** `tuf-server start` runs in the foreground: here in the background, until /healthz answers. A second start is a restart. */
async function startServer(command: string): Promise<void> {
  await stopServer();
  let out = '';
  const proc = spawn('bash', ['-c', `exec ${command}`], { cwd: work, env, stdio: ['ignore', 'pipe', 'pipe'] });
  const keep = (d: Buffer) => {
    out += d;
    if (logFile) fs.appendFileSync(logFile, d);
  };
  proc.stdout!.on('data', keep);
  proc.stderr!.on('data', keep);
  server = { proc, output: () => out };
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (proc.exitCode !== null) throw new Error(`${command} exited ${proc.exitCode}:\n${out}`);
    try {
      if ((await fetch(`${serverUrl}/healthz`)).ok) return;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`${command}: no answer on /healthz:\n${out}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Waits (a few seconds at most) for the server's log, written asynchronously, to hold `text`. */
async function logged(text: string): Promise<void> {
  for (let i = 0; i < 50 && !server!.output().includes(text); i++) await new Promise((r) => setTimeout(r, 100));
}

/** Runs one README command in bash in the work folder; returns its stdout. */
async function runCommand(printed: string): Promise<string> {
  const command = substitute(printed);
  const exported = /^export (.*)$/.exec(command);
  if (exported) {
    for (const assignment of exported[1]!.split(/\s+/)) {
      const eq = assignment.indexOf('=');
      assert.ok(eq > 0, `export ${assignment}`);
      env[assignment.slice(0, eq)] = assignment.slice(eq + 1);
    }
    return '';
  }
  if (/^tuf-server start\b/.test(command)) {
    await startServer(command);
    return '';
  }
  const child = spawn('bash', ['-c', command], { cwd: work, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => (stderr += d));
  const status: number = await new Promise((resolve) => child.on('close', (c) => resolve(c ?? -1)));
  const expected = EXPECTED_EXIT.get(printed) ?? 0;
  assert.equal(status, expected, `README command \`${printed}\` exited ${status}, expected ${expected}:\n${stdout}${stderr}`);
  return stdout;
}

before(async () => {
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'tuf-readme-ceremony-'));
  db = await createTestDatabase();
  sigstore = await startLocalSigstore();
  const port = await freePort();
  serverUrl = `http://127.0.0.1:${port}`;
  // The five tools on PATH, as `npm link` puts them.
  const bin = path.join(work, '.bin');
  fs.mkdirSync(bin);
  for (const tool of ['tuf-server', 'tuf-offline', 'tuf-carry', 'tuf-maintainer', 'tuf-client']) {
    fs.writeFileSync(path.join(bin, tool), `#!/bin/sh\nexec "${process.execPath}" "${path.join(repo, 'bin', `${tool}.mjs`)}" "$@"\n`, {
      mode: 0o755,
    });
  }
  Object.assign(env, {
    PATH: `${bin}:${process.env.PATH}`,
    HOME: work,
    // The operator's environment around the commands: where the server listens, the key passphrase.
    PORT: String(port),
    HOST: '127.0.0.1',
    PUBLIC_URL: serverUrl,
    LOG_LEVEL: 'info',
    TUF_KEY_PASSPHRASE: 'correct horse battery staple',
  });
  // The admins' and maintainer's own files.
  fs.writeFileSync(path.join(work, 'hello-1.0.txt'), 'hello 1.0\n');
  fs.writeFileSync(path.join(work, 'hello-2.0.txt'), 'hello 2.0\n');
  fs.mkdirSync(path.join(work, 'dist'));
  fs.writeFileSync(path.join(work, 'dist', 'mylib-1.2.0.tgz'), 'mylib 1.2.0, signed through a private Sigstore\n');
  fs.writeFileSync(path.join(work, 'sigstore-trusted-root.json'), JSON.stringify(sigstore.setup.trustedRoot, null, 2));
  const token = await sigstore.sigstore.mintToken({ identity: 'alice@example.com', expiresInSeconds: 3600 });
  recordSecret(token);
  fs.writeFileSync(path.join(work, 'token.jwt'), token);
});

after(async () => {
  await stopServer();
  await sigstore?.close();
  await db?.drop();
  fs.rmSync(work, { recursive: true, force: true });
});

test("README's ceremony: every command as printed, on a production server and a fresh database", async () => {
  assert.ok(ceremony.length >= 20, `the ceremony's commands were found (${ceremony.length})`);
  for (const printed of ceremony) {
    const out = await runCommand(printed);
    if (/^tuf-server admin-token create\b/.test(printed)) {
      adminToken = out.trim();
      assert.match(adminToken, /^tufadm_/);
      recordSecret(adminToken);
    }
    if (/^tuf-server start\b/.test(printed)) {
      // Not bootstrapped yet: every probe answers 503, and the log says so once, at warn, without a stack.
      for (let i = 0; i < 5; i++) assert.equal((await fetch(`${serverUrl}/readyz`)).status, 503);
      await logged('not ready: /readyz answers 503');
      const lines = server!.output().split('\n');
      const notReady = lines.filter((l) => l.includes('not ready: /readyz answers 503'));
      assert.equal(notReady.length, 1, server!.output());
      assert.equal((JSON.parse(notReady[0]!) as { level: number }).level, 40, 'at warn');
      assert.match(notReady[0]!, /bootstrapped: no root yet: run the key ceremony and bootstrap/);
      assert.equal(
        lines.filter((l) => /"level":50|failed with status code|"stack"/.test(l)).length,
        0,
        'no error and no stack for a 503 from /readyz',
      );
    }
  }
  // Bootstrapped: ready, said once.
  assert.equal((await fetch(`${serverUrl}/readyz`)).status, 200);
  await logged('ready: /readyz answers 200');
  assert.equal(
    server!
      .output()
      .split('\n')
      .filter((l) => l.includes('ready: /readyz answers 200')).length,
    1,
    server!.output(),
  );
  // What the ceremony published, fetched and verified by a client from root v1.
  const hello = path.join(work, 'hello-2.0.fetched');
  await runCommand(
    `tuf-client fetch hello/hello-2.0.txt --server https://tuf.example.org --root 1.root.json --out ${hello} --dir ceremony-client`,
  );
  assert.equal(fs.readFileSync(hello, 'utf8'), 'hello 2.0\n');
});

test("README's steps for a private Sigstore: the server restarted with it, its root published, a maintainer registered, approved and published, a client verified", async () => {
  assert.ok(adminToken, 'the ceremony ran');
  assert.ok(
    privateSigstore.some((c) => c.startsWith('tuf-maintainer publish')),
    privateSigstore.join('\n'),
  );
  for (const printed of privateSigstore) await runCommand(printed);
  assert.equal(
    fs.readFileSync(path.join(work, 'mylib.tgz'), 'utf8'),
    fs.readFileSync(path.join(work, 'dist', 'mylib-1.2.0.tgz'), 'utf8'),
    'the client downloaded the published bytes',
  );
  const config = (await (await fetch(`${serverUrl}/api/v1/config`)).json()) as { sigstore: { fulcioUrl: string; rekorUrl: string } };
  assert.equal(config.sigstore.fulcioUrl, sigstore.sigstore.fulcioUrl, 'the server advertises the private Fulcio');
  assert.equal(config.sigstore.rekorUrl, sigstore.sigstore.rekorUrl);
});
