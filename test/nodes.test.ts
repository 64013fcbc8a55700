// Many nodes, no shared local disk (issue 20): three server processes on three ports, one
// PostgreSQL, one object store (the run's Ceph S3 gateway) holding the target files
// (BLOB_STORE_URL) and the published copy (PUBLISH_TO), online keys from the environment, each
// node its own home and staging folder. Uploads spread over the nodes; the node copying to the
// bucket is SIGKILLed while uploads and their publications are in flight. The others carry on and
// take the copy over; nothing acknowledged is lost; `tuf-server audit verify` passes; the bucket
// is consistent write by write and a stock client reading it finds every acknowledged release.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { Updater } from 'tuf-js';
import { canonicalBytes, sha256Hex } from '../core/canonical.ts';
import { generatePrivateKey } from '../core/keys.ts';
import { AdminTokens } from '../server/admin/adminTokens.ts';
import { createKnex, migrateLatest } from '../server/db/knex.ts';
import { currentOnlinePublicKeys, EnvKeyStore } from '../server/onlineKeys.ts';
import type { Knex } from 'knex';
import { checkWriteOrder } from './helpers/bucketOrder.ts';
import { runCli } from './helpers/cli.ts';
import { createTestDatabase } from './helpers/db.ts';
import { keyProjects, keyProjectsTargets, nextRelease, sendRelease, type KeyProjects, type PreparedUpload } from './helpers/keyProjects.ts';
import { singleKeyRoot } from '../core/ceremony.ts';
import { createTestBucket, s3Env, type TestBucket } from './helpers/s3.ts';
import { startS3Recorder, type S3Recorder } from './helpers/s3Recorder.ts';
import { recordSecret } from './helpers/secrets.ts';
import { startServerProcess, type ServerProcess } from './helpers/serverProcess.ts';
import { startLocalSigstore, type LocalSigstoreServer } from './helpers/sigstore.ts';

const PROJECTS = ['n0', 'n1', 'n2', 'n3', 'n4', 'n5'];
let dir: string;
let db: { url: string; drop(): Promise<void> };
let knex: Knex;
let files: TestBucket;
let site: TestBucket;
let recorder: S3Recorder;
let sigstore: LocalSigstoreServer;
let baseEnv: Record<string, string>;
let adminToken: string;
let projects: KeyProjects;
const nodes: (ServerProcess | null)[] = [null, null, null];
/** project -> version -> the canonical signed bytes a 201 acknowledged (or a retry confirmed). */
const acked = new Map<string, Map<number, { signed: Buffer; file: { path: string; bytes: Buffer } }>>();

function nodeEnv(i: number): Record<string, string> {
  const home = path.join(dir, `node${i}`);
  fs.mkdirSync(home, { recursive: true });
  return { ...baseEnv, TUF_HOME: home, UPLOAD_STAGING_DIR: path.join(home, 'staging') };
}

before(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tuf-nodes-'));
  db = await createTestDatabase();
  knex = createKnex(db.url, 4);
  await migrateLatest(knex);
  adminToken = await new AdminTokens(knex).create('nodes-test');
  recordSecret(adminToken);
  // Online keys in the environment of every node: no shared disk.
  const pems = {
    snapshot: generatePrivateKey('ecdsa').export({ format: 'pem', type: 'pkcs8' }).toString(),
    timestamp: generatePrivateKey('ecdsa').export({ format: 'pem', type: 'pkcs8' }).toString(),
  };
  recordSecret(pems.snapshot);
  recordSecret(pems.timestamp);
  const online = (await currentOnlinePublicKeys(new EnvKeyStore(pems)))!;
  files = await createTestBucket('files');
  site = await createTestBucket('site');
  await site.makePublic();
  recorder = await startS3Recorder(s3Env().AWS_ENDPOINT_URL_S3!);
  sigstore = await startLocalSigstore();
  fs.writeFileSync(path.join(dir, 'sigstore-root.json'), JSON.stringify(sigstore.setup.trustedRoot));
  baseEnv = {
    ...s3Env(),
    AWS_ENDPOINT_URL_S3: recorder.url,
    NODE_ENV: 'production',
    DATABASE_URL: db.url,
    TUF_SNAPSHOT_KEY: pems.snapshot,
    TUF_TIMESTAMP_KEY: pems.timestamp,
    SIGSTORE_TRUSTED_ROOT: path.join(dir, 'sigstore-root.json'),
    BLOB_STORE_URL: `${files.url}/blobs`,
    PUBLISH_TO: site.url,
    PUBLISH_LEASE_SECONDS: '5',
    LOG_LEVEL: 'warn',
    WRITE_RATE_LIMIT_PER_MINUTE: '0',
    CACHE_RELOAD_INTERVAL_SECONDS: '2',
  };
  for (let i = 0; i < 3; i++) nodes[i] = await startServerProcess(nodeEnv(i));
  projects = keyProjects(PROJECTS);
  for (const p of PROJECTS) acked.set(p, new Map());
  const { root, targetsKey } = await singleKeyRoot(online, new Date());
  fs.writeFileSync(path.join(dir, '1.root.json'), JSON.stringify(root));
  const trustedRootBytes = Buffer.from(JSON.stringify(sigstore.setup.trustedRoot));
  const put = await fetch(`${nodes[1]!.url}/admin/blobs`, {
    method: 'PUT',
    headers: { authorization: `Bearer ${adminToken}` },
    body: new Uint8Array(trustedRootBytes),
  });
  assert.equal(put.status, 201);
  const res = await fetch(`${nodes[2]!.url}/admin/bootstrap`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${adminToken}` },
    body: JSON.stringify({ root, targets: await keyProjectsTargets(projects, targetsKey, trustedRootBytes, new Date()) }),
  });
  assert.equal(res.status, 201, await res.text());
});
after(async () => {
  for (const n of nodes) {
    if (!n) continue;
    const out = n.output();
    assert.ok(
      !out.includes(adminToken) && !out.includes(s3Env().AWS_SECRET_ACCESS_KEY!) && !/PRIVATE KEY/.test(out),
      'no secret in a node log',
    );
    await n.stop();
  }
  await knex?.destroy();
  await sigstore?.close();
  await recorder?.close();
  await db?.drop();
  fs.rmSync(dir, { recursive: true, force: true });
});

const prepared = new Map<string, PreparedUpload>();

/**
 * Uploads the project's next release to a live node, retrying on another node when one dies: an
 * unanswered request may have committed, so a version_not_next answer is checked against what
 * was stored.
 */
async function uploadNext(project: string, preferred: number): Promise<void> {
  const version = projects.next.get(project)!;
  const key = `${project}\n${version}`;
  if (!prepared.has(key)) {
    prepared.set(key, await nextRelease(projects, project));
    projects.next.set(project, version); // counted once acknowledged
  }
  const upload = prepared.get(key)!;
  for (let attempt = 0; attempt < 60; attempt++) {
    const node = nodes[(preferred + attempt) % 3];
    if (!node) continue;
    let res: { status: number; text: string };
    try {
      res = await sendRelease(node.url, upload, AbortSignal.timeout(20_000));
    } catch {
      await new Promise((r) => setTimeout(r, 100));
      continue; // the node died: outcome unknown, try another
    }
    if (res.status === 201 || (res.status === 409 && res.text.includes('version_not_next'))) {
      if (res.status === 409) {
        const stored = await knex('metadata_versions').where({ role: project, version }).first('bytes');
        assert.ok(stored, `${project} v${version}: refused as not next, yet not stored`);
        assert.ok(
          canonicalBytes(JSON.parse(stored.bytes.toString('utf8')).signed).equals(upload.signed),
          `${project} v${version} taken by another upload`,
        );
      }
      acked.get(project)!.set(version, { signed: upload.signed, file: upload.file });
      projects.next.set(project, version + 1);
      return;
    }
    if (res.status >= 500) {
      await new Promise((r) => setTimeout(r, 100));
      continue;
    }
    assert.fail(`${project} v${version}: ${res.status} ${res.text}`);
  }
  assert.fail(`${project} v${version}: no node took it`);
}

test('three nodes share uploads; the copying node is SIGKILLed mid-publication; nothing acknowledged is lost and the bucket stays consistent', async () => {
  // Every node takes uploads and serves what the others publish.
  await Promise.all(PROJECTS.map((p, i) => uploadNext(p, i % 3)));
  for (const n of nodes) assert.equal((await fetch(`${n!.url}/readyz`)).status, 200);

  // Storm: all projects at once, spread over the nodes; after two rounds, kill the node that
  // holds the copy to the bucket, while uploads (and their publications) are in flight.
  let victim = -1;
  for (let round = 0; round < 8; round++) {
    const uploads = Promise.all(PROJECTS.map((p, i) => uploadNext(p, (i + round) % 3)));
    if (round === 2) {
      await new Promise((r) => setTimeout(r, 30));
      const holder = (await knex('publish_mirror').first('lease_holder'))?.lease_holder as string | undefined;
      const pid = Number(/:(\d+)\//.exec(holder ?? '')?.[1]);
      victim = nodes.findIndex((n) => n?.proc.pid === pid);
      assert.ok(victim >= 0, `the copying node is one of ours (${holder})`);
      await nodes[victim]!.kill();
      nodes[victim] = null;
    }
    await uploads;
  }
  assert.ok(victim >= 0);

  // Nothing acknowledged is lost.
  let count = 0;
  for (const [project, versions] of acked) {
    for (const [version, { signed }] of versions) {
      const row = await knex('metadata_versions').where({ role: project, version }).first('bytes');
      assert.ok(row, `${project} v${version} was acknowledged but is not stored`);
      assert.ok(
        canonicalBytes(JSON.parse(row.bytes.toString('utf8')).signed).equals(signed),
        `${project} v${version} stored with other content`,
      );
      count += 1;
    }
  }
  assert.ok(count >= PROJECTS.length * 9, `${count} acknowledged releases`);
  // Every file went to the object store, none to PostgreSQL.
  assert.equal(Number((await knex('target_blobs').whereNull('location').count({ n: '*' }))[0]!.n), 0);
  assert.equal(Number((await knex('target_blob_chunks').count({ n: '*' }))[0]!.n), 0);

  // The history holds up.
  const audit = await runCli('server/main.ts', ['audit', 'verify'], { ...baseEnv, TUF_HOME: dir, LOG_LEVEL: 'error' });
  assert.equal(audit.status, 0, audit.stdout + audit.stderr);
  assert.match(audit.stdout, /audit verify: OK/);

  // Another node took the copy over (after the lease ran out) and the bucket caught up.
  const alive = nodes.find((n) => n !== null)!;
  const serverTs = JSON.parse(await (await fetch(`${alive.url}/metadata/timestamp.json`)).text()).signed.version;
  const deadline = Date.now() + 60_000;
  for (;;) {
    const bytes = await site.get('metadata/timestamp.json');
    if (bytes && JSON.parse(bytes.toString('utf8')).signed.version === serverTs) break;
    assert.ok(Date.now() < deadline, 'the bucket caught up after the copying node died');
    await new Promise((r) => setTimeout(r, 200));
  }
  const order = await checkWriteOrder(recorder.writes, site.name, '', (k) => site.get(k));
  assert.ok(order.timestamps >= 2, JSON.stringify(order));

  // A stock client reading the bucket alone finds every project's last acknowledged release.
  const clientDir = path.join(dir, 'client');
  fs.mkdirSync(path.join(clientDir, 'metadata'), { recursive: true });
  fs.copyFileSync(path.join(dir, '1.root.json'), path.join(clientDir, 'metadata', 'root.json'));
  const client = new Updater({
    metadataDir: path.join(clientDir, 'metadata'),
    metadataBaseUrl: `${site.httpUrl}/metadata`,
    targetDir: clientDir,
    targetBaseUrl: `${site.httpUrl}/targets`,
  });
  await client.refresh();
  for (const [project, versions] of acked) {
    const last = Math.max(...versions.keys());
    const { file } = versions.get(last)!;
    const info = await client.getTargetInfo(file.path);
    assert.ok(info, `${file.path} in the bucket`);
    assert.equal(
      sha256Hex(fs.readFileSync(await client.downloadTarget(info, path.join(clientDir, `${project}.bin`)))),
      sha256Hex(file.bytes),
    );
  }

  // The killed node comes back and serves the current state.
  nodes[victim] = await startServerProcess(nodeEnv(victim));
  const ts = JSON.parse(await (await fetch(`${nodes[victim]!.url}/metadata/timestamp.json`)).text()).signed.version;
  assert.equal(ts, serverTs);
});
