// Where the online keys live: ONLINE_KEYS_DIR defaults to DATA_DIR/online-keys (it was
// .data/online-keys under the current directory, whatever DATA_DIR said). A repository whose keys
// are still at the old default keeps using them, with a warning saying how to move them, and never
// gets a second key set; keys in both places are refused. `tuf-server online-keys show` run where
// the server's keys are not says where it looked and how to point it at them, and suggests
// `online-keys create` only for a new production repository.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { loadConfig } from '../server/config.ts';
import { OnlineKeysLocationError } from '../server/onlineKeysDir.ts';
import { mustRun, runCli } from './helpers/cli.ts';
import { createTestDatabase } from './helpers/db.ts';
import { bootstrapped } from './helpers/repo.ts';

let base: string;

before(() => {
  base = fs.mkdtempSync(path.join(os.tmpdir(), 'tuf-online-keys-'));
});
after(() => fs.rmSync(base, { recursive: true, force: true }));

function folder(name: string): string {
  const dir = path.join(base, name);
  fs.mkdirSync(dir, { recursive: true });
  return dir;
}

/** `tuf-server online-keys ...` in development mode (no DATABASE_URL), from `cwd`. */
const keysCli = (cwd: string, env: Record<string, string>, ...args: string[]) =>
  runCli('server/main.ts', ['online-keys', ...args], { NODE_ENV: 'development', DATABASE_URL: '', ...env }, cwd);

test('without DATA_DIR the old default and the new one are the same folder; with DATA_DIR the keys go to DATA_DIR/online-keys', async () => {
  const home = folder('plain');
  const plain = loadConfig({ TUF_HOME: home });
  assert.equal(plain.onlineKeysDir, path.join(home, '.data', 'online-keys'));
  assert.equal(plain.onlineKeysLocation.defaultDir, plain.onlineKeysLocation.legacyDir);
  assert.deepEqual(plain.warnings, []);
  assert.equal(loadConfig({ TUF_HOME: home, DATA_DIR: '.data' }).onlineKeysDir, plain.onlineKeysDir);

  const data = path.join(base, 'srv', 'data');
  const custom = loadConfig({ TUF_HOME: home, DATA_DIR: data });
  assert.equal(custom.onlineKeysDir, path.join(data, 'online-keys'));
  assert.equal(custom.onlineKeysLocation.source, 'default');
  assert.equal(custom.uploadStagingDir, path.join(data, 'staging'), 'both follow DATA_DIR');
  assert.equal(loadConfig({ TUF_HOME: home, DATA_DIR: data, ONLINE_KEYS_DIR: 'k' }).onlineKeysDir, path.join(home, 'k'));

  // Created where the configuration says, and nowhere else.
  await mustRun('server/main.ts', ['online-keys', 'create'], { NODE_ENV: 'development', DATABASE_URL: '', DATA_DIR: data }, home);
  assert.equal(fs.readdirSync(path.join(data, 'online-keys')).length, 2);
  assert.equal(fs.existsSync(path.join(home, '.data')), false, 'nothing under the current directory');
});

test('keys at the old default, DATA_DIR set elsewhere: the old keys are used with a warning saying how to move them, and no second set is created', async () => {
  const home = folder('legacy');
  const data = path.join(base, 'legacy-data');
  // An existing repository: its keys were created at the old default, .data/online-keys here.
  const created = await mustRun('server/main.ts', ['online-keys', 'create'], { NODE_ENV: 'development', DATABASE_URL: '' }, home);
  const legacyDir = path.join(home, '.data', 'online-keys');
  assert.equal(fs.readdirSync(legacyDir).length, 2);

  const config = loadConfig({ TUF_HOME: home, DATA_DIR: data });
  assert.equal(config.onlineKeysDir, legacyDir);
  assert.equal(config.onlineKeysLocation.source, 'legacy');
  assert.equal(config.warnings.length, 1);
  assert.ok(config.warnings[0]!.includes(`mv ${legacyDir} ${path.join(data, 'online-keys')}`), config.warnings[0]);
  assert.ok(config.warnings[0]!.includes(`ONLINE_KEYS_DIR=${legacyDir}`), config.warnings[0]);

  for (const sub of ['create', 'show']) {
    const res = await keysCli(home, { DATA_DIR: data }, sub);
    assert.equal(res.status, 0, res.stderr);
    assert.deepEqual(JSON.parse(res.stdout), JSON.parse(created), `${sub}: the repository's keys`);
    assert.match(res.stderr, /^tuf-server: warning: online keys: using \S+legacy\/\.data\/online-keys, the default before/m);
  }
  assert.equal(fs.existsSync(path.join(data, 'online-keys')), false, 'no second key set');
  assert.equal(fs.readdirSync(legacyDir).length, 2);

  // Moved as the warning says: the new default, no warning.
  fs.mkdirSync(data, { recursive: true });
  fs.renameSync(legacyDir, path.join(data, 'online-keys'));
  const moved = await keysCli(home, { DATA_DIR: data }, 'show');
  assert.equal(moved.status, 0, moved.stderr);
  assert.deepEqual(JSON.parse(moved.stdout), JSON.parse(created));
  assert.equal(moved.stderr, '');
});

test("keys at both the old and the new default are refused (online_keys_in_two_places): an operator says which set is the repository's", async () => {
  const home = folder('both');
  const data = path.join(base, 'both-data');
  await mustRun('server/main.ts', ['online-keys', 'create'], { NODE_ENV: 'development', DATABASE_URL: '' }, home);
  await mustRun(
    'server/main.ts',
    ['online-keys', 'create'],
    { NODE_ENV: 'development', DATABASE_URL: '', ONLINE_KEYS_DIR: path.join(data, 'online-keys') },
    home,
  );
  assert.throws(
    () => loadConfig({ TUF_HOME: home, DATA_DIR: data }),
    (err: unknown) => err instanceof OnlineKeysLocationError && err.code === 'online_keys_in_two_places',
  );
  const res = await keysCli(home, { DATA_DIR: data }, 'show');
  assert.equal(res.status, 1, res.stdout);
  assert.match(res.stderr, /online keys in two places: .*set ONLINE_KEYS_DIR/);
  assert.match(res.stderr, /\[online_keys_in_two_places\]$/m);
  // Said explicitly, it is the operator's choice.
  assert.equal((await keysCli(home, { DATA_DIR: data, ONLINE_KEYS_DIR: path.join(home, '.data', 'online-keys') }, 'show')).status, 0);
});

test('online-keys show from another folder: says where it looked and how to point it at the server, and never suggests create in development', async () => {
  const elsewhere = folder('elsewhere');
  const data = path.join(base, 'server', 'data');
  const res = await keysCli(elsewhere, { DATA_DIR: data, DEV_DIR: path.join(base, 'server', 'dev') }, 'show');
  assert.equal(res.status, 1, res.stdout);
  assert.ok(res.stderr.includes(`no online keys in ${path.join(data, 'online-keys')} (DATA_DIR/online-keys`), res.stderr);
  assert.ok(res.stderr.includes(path.join(elsewhere, '.data', 'online-keys')), 'the old default it looked in too');
  assert.match(res.stderr, /run this command where the server runs/);
  assert.match(res.stderr, /ONLINE_KEYS_DIR=the server's ONLINE_KEYS_DIR, or DATA_DIR=the server's DATA_DIR/);
  assert.equal(res.stderr.includes('online-keys create'), false, res.stderr);
  assert.match(res.stderr, /\[no_online_keys\]$/m);
  assert.equal(fs.existsSync(path.join(data, 'online-keys')), false, 'show creates nothing');

  const explicit = await keysCli(elsewhere, { ONLINE_KEYS_DIR: 'keys' }, 'show');
  assert.equal(explicit.status, 1);
  assert.ok(explicit.stderr.includes(`no online keys in ${path.join(elsewhere, 'keys')} (ONLINE_KEYS_DIR)`), explicit.stderr);
});

test('online-keys show in production: create is suggested for a database without a repository, never for a bootstrapped one', async () => {
  const dir = folder('production');
  const prod = (databaseUrl: string) =>
    runCli('server/main.ts', ['online-keys', 'show'], { NODE_ENV: 'production', DATABASE_URL: databaseUrl, DEV_SIGSTORE: 'false' }, dir);
  const empty = await createTestDatabase();
  try {
    const res = await prod(empty.url);
    assert.equal(res.status, 1);
    assert.match(res.stderr, /holds no repository yet: on the new server, create its keys with `tuf-server online-keys create`/);
  } finally {
    await empty.drop();
  }
  const { t } = await bootstrapped();
  try {
    const res = await prod(t.databaseUrl);
    assert.equal(res.status, 1);
    assert.match(res.stderr, /holds a bootstrapped repository, so its online keys exist/);
    assert.equal(res.stderr.includes('online-keys create'), false, res.stderr);
    assert.match(res.stderr, /\[no_online_keys\]$/m);
  } finally {
    await t.close();
  }
});
