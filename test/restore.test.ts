// Restoring the database from a backup without freezing clients (issue 16). Clients update past
// the backup point; the database goes back to the backup (`tuf-server backup` / `restore`); the
// server refuses to serve until it knows the highest snapshot and timestamp versions ever
// published (the published mark outside the database, a mirror, the operator), then publishes
// above them; the roles lost with the backup are listed against the mirror; after they are
// published again, a stock tuf-js Updater and our IdentityClient that updated before and after
// the backup both refresh without error.
import assert from 'node:assert/strict';
import type { KeyObject } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { Updater } from 'tuf-js';
import type { JsonObject } from '../core/canonical.ts';
import { initialTargetsSigned, singleKeyRoot } from '../core/ceremony.ts';
import { generatePrivateKey } from '../core/keys.ts';
import { buildTargetsSigned, describeTarget, expiresAfter, signEnvelope, type Envelope } from '../core/metadata.ts';
import { privateKeySigner } from '../core/signer.ts';
import { IdentityClient } from '../client/identityUpdater.ts';
import { createKnex } from '../server/db/knex.ts';
import { AdminTokens } from '../server/admin/adminTokens.ts';
import { ensureOnlineKeys, FileKeyStore } from '../server/onlineKeys.ts';
import { migrateLatest } from '../server/db/knex.ts';
import { freePort } from '../server/db/embeddedPostgres.ts';
import { runCli } from './helpers/cli.ts';
import { createTestDatabase } from './helpers/db.ts';
import { recordSecret } from './helpers/secrets.ts';
import { startServerProcess, type ServerProcess } from './helpers/serverProcess.ts';

let dir: string;
let db: { url: string; drop(): Promise<void> };
let env: Record<string, string>;
let server: ServerProcess | null = null;
let mirror: http.Server;
let mirrorUrl = '';
const mirrored = new Map<string, Buffer>();
let token = '';
const projectKey: KeyObject = generatePrivateKey('ed25519');
const markFile = () => path.join(dir, 'data', 'published-mark.json');

before(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tuf-restore-'));
  db = await createTestDatabase();
  const knex = createKnex(db.url, 1);
  await migrateLatest(knex);
  token = await new AdminTokens(knex).create('restore-test');
  recordSecret(token);
  await knex.destroy();
  const online = await ensureOnlineKeys(new FileKeyStore(path.join(dir, 'online-keys')));
  env = {
    NODE_ENV: 'production',
    DATABASE_URL: db.url,
    TUF_HOME: dir,
    DATA_DIR: path.join(dir, 'data'),
    ONLINE_KEYS_DIR: path.join(dir, 'online-keys'),
    LOG_LEVEL: 'warn',
    WRITE_RATE_LIMIT_PER_MINUTE: '0',
    VERIFY_WORKERS: '0',
  };
  // A mirror: a copy of what the repository served, taken after the backup (a CDN's cache).
  mirror = http.createServer((req, res) => {
    const body = mirrored.get(req.url ?? '');
    res.writeHead(body ? 200 : 404).end(body);
  });
  await new Promise<void>((r) => mirror.listen(0, '127.0.0.1', () => r()));
  mirrorUrl = `http://127.0.0.1:${(mirror.address() as { port: number }).port}/metadata`;

  server = await startServerProcess(env);
  const { root, targetsKey } = await singleKeyRoot(online, new Date());
  const signer = privateKeySigner(projectKey);
  const delegations = {
    keys: { [signer.keyid]: signer.publicKey },
    roles: [{ name: 'demo', keyids: [signer.keyid], threshold: 1, paths: ['demo/*'], terminating: true }],
  };
  const targets = await signEnvelope({ ...initialTargetsSigned(new Date()), delegations: delegations as unknown as JsonObject }, [
    privateKeySigner(targetsKey),
  ]);
  const res = await admin('/admin/bootstrap', { root, targets });
  assert.equal(res.status, 201, await res.text());
  fs.writeFileSync(path.join(dir, '1.root.json'), JSON.stringify(root));
});

after(async () => {
  await server?.stop();
  await new Promise((r) => mirror?.close(r));
  await db?.drop();
  fs.rmSync(dir, { recursive: true, force: true });
});

function admin(route: string, body: unknown): Promise<Response> {
  return fetch(`${server!.url}${route}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: JSON.stringify(body),
  });
}

const releases = new Map<number, string>();

async function release(version: number): Promise<string> {
  const file = Buffer.from(`demo release ${version}`);
  const signed = buildTargetsSigned({
    version,
    expires: expiresAfter(new Date(), 30 * 86_400),
    targets: { [`demo/r${version}.bin`]: describeTarget(file) },
  });
  const metadata = await signEnvelope(signed, [privateKeySigner(projectKey)]);
  const body = JSON.stringify({ metadata, files: { [`demo/r${version}.bin`]: file.toString('base64') } });
  releases.set(version, body);
  return body;
}

async function upload(body: string): Promise<number> {
  const res = await fetch(`${server!.url}/api/v1/projects/demo/uploads`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body,
  });
  await res.arrayBuffer();
  return res.status;
}

async function served(file: string): Promise<Envelope> {
  return JSON.parse(await (await fetch(`${server!.url}/metadata/${file}`)).text()) as Envelope;
}

/** Copies what the server serves now into the mirror: timestamp, its snapshot, every role listed, every root. */
async function copyToMirror(): Promise<void> {
  const get = async (name: string) => {
    const res = await fetch(`${server!.url}/metadata/${name}`);
    assert.equal(res.status, 200, name);
    const bytes = Buffer.from(await res.arrayBuffer());
    mirrored.set(`/metadata/${name}`, bytes);
    return JSON.parse(bytes.toString('utf8')) as Envelope;
  };
  const ts = await get('timestamp.json');
  const snapshotVersion = (ts.signed.meta as Record<string, { version: number }>)['snapshot.json']!.version;
  const snapshot = await get(`${snapshotVersion}.snapshot.json`);
  for (const [file, entry] of Object.entries(snapshot.signed.meta as Record<string, { version: number }>)) {
    await get(`${entry.version}.${file}`);
  }
  for (let v = 1; ; v++) {
    if ((await fetch(`${server!.url}/metadata/${v}.root.json`)).status !== 200) break;
    await get(`${v}.root.json`);
  }
  // The release files, where a CDN in front of /targets keeps them.
  for (const [v, body] of releases) {
    const file = `demo/r${v}.bin`;
    const sha = describeTarget(Buffer.from(`demo release ${v}`)).hashes.sha256;
    const res = await fetch(`${server!.url}/targets/demo/${sha}.r${v}.bin`);
    if (res.status === 200) mirrored.set(`/targets/demo/${sha}.r${v}.bin`, Buffer.from(await res.arrayBuffer()));
    void body;
    void file;
  }
}

function tufJs(name: string): Updater {
  const metadataDir = path.join(dir, name, 'metadata');
  if (!fs.existsSync(metadataDir)) {
    fs.mkdirSync(metadataDir, { recursive: true });
    fs.copyFileSync(path.join(dir, '1.root.json'), path.join(metadataDir, 'root.json'));
  }
  fs.mkdirSync(path.join(dir, name, 'targets'), { recursive: true });
  return new Updater({
    metadataDir,
    metadataBaseUrl: `${server!.url}/metadata`,
    targetDir: path.join(dir, name, 'targets'),
    targetBaseUrl: `${server!.url}/targets`,
  });
}

function ours(name: string): IdentityClient {
  const metadataDir = path.join(dir, name, 'metadata');
  if (!fs.existsSync(metadataDir)) {
    fs.mkdirSync(metadataDir, { recursive: true });
    fs.copyFileSync(path.join(dir, '1.root.json'), path.join(metadataDir, 'root.json'));
  }
  return new IdentityClient({
    metadataBaseUrl: `${server!.url}/metadata`,
    targetBaseUrl: `${server!.url}/targets`,
    metadataDir,
    targetDir: path.join(dir, name, 'targets'),
  });
}

/** Both kinds of client refresh and download release `version`. */
async function clientsFollow(names: string[], version: number): Promise<void> {
  for (const name of names) {
    const updater = tufJs(`${name}-tufjs`);
    await updater.refresh();
    const info = await updater.getTargetInfo(`demo/r${version}.bin`);
    assert.ok(info, `${name}: tuf-js finds demo/r${version}.bin`);
    const file = await updater.downloadTarget(info, path.join(dir, `${name}-tufjs-r${version}.bin`));
    assert.equal(fs.readFileSync(file, 'utf8'), `demo release ${version}`);
    const out = path.join(dir, `${name}-ours-r${version}.bin`);
    await ours(`${name}-ours`).download(`demo/r${version}.bin`, out);
    assert.equal(fs.readFileSync(out, 'utf8'), `demo release ${version}`);
  }
}

async function withKnex<T>(work: (k: ReturnType<typeof createKnex>) => Promise<T>): Promise<T> {
  const k = createKnex(db.url, 1);
  try {
    return await work(k);
  } finally {
    await k.destroy();
  }
}

const cli = (args: string[], extra: Record<string, string> = {}) => runCli('server/main.ts', args, { ...env, ...extra });

async function startExpectingRefusal(extra: Record<string, string>): Promise<string> {
  const port = await freePort();
  const res = await runCli('server/main.ts', ['start'], { ...env, ...extra, PORT: String(port), HOST: '127.0.0.1' });
  assert.equal(res.status, 1, `start refused: ${res.stdout}${res.stderr}`);
  // It never listened: nothing was served from the restored database.
  await assert.rejects(fetch(`http://127.0.0.1:${port}/healthz`));
  return res.stderr;
}

test('clients that updated before and after the backup both follow once the database is restored', async () => {
  assert.equal(await upload(await release(1)), 201);
  await clientsFollow(['before'], 1);
  // A bucket the repository is copied to (PUBLISH_TO), as its copier left it: timestamp.json
  // written up to the current version. No server copies in this test; the row is what matters.
  const copied = (await served('timestamp.json')).signed.version as number;
  await withKnex((k) =>
    k('publish_mirror').insert({
      id: 1,
      url: 's3://bucket',
      sync_snapshot_version: 1,
      sync_timestamp_version: 1,
      synced: true,
      timestamp_version: copied,
    }),
  );
  const backupFile = path.join(dir, 'backup.gz');
  const backup = await cli(['backup', '--out', backupFile]);
  assert.equal(backup.status, 0, backup.stderr);
  assert.match(backup.stdout, /backup written to [\s\S]*snapshot v\d+, timestamp v\d+/);

  // After the backup: a release, and clients that see it.
  assert.equal(await upload(await release(2)), 201);
  await clientsFollow(['after'], 2);
  await copyToMirror();
  const seen = await served('timestamp.json');
  const seenSnapshot = (seen.signed.meta as Record<string, { version: number }>)['snapshot.json']!.version;
  const mark = JSON.parse(fs.readFileSync(markFile(), 'utf8'));
  assert.equal(mark.timestamp, seen.signed.version, 'the mark holds the served timestamp version');
  assert.equal(mark.snapshot, seenSnapshot);

  await server!.stop();
  server = null;
  const refused = await cli(['restore', backupFile]);
  assert.equal(refused.status, 1);
  assert.match(refused.stderr, /\[restore_target_not_empty\]/);
  const restored = await cli(['restore', backupFile, '--replace']);
  assert.equal(restored.status, 0, restored.stderr);
  assert.match(restored.stdout, /marked restored/);

  // Restored, and the mark is not at hand (a new host): the server refuses to serve or sign.
  fs.renameSync(markFile(), `${markFile()}.away`);
  assert.match(await startExpectingRefusal({}), /\[recovery_no_source\]/);
  const recoverBare = await cli(['recover']);
  assert.equal(recoverBare.status, 1);
  assert.match(recoverBare.stderr, /\[recovery_no_source\]/);
  // A mirror whose timestamp is not signed by the repository's key proves nothing.
  const forged = structuredClone(JSON.parse(mirrored.get('/metadata/timestamp.json')!.toString()));
  forged.signed.version += 1000;
  const genuine = mirrored.get('/metadata/timestamp.json')!;
  mirrored.set('/metadata/timestamp.json', Buffer.from(JSON.stringify(forged)));
  assert.match(await startExpectingRefusal({ MIRROR_URL: mirrorUrl }), /\[mirror_unverified\]/);
  mirrored.set('/metadata/timestamp.json', genuine);

  // The mirror's word: the server starts, publishes above it, and publishes the lost release again
  // from the mirror's copy (its maintainer's signature verified as for any upload).
  server = await startServerProcess({ ...env, MIRROR_URL: mirrorUrl });
  const ts = await served('timestamp.json');
  assert.ok((ts.signed.version as number) > (seen.signed.version as number), 'timestamp above every version clients hold');
  assert.ok((ts.signed.meta as Record<string, { version: number }>)['snapshot.json']!.version > seenSnapshot, 'snapshot too');
  // The bucket's copier must not put the backup's older timestamp.json over the one clients read there.
  const bucket = await withKnex((k) => k('publish_mirror').first('timestamp_version'));
  assert.ok(bucket.timestamp_version >= (seen.signed.version as number), `bucket floor ${bucket.timestamp_version}`);
  for (let i = 0; i < 50 && !/republished demo v2 from the mirror/.test(server.output()); i++) await new Promise((r) => setTimeout(r, 100));
  assert.match(server.output(), /republished demo v2 from the mirror/);
  await clientsFollow(['before', 'after'], 2);
  const audit = await cli(['audit', 'verify', '--mirror', mirrorUrl]);
  assert.equal(audit.status, 0, audit.stdout);
  assert.match(audit.stdout, /0 problem\(s\)/, 'the skipped versions are recorded: no gap reported');
  assert.match(audit.stdout, /0 role\(s\) served above what the database holds/);

  // A second restore, with only this host's mark at hand: it alone is enough to resume.
  await server!.stop();
  server = null;
  fs.rmSync(markFile());
  fs.renameSync(`${markFile()}.away`, markFile());
  const again = await cli(['restore', backupFile, '--replace']);
  assert.equal(again.status, 0, again.stderr);
  const held = JSON.parse(fs.readFileSync(markFile(), 'utf8'));
  server = await startServerProcess(env);
  const ts2 = await served('timestamp.json');
  assert.ok((ts2.signed.version as number) > held.timestamp);
  // Without a mirror at start, the lost release is listed, not republished.
  const lost = await cli(['audit', 'verify', '--mirror', mirrorUrl]);
  assert.equal(lost.status, 3, lost.stdout); // refused by verification: the audit found lost roles
  assert.match(lost.stdout, /LOST demo: the mirror serves v2, the database holds v1/);
  // A client that saw demo v2 refuses a snapshot listing v1 (rollback) until it is published again.
  await assert.rejects(tufJs('after-tufjs').refresh(), /version|rollback/i);
  assert.equal(await upload(releases.get(2)!), 201, 'the maintainer publishes the lost release again');
  await clientsFollow(['before', 'after'], 2);
  const audit2 = await cli(['audit', 'verify', '--mirror', mirrorUrl]);
  assert.equal(audit2.status, 0, audit2.stdout);
});

test('the operator override, and a backup cut short is refused', async () => {
  const truncated = path.join(dir, 'cut.gz');
  const whole = fs.readFileSync(path.join(dir, 'backup.gz'));
  fs.writeFileSync(truncated, whole.subarray(0, Math.floor(whole.length / 2)));
  await server!.stop();
  server = null;
  const cut = await cli(['restore', truncated, '--replace']);
  assert.equal(cut.status, 1);
  assert.match(cut.stderr, /\[backup_unreadable\]/);
  const restored = await cli(['restore', path.join(dir, 'backup.gz'), '--replace']);
  assert.equal(restored.status, 0, restored.stderr);
  fs.rmSync(markFile());
  const recovered = await cli(['recover', '--snapshot-version', '500', '--timestamp-version', '900']);
  assert.equal(recovered.status, 0, recovered.stdout + recovered.stderr);
  assert.match(recovered.stdout, /published snapshot v501, timestamp v901/);
  server = await startServerProcess(env);
  assert.equal((await served('timestamp.json')).signed.version, 901);
});
