// What the key-rotation drill of docs/runbooks.md turned up (issue 22's last step), each held here:
// `tuf-offline status ROOT` lists every role's keys in full (the KEYID the runbooks ask for); an
// edit-root that changes the targets keys says that targets must go with it; `tuf-carry pull` into
// a folder of an earlier pull names the current versions and the older files; `online-keys rotate`
// names the new key and the next step.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { privateKeySigner } from '../core/signer.ts';
import { runCli } from './helpers/cli.ts';
import { bootstrapped, delegateProject, type CeremonyKeys, type TestRepo } from './helpers/repo.ts';

let t: TestRepo;
let keys: CeremonyKeys;
let work: string;
const carry = (...args: string[]) => runCli('carry/main.ts', ['--server', t.baseUrl, ...args], { TUF_ADMIN_TOKEN: t.adminToken }, work);
const offline = (...args: string[]) => runCli('keys-offline/main.ts', args, { TUF_KEY_PASSPHRASE: 'drill passphrase' }, work);
const re = (s: string) => new RegExp(s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'));

before(async () => {
  ({ t, keys } = await bootstrapped());
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'tuf-drill-'));
});
after(async () => {
  await t.close();
  fs.rmSync(work, { recursive: true, force: true });
});

test("tuf-offline status of a root lists each role's threshold and keyids in full (text and --json)", async () => {
  assert.equal((await carry('pull', '--out', 'current')).status, 0);
  const res = await offline('status', 'current/1.root.json');
  assert.equal(res.status, 0, res.stderr);
  const targetsKeyid = privateKeySigner(keys.targets[0]!).keyid;
  const rootKeyid = privateKeySigner(keys.root[0]!).keyid;
  assert.match(res.stdout, /^roles \(keyids in full: edit-root --remove-\*-key takes 8 or more characters of one\):$/m);
  assert.match(res.stdout, re(`  root: threshold 1 of ${rootKeyid} (`));
  assert.match(res.stdout, re(`  targets: threshold 1 of ${targetsKeyid} (`));
  assert.match(res.stdout, /^ {2}snapshot: threshold 1 of [0-9a-f]{64} \(ecdsa\)$/m);
  assert.match(res.stdout, /^ {2}timestamp: threshold 1 of [0-9a-f]{64} \(ecdsa\)$/m);
  const json = JSON.parse((await offline('status', 'current/1.root.json', '--json')).stdout) as {
    roles: { role: string; threshold: number; keys: { keyid: string }[] }[];
  };
  assert.deepEqual(
    json.roles.map((r) => r.role),
    ['root', 'targets', 'snapshot', 'timestamp'],
  );
  assert.deepEqual(json.roles[1]!.keys[0]!.keyid, targetsKeyid);
});

test('edit-root that changes the targets keys says targets must be re-signed and pushed with it; one that does not, says nothing of it', async () => {
  assert.equal((await offline('keygen', '--name', 'publisher2', '--out', 'keys')).status, 0);
  const targetsKeyid = privateKeySigner(keys.targets[0]!).keyid;
  const rotated = await offline(
    'edit-root',
    '--from',
    'current/1.root.json',
    '--out',
    '2.root.json',
    '--remove-targets-key',
    targetsKeyid.slice(0, 8),
    '--add-targets-key',
    'keys/publisher2.pub.json',
  );
  assert.equal(rotated.status, 0, rotated.stderr);
  assert.match(
    rotated.stdout,
    /the targets keys change: the current targets must be re-signed by the new ones and pushed together with this root/,
  );
  assert.match(rotated.stdout, /tuf-carry push 2\.root\.json --with-targets T\+1\.targets\.json/);
  const rootOnly = await offline(
    'edit-root',
    '--from',
    'current/1.root.json',
    '--out',
    'other.root.json',
    '--root-threshold',
    '1',
    '--expires-days',
    '200',
  );
  assert.equal(rootOnly.status, 0, rootOnly.stderr);
  assert.doesNotMatch(rootOnly.stdout, /targets keys change/);
});

test('tuf-carry pull into the folder of an earlier pull names the current versions and the older files it leaves there', async () => {
  const first = await carry('pull', '--out', 'again');
  assert.equal(first.status, 0, first.stderr);
  assert.match(first.stdout, re('root v1 (again/1.root.json), targets v1 (again/1.targets.json) to again'));
  assert.doesNotMatch(first.stdout, /older versions/);
  await delegateProject(t, keys, 'lib', ['alice@example.com']); // targets v2
  const second = await carry('pull', '--out', 'again');
  assert.equal(second.status, 0, second.stderr);
  assert.match(second.stdout, re('targets v2 (again/2.targets.json) to again'));
  assert.match(
    second.stdout,
    re(
      'note: again also holds older versions from an earlier pull (1.targets.json); the next ceremony starts from the versions named above',
    ),
  );
  const json = JSON.parse((await carry('pull', '--out', 'again', '--json')).stdout) as { olderVersions: string[] };
  assert.deepEqual(json.olderVersions, [path.join('again', '1.targets.json')]);
});

test('online-keys rotate names the new key, where it is, and the next step (the public key alone stays on stdout)', async () => {
  const dir = path.join(work, 'server-home');
  fs.mkdirSync(dir);
  const env = { TUF_HOME: dir, DATA_DIR: '', ONLINE_KEYS_DIR: '', DATABASE_URL: '' };
  assert.equal((await runCli('server/main.ts', ['online-keys', 'create'], env, dir)).status, 0);
  const res = await runCli('server/main.ts', ['online-keys', 'rotate', 'timestamp'], env, dir);
  assert.equal(res.status, 0, res.stderr);
  const shown = JSON.parse(res.stdout) as { timestamp: { keyval: { public: string } } };
  assert.ok(shown.timestamp.keyval.public);
  const keyid = /^tuf-server: new timestamp key ([0-9a-f]{64}) \(in (\S+)\)\./m.exec(res.stderr);
  assert.ok(keyid, res.stderr);
  assert.ok(fs.existsSync(path.join(keyid[2]!, `timestamp-${keyid[1]}.json`)), 'the key file is named after the keyid it prints');
  assert.match(res.stderr, /Next: `tuf-server online-keys show > online-keys\.json`/);
  assert.match(res.stderr, /tuf-offline edit-root --from current\/N\.root\.json --out N\+1\.root\.json --online-keys online-keys\.json/);
});
