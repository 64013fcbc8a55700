// `tuf-server blobs migrate --to URL`, run as operators run it (a process of its own) beside a
// serving repository, against the run's real Ceph S3 gateway: every file moves with its SHA-256
// checked, downloads keep working while it runs, Ctrl-C stops it with nothing half moved and a
// second run moves the rest, damaged bytes are reported and not moved, and files move back.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { editedTargetsSigned } from '../core/ceremony.ts';
import { sha256Hex } from '../core/canonical.ts';
import { describeTarget, signEnvelope, type Envelope } from '../core/metadata.ts';
import { privateKeySigner } from '../core/signer.ts';
import { putBlob } from '../server/db/targetsRepo.ts';
import { runCli } from './helpers/cli.ts';
import { bootstrapped, type CeremonyKeys, type TestRepo } from './helpers/repo.ts';
import { createTestBucket, s3Env, type TestBucket } from './helpers/s3.ts';

Object.assign(process.env, s3Env());

let bucket: TestBucket;
let t: TestRepo;
let keys: CeremonyKeys;
let targets: Envelope;
/** target path -> bytes, every file listed. */
const files = new Map<string, Buffer>();

const cliEnv = () => ({ NODE_ENV: 'production', DATABASE_URL: t.databaseUrl, TUF_HOME: t.home, LOG_LEVEL: 'warn', ...s3Env() });

before(async () => {
  bucket = await createTestBucket('migrate');
  const first = await bootstrapped({ env: { TARGET_DOWNLOADS: 'redirect' } });
  t = first.t;
  keys = first.keys;
  targets = first.targets;
  // 40 files in PostgreSQL: small ones whole, larger ones streamed in 1 MiB pieces.
  const add: Record<string, ReturnType<typeof describeTarget>> = {};
  for (let i = 0; i < 40; i++) {
    const bytes = randomBytes(i % 4 === 0 ? 1_500_000 : 2_000 + i);
    const name = `files/f${String(i).padStart(2, '0')}.bin`;
    files.set(name, bytes);
    add[name] = describeTarget(bytes);
    if (bytes.length > 1_000_000) {
      const res = await fetch(`${t.baseUrl}/admin/blobs`, {
        method: 'PUT',
        headers: { authorization: `Bearer ${t.adminToken}` },
        body: new Uint8Array(bytes),
      });
      assert.equal(res.status, 201);
    } else await putBlob(t.repo.knex, sha256Hex(bytes), bytes);
  }
  targets = await signEnvelope(editedTargetsSigned(targets.signed, { add }, t.clock.now()), [privateKeySigner(keys.targets[0]!)]);
  await t.repo.admission.submitTargets(targets, 'test');
});
after(async () => t?.close());

/** Downloads every listed file through the server (following redirects) and checks each hash. */
async function downloadAll(): Promise<void> {
  for (const [name, bytes] of files) {
    const sha = sha256Hex(bytes);
    const res = await fetch(`${t.baseUrl}/targets/files/${sha}.${path.basename(name)}`);
    assert.equal(res.status, 200, name);
    const got = Buffer.from(await res.arrayBuffer());
    assert.equal(createHash('sha256').update(got).digest('hex'), sha, name);
  }
}

async function placement() {
  const rows = await t.repo.knex('target_blobs').select('sha256', 'location', 'content');
  const chunks = Number((await t.repo.knex('target_blob_chunks').count({ n: '*' }))[0]!.n);
  return { inBucket: rows.filter((r) => r.location?.startsWith(`${bucket.url}/moved/`)).length, rows: rows.length, chunks };
}

test('a dry run says what would move and moves nothing', async () => {
  const res = await runCli('server/main.ts', ['blobs', 'migrate', '--to', `${bucket.url}/moved`, '--dry-run'], cliEnv());
  assert.equal(res.status, 0, res.stderr);
  assert.match(res.stdout, /dry run: 40 file\(s\) \(\d+ bytes\) would move to s3:\/\/migrate-[0-9a-f]+\/moved; 0 there already/);
  assert.equal((await placement()).inBucket, 0);
});

test('Ctrl-C stops the move after the files in flight; a second run moves the rest; downloads never fail', async () => {
  let downloading = true;
  const downloads = (async () => {
    let rounds = 0;
    while (downloading || rounds === 0) {
      await downloadAll();
      rounds += 1;
    }
    return rounds;
  })();
  // First run: interrupted once a few files have moved.
  const child = spawn(process.execPath, ['bin/tuf-server.mjs', 'blobs', 'migrate', '--to', `${bucket.url}/moved`], {
    cwd: path.resolve(import.meta.dirname, '..'),
    env: { ...process.env, ...cliEnv() },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  let signalled = false;
  child.stderr.on('data', (d) => (err += d));
  child.stdout.on('data', (d) => {
    out += d;
    if (!signalled && (out.match(/^moved [0-9a-f]{64}/gm) ?? []).length >= 3) {
      signalled = true;
      child.kill('SIGINT');
    }
  });
  const status = await new Promise<number>((resolve) => child.on('close', (code) => resolve(code ?? -1)));
  assert.equal(status, 1, `interrupted: exit 1\n${out}\n${err}`);
  assert.match(out, /interrupted: \d+ file\(s\) left; run the command again to move them/);
  const movedFirst = (out.match(/^moved [0-9a-f]{64}/gm) ?? []).length;
  const mid = await placement();
  assert.equal(mid.inBucket, movedFirst, 'every file reported moved is in the bucket, and only those');
  assert.ok(movedFirst >= 3 && movedFirst < files.size + 1, `${movedFirst} moved before stopping`);

  const second = await runCli('server/main.ts', ['blobs', 'migrate', '--to', `${bucket.url}/moved`], cliEnv());
  assert.equal(second.status, 0, second.stderr);
  assert.match(second.stdout, new RegExp(`; ${movedFirst} were there already`));
  assert.match(second.stdout, /every file is held at s3:\/\//);
  downloading = false;
  assert.ok((await downloads) >= 1);

  const end = await placement();
  assert.equal(end.inBucket, end.rows, 'every file in the bucket');
  assert.equal(end.chunks, 0, 'no pieces left in PostgreSQL');
  assert.equal(Number((await t.repo.knex('target_blobs').whereNotNull('content').count({ n: '*' }))[0]!.n), 0);
  // Each object holds the file's bytes, under the prefix.
  for (const row of await t.repo.knex('target_blobs').select('sha256', 'location')) {
    const got = await bucket.get(row.location.slice(`${bucket.url}/`.length));
    assert.equal(sha256Hex(got!), row.sha256);
  }
  await downloadAll();
  // Nothing left for garbage collection but what it must keep: no unclaimed object.
  assert.equal(Number((await t.repo.knex('object_cleanup').count({ n: '*' }))[0]!.n), 0);
});

test('a file whose stored bytes do not match its SHA-256 is reported and not moved (exit 3)', async () => {
  // Back to PostgreSQL first (every object is then replaced), then damage one file there.
  const back = await runCli('server/main.ts', ['blobs', 'migrate', '--to', 'postgres', '--json'], cliEnv());
  assert.equal(back.status, 0, back.stderr);
  const report = JSON.parse(back.stdout);
  const held = Number((await t.repo.knex('target_blobs').count({ n: '*' }))[0]!.n);
  assert.equal(report.moved.length, held);
  assert.equal((await placement()).inBucket, 0);
  assert.equal(Number((await t.repo.knex('object_cleanup').where({ reason: 'replaced' }).count({ n: '*' }))[0]!.n), held);
  await downloadAll();

  const victim = sha256Hex(files.get('files/f01.bin')!);
  await t.repo
    .knex('target_blobs')
    .where({ sha256: victim })
    .update({ content: Buffer.from('not the bytes') });
  const res = await runCli('server/main.ts', ['blobs', 'migrate', '--to', `${bucket.url}/again`], cliEnv());
  assert.equal(res.status, 3, res.stdout + res.stderr);
  assert.match(
    res.stdout,
    new RegExp(`NOT MOVED ${victim} \\(in postgres\\): the bytes held \\(13 bytes\\) are shorter than the file's \\d+: left where it is`),
  );
  assert.match(res.stdout, /1 file\(s\) NOT moved/);
  const row = await t.repo.knex('target_blobs').where({ sha256: victim }).first();
  assert.equal(row.location, null, 'left where it was');
  assert.equal(
    Number((await t.repo.knex('target_blobs').whereNotNull('location').count({ n: '*' }))[0]!.n),
    files.size - 1,
    'the others moved',
  );
  // Replaced objects of the earlier move go once their grace period is over.
  t.clock.advanceSeconds(2 * 3600);
  const gc = await t.repo.gc.run();
  assert.ok(gc.objectsRemoved >= held, `${gc.objectsRemoved} objects removed`);
  assert.deepEqual(await bucket.keys('moved/'), []);
});
