// The six tools fail alike (issue 17, items 8 and 9): one exit status convention, printed by each
// --help; an unknown command said as such (not as a missing --server); an unknown option, or one
// that another command takes, said as such with a pointer to --help; a usage error never starts or
// creates anything. No server is needed: these are all refused before any network or database.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { freePort } from '../server/db/embeddedPostgres.ts';
import { runCli } from './helpers/cli.ts';
import { singleKeyRoot } from '../core/ceremony.ts';
import { generatePrivateKey } from '../core/keys.ts';
import { privateKeySigner } from '../core/signer.ts';

const TOOLS = {
  'tuf-server': 'server/main.ts',
  'tuf-offline': 'keys-offline/main.ts',
  'tuf-carry': 'carry/main.ts',
  'tuf-maintainer': 'maintainer/main.ts',
  'tuf-client': 'client/main.ts',
  'tuf-auditor': 'auditor/main.ts',
} as const;
type Tool = keyof typeof TOOLS;

let cwd: string;
// Nothing from the test's environment may point a tool elsewhere (a server, a database, a folder).
const env = { TUF_HOME: '', DATA_DIR: '', DEV_DIR: '', DATABASE_URL: '', ONLINE_KEYS_DIR: '', TUF_SERVER: '', TUF_ADMIN_TOKEN: 'x' };
before(() => {
  cwd = fs.mkdtempSync(path.join(os.tmpdir(), 'tuf-cli-conventions-'));
});
after(() => fs.rmSync(cwd, { recursive: true, force: true }));

const run = (tool: Tool, args: string[], extra: Record<string, string> = {}) => runCli(TOOLS[tool], args, { ...env, ...extra }, cwd);

/** The one line a tool prints on stderr for a failure. */
function oneLine(stderr: string): string {
  const lines = stderr.trimEnd().split('\n');
  assert.equal(lines.length, 1, `one line on stderr, got:\n${stderr}`);
  return lines[0]!;
}

test('every --help states the same exit status convention, and what 3 means for that tool', async () => {
  const sections = new Map<Tool, string>();
  for (const tool of Object.keys(TOOLS) as Tool[]) {
    const res = await run(tool, ['--help']);
    assert.equal(res.status, 0, `${tool} --help: ${res.stderr}`);
    const at = res.stdout.indexOf('Exit status');
    assert.ok(at >= 0, `${tool} --help has an "Exit status" section`);
    const section = res.stdout.slice(at);
    assert.match(section, /^ {2}0 {2}done$/m);
    assert.match(section, /^ {2}1 {2}failed: /m);
    assert.match(section, /^ {2}2 {2}usage: an unknown command or option, or a missing or conflicting argument; nothing was done$/m);
    assert.match(section, /^ {2}3 {2}refused by verification: /m);
    sections.set(tool, section.slice(0, section.indexOf('  3  ')));
  }
  assert.equal(new Set(sections.values()).size, 1, 'statuses 0 to 2 read the same in every tool');
});

test('an unknown command: exit 2, said as such with the closest command, before a missing --server', async () => {
  const cases: [Tool, string, string][] = [
    ['tuf-server', 'admin-tokne', 'admin-token'],
    ['tuf-offline', 'statsu', 'status'],
    ['tuf-carry', 'pul', 'pull'],
    ['tuf-maintainer', 'publsh', 'publish'],
    ['tuf-client', 'fecth', 'fetch'],
    ['tuf-auditor', 'chekc', 'check'],
  ];
  for (const [tool, typo, meant] of cases) {
    const res = await run(tool, [typo]);
    assert.equal(res.status, 2, `${tool} ${typo}: ${res.stderr}`);
    assert.equal(oneLine(res.stderr), `${tool}: unknown command "${typo}" (did you mean ${meant}?); see \`${tool} --help\``);
  }
});

test("an unknown option, or one another command takes: exit 2, naming it and pointing to --help (never node's parser text)", async () => {
  const cases: [Tool, string[], string][] = [
    ['tuf-server', ['start', '--bogus'], 'unknown option --bogus'],
    ['tuf-offline', ['edit-root', '--expires', '30'], 'unknown option --expires (did you mean --expires-days?)'],
    ['tuf-offline', ['sign', 'x.json', '--root', 'r.json'], '`tuf-offline sign` does not take --root (it takes --key, --out)'],
    ['tuf-carry', ['pull', '--severs', 'http://x'], 'unknown option --severs (did you mean --server?)'],
    [
      'tuf-carry',
      ['pull', '--with-targets', 't.json'],
      '`tuf-carry pull` does not take --with-targets (it takes --server, --token-file, --out, --all-bins, --bin, --bins)',
    ],
    ['tuf-maintainer', ['status', '--project', 'x', '--remove', 'y'], '`tuf-maintainer status` does not take --remove'],
    ['tuf-client', ['fetch', 'a/b', '--delegator', 'd.json'], '`tuf-client fetch` does not take --delegator'],
    ['tuf-client', ['fetch', 'a/b', '--server'], 'option --server needs a value'],
    ['tuf-client', ['verify', 'f.json', '--json=yes'], 'option --json takes no value'],
  ];
  for (const [tool, args, message] of cases) {
    const res = await run(tool, args);
    assert.equal(res.status, 2, `${tool} ${args.join(' ')}: ${res.stderr}`);
    const line = oneLine(res.stderr);
    assert.ok(line.startsWith(`${tool}: ${message}`), `${tool} ${args.join(' ')}: ${line}`);
    assert.ok(line.endsWith(`; see \`${tool} --help\``), line);
    assert.doesNotMatch(line, /To specify a positional argument|ERR_PARSE_ARGS/);
  }
  assert.deepEqual(fs.readdirSync(cwd), [], 'no usage error created anything');
});

test('missing arguments are usage errors too (exit 2), and --json prints the failure as JSON on stdout', async () => {
  const cases: [Tool, string[], RegExp][] = [
    ['tuf-carry', ['pull'], /give --server URL \(or TUF_SERVER\)/],
    ['tuf-maintainer', ['status', '--server', 'http://127.0.0.1:1'], /give --project NAME/],
    ['tuf-client', ['fetch', 'a/b', '--server', 'http://127.0.0.1:1'], /fetch needs --out FILE/],
    ['tuf-offline', ['keygen'], /keygen needs --name/],
    ['tuf-offline', ['edit-root', 'current/1.root.json', '--out', '2.root.json'], /edit-root takes its files as options/],
    ['tuf-server', ['admin-token', 'create'], /admin-token create needs --name NAME/],
  ];
  for (const [tool, args, message] of cases) {
    const res = await run(tool, args);
    assert.equal(res.status, 2, `${tool} ${args.join(' ')}: ${res.stderr}`);
    assert.match(oneLine(res.stderr), message);
  }
  const json = await run('tuf-client', ['fetch', 'a/b', '--json']);
  assert.equal(json.status, 2);
  const parsed = JSON.parse(json.stdout) as { error: { code: string; message: string; exitStatus: number } };
  assert.equal(parsed.error.code, 'usage');
  assert.equal(parsed.error.exitStatus, 2);
  assert.match(parsed.error.message, /fetch needs --server URL/);
});

test('tuf-client fetch --root given the online keys (or any file that is not a self-signed root): a clear refusal, and nothing kept', async () => {
  const keys = path.join(cwd, 'online-keys.json');
  fs.writeFileSync(
    keys,
    JSON.stringify({
      snapshot: { keytype: 'ed25519', scheme: 'ed25519', keyval: { public: 'aa' } },
      timestamp: { keytype: 'ed25519', scheme: 'ed25519', keyval: { public: 'bb' } },
    }),
  );
  const state = path.join(cwd, 'state');
  const args = (root: string) => ['fetch', 'a/b', '--server', 'http://127.0.0.1:1', '--root', root, '--out', 'x', '--dir', state];
  const res = await run('tuf-client', args(keys));
  assert.equal(res.status, 1, res.stderr);
  assert.equal(
    oneLine(res.stderr),
    `tuf-client: ${keys} is not TUF root metadata (no "signed" object with _type "root"; it looks like the server's online public keys, ` +
      "from `tuf-server online-keys show`): give the repository's trusted root, the 1.root.json of its ceremony (in development " +
      '.dev/1.root.json) [bad_trusted_root]',
  );
  assert.equal(fs.existsSync(state), false, 'nothing went into the client state');

  // A root whose own keys did not sign it.
  const unsigned = path.join(cwd, 'unsigned.root.json');
  fs.writeFileSync(
    unsigned,
    JSON.stringify({
      signed: {
        _type: 'root',
        spec_version: '1.0.31',
        version: 1,
        expires: '2099-01-01T00:00:00Z',
        consistent_snapshot: true,
        keys: {},
        roles: Object.fromEntries(['root', 'targets', 'snapshot', 'timestamp'].map((r) => [r, { keyids: [], threshold: 1 }])),
      },
      signatures: [],
    }),
  );
  const bad = await run('tuf-client', args(unsigned));
  assert.equal(bad.status, 1);
  assert.match(
    oneLine(bad.stderr),
    new RegExp(`^tuf-client: ${unsigned.replace(/[.]/g, '\\.')} does not verify as a trusted root: .*\\[bad_trusted_root\\]$`),
  );
  assert.equal(fs.existsSync(state), false);
});

test('tuf-client fetch from a server that does not answer: exit 1, the URL and the cause (not only "fetch failed")', async () => {
  const online = privateKeySigner(generatePrivateKey('ed25519')).publicKey;
  const { root } = await singleKeyRoot({ snapshot: online, timestamp: online }, new Date());
  fs.writeFileSync(path.join(cwd, '1.root.json'), JSON.stringify(root));
  const url = `http://127.0.0.1:${await freePort()}`;
  const res = await run('tuf-client', ['fetch', 'a/b', '--server', url, '--root', '1.root.json', '--out', 'b', '--dir', 'down']);
  assert.equal(res.status, 1, res.stderr);
  assert.equal(oneLine(res.stderr), `tuf-client: Failed to download ${url}/metadata/2.root.json: fetch failed (ECONNREFUSED) [network]`);
  fs.rmSync(path.join(cwd, 'down'), { recursive: true, force: true });
  fs.rmSync(path.join(cwd, '1.root.json'));
});

test('tuf-server migrate with the database down: one line naming the database (no password) and the cause, no knex stack', async () => {
  const url = `postgres://tuf:s3cret-pw@127.0.0.1:${await freePort()}/tuf`; // nothing listens there
  const res = await run('tuf-server', ['migrate'], { DATABASE_URL: url });
  assert.equal(res.status, 1, res.stderr);
  assert.match(
    oneLine(res.stderr),
    /^tuf-server: cannot use the database postgres:\/\/tuf@127\.0\.0\.1:\d+\/tuf \(DATABASE_URL\): ECONNREFUSED: nothing accepts connections there \(is PostgreSQL running\?\) \[database_unreachable\]$/,
  );
  assert.doesNotMatch(res.stdout + res.stderr, /Acquire connection error|\n\s+at |s3cret-pw/);
  const list = await run('tuf-server', ['admin-token', 'list', '--json'], { DATABASE_URL: url });
  assert.equal(list.status, 1);
  assert.equal((JSON.parse(list.stdout) as { error: { code: string } }).error.code, 'database_unreachable');
});
