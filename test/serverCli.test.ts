// `tuf-server` checks its arguments before it starts anything (issue 17 item 7): without a
// command it prints its usage and exits 2, and usage errors of its subcommands are reported
// without a PostgreSQL started or a folder created in the current directory. And the network tools
// say which server they could not reach, and why (issue 17 item 8), not only "fetch failed".
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { runCli } from './helpers/cli.ts';

let cwd: string;
before(() => {
  cwd = fs.mkdtempSync(path.join(os.tmpdir(), 'tuf-server-cli-'));
});
after(() => fs.rmSync(cwd, { recursive: true, force: true }));

// The folder decides where .data and .dev would go; nothing from the test's environment may point elsewhere.
const env = { TUF_HOME: '', DATA_DIR: '', DEV_DIR: '', DATABASE_URL: '', ONLINE_KEYS_DIR: '' };

test('no command: the usage on stderr, exit 2, nothing created', async () => {
  const res = await runCli('server/main.ts', [], env, cwd);
  assert.equal(res.status, 2, res.stderr);
  assert.match(res.stderr, /give a command \(`tuf-server start` serves the repository\)/);
  assert.match(res.stderr, /Commands:\n\s+start \[--production\]/);
  assert.deepEqual(fs.readdirSync(cwd), []);
});

test('usage errors of subcommands come before any database: nothing created', async () => {
  const cases: [string[], RegExp][] = [
    [['admin-token', 'create'], /admin-token create needs --name NAME; see `tuf-server --help`/],
    [['admin-token', 'revoke'], /admin-token revoke needs --name NAME/],
    [['admin-token', 'rename'], /unknown subcommand "rename" of admin-token: tuf-server admin-token create\|list\|revoke/],
    [['audit'], /audit needs a subcommand: tuf-server audit verify/],
    [['start', '--bogus'], /unknown option --bogus; see `tuf-server --help`/],
    [['admin-tokne', 'list'], /unknown command "admin-tokne" \(did you mean admin-token\?\)/],
    [['gc', '--name', 'x'], /`tuf-server gc` does not take --name \(it takes --production, --dry-run\)/],
    [['online-keys', 'rotate'], /online-keys rotate needs the role: tuf-server online-keys rotate snapshot\|timestamp/],
    [['migrate', 'now'], /migrate takes no argument \(got now\)/],
    [['gc', '--json'], /--json goes with online-keys show, admin-token list, audit verify/],
  ];
  for (const [args, message] of cases) {
    const res = await runCli('server/main.ts', args, env, cwd);
    assert.equal(res.status, 2, `${args.join(' ')}: ${res.stderr}`);
    assert.match(res.stderr, message);
    assert.deepEqual(fs.readdirSync(cwd), [], `${args.join(' ')} created something`);
  }
});

test('tuf-carry and tuf-maintainer name the server they could not reach, and why', async () => {
  const { freePort } = await import('../server/db/embeddedPostgres.ts');
  const url = `http://127.0.0.1:${await freePort()}`; // nothing listens there
  const carry = await runCli('carry/main.ts', ['--server', url, 'pull', '--out', path.join(cwd, 'pulled')], { TUF_ADMIN_TOKEN: 'x' }, cwd);
  assert.equal(carry.status, 1);
  assert.match(
    carry.stderr,
    new RegExp(`cannot reach the server at ${url.replace(/[.]/g, '\\.')} \\(GET /[^)]*\\): ECONNREFUSED \\[unreachable\\]`),
  );
  const maintainer = await runCli('maintainer/main.ts', ['status', '--project', 'demo', '--server', url], {}, cwd);
  assert.equal(maintainer.status, 1);
  assert.match(maintainer.stderr, /cannot reach the server at http:\/\/127\.0\.0\.1:\d+ \(GET \/[^)]*\): ECONNREFUSED/);
});
