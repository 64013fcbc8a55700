// Several real server processes on one PostgreSQL, under a storm of concurrent uploads: one is
// killed with SIGKILL 20 times and restarted, and the database itself is killed once. Nothing
// acknowledged may be lost, no version may be used twice, and what is served must verify.
// Server a runs two workers (WEB_CONCURRENCY=2, server/cluster/): every third kill of the storm
// takes its supervisor (and both workers with it; a is started again), the others one of its
// workers alone (the supervisor starts another). Server b is one process.
import assert from 'node:assert/strict';
import type { KeyObject } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import type { Knex } from 'knex';
import { Updater } from 'tuf-js';
import { canonicalBytes, type JsonObject } from '../core/canonical.ts';
import { initialTargetsSigned, singleKeyRoot } from '../core/ceremony.ts';
import { IdentitySignatureVerifier } from '../core/identity.ts';
import { generatePrivateKey } from '../core/keys.ts';
import { buildTargetsSigned, describeTarget, expiresAfter, signEnvelope, type Envelope } from '../core/metadata.ts';
import { privateKeySigner } from '../core/signer.ts';
import { ensureDatabase, freePort, startEmbeddedPostgres, type EmbeddedPostgres } from '../server/db/embeddedPostgres.ts';
import { createKnex, migrateLatest } from '../server/db/knex.ts';
import { AdminTokens } from '../server/admin/adminTokens.ts';
import { ensureOnlineKeys, FileKeyStore } from '../server/onlineKeys.ts';
import { verifyHistory } from '../server/admin/historyCheck.ts';
import { recordSecret } from './helpers/secrets.ts';
import { startLocalSigstore, type LocalSigstoreServer } from './helpers/sigstore.ts';
import { startServerProcess, type ServerProcess } from './helpers/serverProcess.ts';

const PROJECTS = 6;
let dir: string;
let pg: EmbeddedPostgres;
let pgPort: number;
let knex: Knex;
let sigstore: LocalSigstoreServer;
let env: Record<string, string>;
let a: ServerProcess;
let b: ServerProcess;
let adminToken = '';
const projectKeys: KeyObject[] = [];
/** project -> version -> canonical signed bytes of what a 201 (or a confirmed retry) acknowledged. */
const acked = new Map<string, Map<number, Buffer>>();
const nextVersion = new Map<string, number>();

before(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tuf-crash-'));
  fs.chmodSync(dir, 0o755);
  pgPort = await freePort();
  pg = await startEmbeddedPostgres({ dataDir: path.join(dir, 'pg'), port: pgPort, fsync: true });
  await ensureDatabase(pg.url, 'tuf');
  const dbUrl = pg.urlFor('tuf');
  knex = createKnex(dbUrl, 4);
  await migrateLatest(knex);
  const keyStore = new FileKeyStore(path.join(dir, 'online-keys'));
  const online = await ensureOnlineKeys(keyStore);
  const token = await new AdminTokens(knex).create('crash-test');
  adminToken = token;
  recordSecret(token);
  sigstore = await startLocalSigstore();
  fs.writeFileSync(path.join(dir, 'sigstore-root.json'), JSON.stringify(sigstore.setup.trustedRoot));
  env = {
    NODE_ENV: 'production',
    DATABASE_URL: dbUrl,
    TUF_HOME: dir,
    ONLINE_KEYS_DIR: path.join(dir, 'online-keys'),
    SIGSTORE_TRUSTED_ROOT: path.join(dir, 'sigstore-root.json'),
    LOG_LEVEL: 'warn',
    WRITE_RATE_LIMIT_PER_MINUTE: '0',
    CACHE_RELOAD_INTERVAL_SECONDS: '2',
  };
  a = await startCluster();
  b = await startServerProcess(env);

  // Bootstrap with projects delegated to ordinary ed25519 keys: this test is about publishing
  // under crashes, so signing must be fast (identity delegations are tested elsewhere).
  const now = new Date();
  const { root, targetsKey } = await singleKeyRoot(online, now);
  const delegations = { keys: {} as JsonObject, roles: [] as JsonObject[] };
  for (let i = 0; i < PROJECTS; i++) {
    const key = generatePrivateKey('ed25519');
    projectKeys.push(key);
    const signer = privateKeySigner(key);
    delegations.keys[signer.keyid] = signer.publicKey as unknown as JsonObject;
    delegations.roles.push({ name: `p${i}`, keyids: [signer.keyid], threshold: 1, paths: [`p${i}/*`], terminating: true });
    acked.set(`p${i}`, new Map());
    nextVersion.set(`p${i}`, 1);
  }
  const targets = await signEnvelope({ ...initialTargetsSigned(now), delegations: delegations as unknown as JsonObject }, [
    privateKeySigner(targetsKey),
  ]);
  const res = await fetch(`${a.url}/admin/bootstrap`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: JSON.stringify({ root, targets }),
  });
  assert.equal(res.status, 201, await res.text());
  fs.writeFileSync(path.join(dir, '1.root.json'), JSON.stringify(root));
});

after(async () => {
  for (const server of [a, b]) {
    if (server)
      assert.ok(
        !server.output().includes(adminToken) && !/PRIVATE KEY|eyJ[A-Za-z0-9_-]{10,}\./.test(server.output()),
        'no secret in a server log',
      );
  }
  await a?.stop();
  await b?.stop();
  await knex?.destroy();
  await sigstore?.close();
  await pg?.stop();
  fs.rmSync(dir, { recursive: true, force: true });
});

/** Server a: a supervisor and two workers, both serving once this resolves. */
async function startCluster(port?: number): Promise<ServerProcess> {
  const server = await startServerProcess({ ...env, WEB_CONCURRENCY: '2' }, port);
  for (
    let i = 0;
    workerPids(server).length < 2 || !/^tuf_server_processes 2$/m.test(await (await fetch(`${server.url}/metrics`)).text());
    i++
  ) {
    if (i > 300) throw new Error(`server a did not start two workers: ${server.output()}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  return server;
}

function workerPids(server: ServerProcess): number[] {
  const pid = server.proc.pid!;
  return fs.readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
}

const prepared = new Map<string, { body: string; signed: Buffer }>();

async function makeUpload(project: string, version: number): Promise<{ body: string; signed: Buffer }> {
  const file = Buffer.from(`${project} release ${version}`);
  const signed = buildTargetsSigned({
    version,
    expires: expiresAfter(new Date(), 30 * 86_400),
    targets: { [`${project}/r${version}.bin`]: describeTarget(file) },
  });
  const env = await signEnvelope(signed, [privateKeySigner(projectKeys[Number(project.slice(1))]!)]);
  return {
    body: JSON.stringify({ metadata: env, files: { [`${project}/r${version}.bin`]: file.toString('base64') } }),
    signed: canonicalBytes(signed),
  };
}

/**
 * Uploads the project's next version, retrying through crashes. An unanswered request may or may
 * not have committed: a retry that meets version_not_next then checks what was stored.
 */
async function uploadNext(project: string, pickServer: () => ServerProcess, deadline: number): Promise<'acked' | 'gave-up'> {
  const version = nextVersion.get(project)!;
  // The same bytes on every attempt at this version, across calls: an attempt that gave up at the
  // deadline may still have committed, and the next call must recognise it as its own.
  const key = `${project}\n${version}`;
  if (!prepared.has(key)) prepared.set(key, await makeUpload(project, version));
  const { body, signed } = prepared.get(key)!;
  while (Date.now() < deadline) {
    const server = pickServer();
    let status: number;
    let text: string;
    try {
      const res = await fetch(`${server.url}/api/v1/projects/${project}/uploads`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body,
        signal: AbortSignal.timeout(15_000),
      });
      status = res.status;
      text = await res.text();
    } catch {
      await new Promise((r) => setTimeout(r, 50));
      continue; // the server died or is restarting: outcome unknown, try again
    }
    if (status === 201) {
      acked.get(project)!.set(version, signed);
      nextVersion.set(project, version + 1);
      return 'acked';
    }
    if (status === 409 && text.includes('version_not_next')) {
      const stored = await knex('metadata_versions').where({ role: project, version }).first('bytes');
      assert.ok(stored, `${project} v${version}: refused as not next, yet not stored`);
      const storedSigned = canonicalBytes(JSON.parse(stored.bytes.toString('utf8')).signed);
      assert.ok(storedSigned.equals(signed), `${project} v${version}: another upload took this version`);
      acked.get(project)!.set(version, signed); // it had committed before the crash
      nextVersion.set(project, version + 1);
      return 'acked';
    }
    if (status >= 500) {
      await new Promise((r) => setTimeout(r, 100));
      continue; // e.g. 503 while the database restarts
    }
    assert.fail(`${project} v${version}: unexpected ${status} ${text}`);
  }
  return 'gave-up';
}

async function timestampVersion(server: ServerProcess): Promise<number> {
  const res = await fetch(`${server.url}/metadata/timestamp.json`);
  return (JSON.parse(await res.text()) as Envelope).signed.version as number;
}

async function checkEverythingAcked(): Promise<void> {
  for (const [project, versions] of acked) {
    for (const [version, signed] of versions) {
      const row = await knex('metadata_versions').where({ role: project, version }).first('bytes');
      assert.ok(row, `${project} v${version} was acknowledged but is not stored`);
      assert.ok(
        canonicalBytes(JSON.parse(row.bytes.toString('utf8')).signed).equals(signed),
        `${project} v${version} stored with other content`,
      );
    }
  }
  const history = await verifyHistory(knex, new IdentitySignatureVerifier(sigstore.setup.trustedRoot));
  assert.deepEqual(history.problems, []);
}

async function clientRefreshes(name: string, server: ServerProcess): Promise<void> {
  const metadataDir = path.join(dir, name, 'metadata');
  fs.mkdirSync(metadataDir, { recursive: true });
  if (!fs.existsSync(path.join(metadataDir, 'root.json')))
    fs.copyFileSync(path.join(dir, '1.root.json'), path.join(metadataDir, 'root.json'));
  const updater = new Updater({
    metadataDir,
    metadataBaseUrl: `${server.url}/metadata`,
    targetDir: path.join(dir, name, 'targets'),
    targetBaseUrl: `${server.url}/targets`,
  });
  await updater.refresh();
  for (const [project, versions] of acked) {
    const last = Math.max(0, ...versions.keys());
    if (last === 0) continue;
    const info = await updater.getTargetInfo(`${project}/r${last}.bin`);
    assert.ok(info, `${project}/r${last}.bin reachable`);
    const file = await updater.downloadTarget(info, path.join(dir, name, `${project}-r${last}.bin`));
    assert.equal(fs.readFileSync(file, 'utf8'), `${project} release ${last}`);
  }
}

test('two processes take uploads at once: nothing lost, no version twice, one signer per version, readers see changes within a second', async () => {
  let maxLagMs = 0;
  await Promise.all(
    [...acked.keys()].map(async (project, i) => {
      for (let n = 0; n < 10; n++) {
        const server = (n + i) % 2 === 0 ? a : b;
        const other = server === a ? b : a;
        assert.equal(await uploadNext(project, () => server, Date.now() + 30_000), 'acked');
        // The other process serves the new timestamp promptly.
        const target = await timestampVersion(server);
        const start = Date.now();
        while ((await timestampVersion(other)) < target) {
          if (Date.now() - start > 1000) assert.fail(`process ${other.port} did not see timestamp v${target} within a second`);
          await new Promise((r) => setTimeout(r, 10));
        }
        maxLagMs = Math.max(maxLagMs, Date.now() - start);
      }
    }),
  );
  for (const project of acked.keys()) assert.equal(acked.get(project)!.size, 10);
  const signings = await knex('audit_log').whereIn('action', ['snapshot.signed', 'timestamp.signed']).select('role', 'version', 'details');
  const perVersion = new Map<string, number>();
  for (const s of signings) perVersion.set(`${s.role} ${s.version}`, (perVersion.get(`${s.role} ${s.version}`) ?? 0) + 1);
  assert.ok(
    [...perVersion.values()].every((n) => n === 1),
    'each snapshot and timestamp version signed exactly once',
  );
  const instances = new Set(signings.map((s) => s.details.instance));
  assert.ok(instances.size >= 2, `both processes signed (${[...instances].join(', ')})`);
  await checkEverythingAcked();
  await clientRefreshes('client-multi', b);
  assert.ok(maxLagMs < 1000);
});

test('SIGKILL one process 20 times during a storm of uploads: every acknowledged upload survives, clients verify', async () => {
  let stop = false;
  let kills = 0;
  const current = { a };
  let gaveUp = 0;
  const workers = [...acked.keys()].map(async (project, i) => {
    let uploads = 0;
    let last: 'acked' | 'gave-up' = 'acked';
    // An attempt that gave up may have committed: it is retried until it is known, even after the storm.
    while (!stop || last === 'gave-up') {
      last = await uploadNext(project, () => (i % 3 === 0 ? b : current.a), Date.now() + 60_000);
      if (last === 'acked') uploads += 1;
      else gaveUp += 1;
    }
    return uploads;
  });
  let workersKilled = 0;
  for (let k = 0; k < 20; k++) {
    await new Promise((r) => setTimeout(r, 50 + Math.floor(Math.random() * 250)));
    const workers = workerPids(current.a);
    // Two kills in three take one worker (cheap to replace); every third the whole server, whose
    // restart is what takes time.
    if (k % 3 !== 0 && workers.length > 0) {
      // One worker: the supervisor starts another, the other worker serves meanwhile.
      process.kill(workers[Math.floor(Math.random() * workers.length)]!, 'SIGKILL');
      workersKilled += 1;
    } else {
      await current.a.kill();
      current.a = await startCluster(current.a.port);
    }
    kills += 1;
  }
  stop = true;
  const uploads = (await Promise.all(workers)).reduce((x, y) => x + y, 0);
  a = current.a;
  assert.equal(kills, 20);
  assert.ok(workersKilled >= 5 && workersKilled < 20, `workers killed alone: ${workersKilled}`);
  assert.ok(uploads > 20, `uploads kept flowing during the storm (${uploads}; ${gaveUp} attempts found no server for a minute)`);
  await checkEverythingAcked();
  await clientRefreshes('client-crash', a);
  await clientRefreshes('client-multi', b); // a client from before the storm follows too
});

test('the database killed under load: not ready while it is down, recovers, loses nothing acknowledged', async () => {
  let stop = false;
  const workers = [...acked.keys()].map(async (project, i) => {
    while (!stop) await uploadNext(project, () => (i % 2 === 0 ? a : b), Date.now() + 60_000);
  });
  await new Promise((r) => setTimeout(r, 300));
  pg.kill();
  const seenDown = new Set<number>();
  const deadline = Date.now() + 20_000;
  while (seenDown.size < 2 && Date.now() < deadline) {
    for (const server of [a, b]) {
      const res = await fetch(`${server.url}/readyz`).catch(() => null);
      if (res && res.status === 503) seenDown.add(server.port);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.equal(seenDown.size, 2, 'both processes report not ready while the database is down');
  // A killed postmaster leaves backends that exit on their own shortly; retry the start.
  for (let attempt = 0; ; attempt++) {
    try {
      pg = await startEmbeddedPostgres({ dataDir: path.join(dir, 'pg'), port: pgPort, fsync: true });
      break;
    } catch (err) {
      if (attempt > 40) throw err;
      await new Promise((r) => setTimeout(r, 250));
    }
  }
  const recovered = Date.now() + 30_000;
  for (const server of [a, b]) {
    while ((await fetch(`${server.url}/readyz`)).status !== 200) {
      assert.ok(Date.now() < recovered, `process ${server.port} did not recover`);
      await new Promise((r) => setTimeout(r, 200));
    }
  }
  await new Promise((r) => setTimeout(r, 500));
  stop = true;
  await Promise.all(workers);
  await checkEverythingAcked();
  await clientRefreshes('client-db', b);
});
