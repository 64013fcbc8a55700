// End to end as people use it: a ceremony with the offline tool (2 of 3 admins on root), the carry
// tool, a real HTTP server, and an unmodified tuf-js Updater that follows every change.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { Updater } from 'tuf-js';
import { mustRun, runCli } from './helpers/cli.ts';
import { startTestRepo, type TestRepo } from './helpers/repo.ts';

let t: TestRepo;
let work: string;
const env = { TUF_KEY_PASSPHRASE: 'correct horse battery staple' };
const offline = (...args: string[]) => mustRun('keys-offline/main.ts', args, env, work);
const carry = (...args: string[]) => mustRun('carry/main.ts', ['--server', t.baseUrl, ...args], { TUF_ADMIN_TOKEN: t.adminToken }, work);

function updater(name: string): Updater {
  const metadataDir = path.join(work, name, 'metadata');
  if (!fs.existsSync(metadataDir)) {
    fs.mkdirSync(metadataDir, { recursive: true });
    fs.copyFileSync(path.join(work, 'ceremony', '1.root.json'), path.join(metadataDir, 'root.json'));
  }
  return new Updater({
    metadataDir,
    metadataBaseUrl: `${t.baseUrl}/metadata`,
    targetDir: path.join(work, name, 'targets'),
    targetBaseUrl: `${t.baseUrl}/targets`,
  });
}

function trustedVersion(client: string, role: string): number {
  return JSON.parse(fs.readFileSync(path.join(work, client, 'metadata', `${role}.json`), 'utf8')).signed.version;
}

before(async () => {
  t = await startTestRepo();
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'tuf-e2e-'));
  fs.mkdirSync(path.join(work, 'ceremony'));
  fs.mkdirSync(path.join(work, 'files', 'hello'), { recursive: true });
  fs.writeFileSync(path.join(work, 'files', 'hello', 'hello-1.0.txt'), 'hello, world 1.0\n');
});
after(async () => t.close());

test('a ceremony with 2 of 3 admin signatures bootstraps the server, and tuf-js downloads a target', async () => {
  for (const name of ['alice', 'bob', 'carol']) await offline('keygen', '--name', name, '--out', 'keys');
  await offline('keygen', '--name', 'publisher', '--type', 'ecdsa', '--out', 'keys');
  // The server's public online keys travel to the offline machine as a file.
  const online = await mustRun('server/main.ts', ['online-keys', 'show'], { TUF_HOME: t.home });
  fs.writeFileSync(path.join(work, 'ceremony', 'online-keys.json'), online);
  assert.doesNotMatch(online, /PRIVATE/);

  await offline(
    'init-root',
    '--out',
    'ceremony/1.root.json',
    '--online-keys',
    'ceremony/online-keys.json',
    '--root-key',
    'keys/alice.pub.json',
    '--root-key',
    'keys/bob.pub.json',
    '--root-key',
    'keys/carol.pub.json',
    '--root-threshold',
    '2',
    '--targets-key',
    'keys/publisher.pub.json',
  );
  await offline('init-targets', '--out', 'ceremony/1.targets.json', '--add', 'hello/hello-1.0.txt=files/hello/hello-1.0.txt');

  // Alice and Carol sign copies on their own machines; the copies merge.
  fs.copyFileSync(path.join(work, 'ceremony/1.root.json'), path.join(work, 'ceremony/1.root.alice.json'));
  fs.copyFileSync(path.join(work, 'ceremony/1.root.json'), path.join(work, 'ceremony/1.root.carol.json'));
  await offline('sign', 'ceremony/1.root.alice.json', '--key', 'keys/alice.key.json');
  await offline('sign', 'ceremony/1.root.carol.json', '--key', 'keys/carol.key.json');
  const one = await runCli('keys-offline/main.ts', ['status', 'ceremony/1.root.alice.json'], env, work);
  assert.equal(one.status, 3, 'one signature of two: status exits 3');
  assert.match(one.stdout, /1 of \d keys signed, threshold 2: NOT MET/);
  await offline('merge', '--out', 'ceremony/1.root.json', 'ceremony/1.root.alice.json', 'ceremony/1.root.carol.json');
  assert.match(await offline('status', 'ceremony/1.root.json'), /2 of \d keys signed, threshold 2: MET/);
  await offline('sign', 'ceremony/1.targets.json', '--key', 'keys/publisher.key.json');
  assert.match(
    await offline('status', 'ceremony/1.targets.json', '--root', 'ceremony/1.root.json'),
    /: 1 of 1 key signed, threshold 1: MET/,
  );

  const wrongPass = await runCli(
    'keys-offline/main.ts',
    ['sign', 'ceremony/1.targets.json', '--key', 'keys/bob.key.json'],
    { TUF_KEY_PASSPHRASE: 'not the passphrase' },
    work,
  );
  assert.equal(wrongPass.status, 1);
  assert.match(wrongPass.stderr, /wrong passphrase/);

  await carry('bootstrap', 'ceremony/1.root.json', 'ceremony/1.targets.json', '--files', 'files');

  const client = updater('client');
  await client.refresh();
  const info = await client.getTargetInfo('hello/hello-1.0.txt');
  assert.ok(info, 'target listed');
  const file = await client.downloadTarget(info, path.join(work, 'client', 'hello-1.0.txt'));
  assert.equal(fs.readFileSync(file, 'utf8'), 'hello, world 1.0\n');
});

test('a new targets version pushed through the ceremony tool reaches the client', async () => {
  fs.writeFileSync(path.join(work, 'files', 'hello', 'hello-2.0.txt'), 'hello, world 2.0\n');
  await carry('pull', '--out', 'pulled');
  assert.ok(fs.existsSync(path.join(work, 'pulled', '1.targets.json')));
  await offline(
    'edit-targets',
    '--from',
    'pulled/1.targets.json',
    '--out',
    'ceremony/2.targets.json',
    '--add',
    'hello/hello-2.0.txt=files/hello/hello-2.0.txt',
  );
  const diff = await runCli(
    'keys-offline/main.ts',
    ['status', 'ceremony/2.targets.json', '--previous', 'pulled/1.targets.json', '--root', 'ceremony/1.root.json'],
    env,
    work,
  );
  assert.equal(diff.status, 3, 'not signed yet');
  assert.match(diff.stdout, /0 of 1 key signed, threshold 1: NOT MET/);
  assert.match(diff.stdout, /\+ target hello\/hello-2\.0\.txt/);
  // Unsigned metadata is refused by the server, with the reason.
  const unsigned = await runCli(
    'carry/main.ts',
    ['--server', t.baseUrl, 'push', 'ceremony/2.targets.json', '--files', 'files'],
    { TUF_ADMIN_TOKEN: t.adminToken },
    work,
  );
  assert.equal(unsigned.status, 1);
  assert.match(unsigned.stderr, /threshold_not_met/);
  await offline('sign', 'ceremony/2.targets.json', '--key', 'keys/publisher.key.json');
  await carry('push', 'ceremony/2.targets.json', '--files', 'files');

  const client = updater('client');
  await client.refresh();
  assert.equal(trustedVersion('client', 'targets'), 2);
  const info = await client.getTargetInfo('hello/hello-2.0.txt');
  assert.ok(info);
  const file = await client.downloadTarget(info, path.join(work, 'client', 'hello-2.0.txt'));
  assert.equal(fs.readFileSync(file, 'utf8'), 'hello, world 2.0\n');
});

test('after the server re-signs timestamp and snapshot on its own, the client follows', async () => {
  const client = updater('client');
  await client.refresh();
  const ts = trustedVersion('client', 'timestamp');
  const snap = trustedVersion('client', 'snapshot');
  t.clock.advanceSeconds(13 * 3600); // past half of timestamp's one-day lifetime
  await t.repo.resignTick();
  await updater('client').refresh();
  assert.equal(trustedVersion('client', 'timestamp'), ts + 1);
  assert.equal(trustedVersion('client', 'snapshot'), snap);
  t.clock.advanceSeconds(3 * 86_400); // past half of snapshot's seven days
  await t.repo.resignTick();
  await updater('client').refresh();
  assert.equal(trustedVersion('client', 'snapshot'), snap + 1);
  assert.equal(trustedVersion('client', 'timestamp'), ts + 2);
});

test('root v2 signed by 2 of 3 admins: a client that trusted v1 moves to v2', async () => {
  await offline('bump-root', '--from', 'ceremony/1.root.json', '--out', 'ceremony/2.root.json');
  await offline('sign', 'ceremony/2.root.json', '--key', 'keys/bob.key.json');
  await offline('sign', 'ceremony/2.root.json', '--key', 'keys/carol.key.json');
  assert.match(
    await offline('status', 'ceremony/2.root.json', '--previous', 'ceremony/1.root.json'),
    /previous root v1's root role: 2 of \d keys signed, threshold 2: MET/,
  );
  await carry('push', 'ceremony/2.root.json');
  await updater('client').refresh();
  assert.equal(trustedVersion('client', 'root'), 2);
  // A fresh client that starts from 1.root.json also walks the chain.
  await updater('fresh').refresh();
  assert.equal(trustedVersion('fresh', 'root'), 2);
});

test('the stored history is consistent with everything published (tuf-server audit verify)', async () => {
  const out = await mustRun('server/main.ts', ['audit', 'verify'], {
    DATABASE_URL: t.databaseUrl,
    TUF_HOME: t.home,
    DEV_SIGSTORE: 'false',
  });
  assert.match(out, /^\d+ versions checked, 0 problem\(s\)$/m);
});
