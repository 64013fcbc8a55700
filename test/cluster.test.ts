// `tuf-server start` with two workers (WEB_CONCURRENCY=2, server/cluster/): both serve one port,
// /metrics sums them, identity-signed uploads through either are published with each snapshot and
// timestamp version signed once, both serve every new timestamp within a second, re-signing runs
// in both without signing a version twice, a worker that dies is replaced while the other serves,
// and the supervisor takes its workers with it when it stops or is killed.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import type { Knex } from 'knex';
import { canonicalBytes, sha256Hex } from '../core/canonical.ts';
import { initialTargetsSigned, singleKeyRoot } from '../core/ceremony.ts';
import { withDelegation } from '../core/delegations.ts';
import { identityKeyid } from '../core/identity.ts';
import { buildTargetsSigned, describeTarget, expiresAfter, signEnvelope } from '../core/metadata.ts';
import { privateKeySigner } from '../core/signer.ts';
import { verifySnapshotProof } from '../core/snapshotMerkle.ts';
import { signWithIdentity } from '../maintainer/identitySigner.ts';
import { AdminTokens } from '../server/admin/adminTokens.ts';
import { createKnex, migrateLatest } from '../server/db/knex.ts';
import { ensureOnlineKeys, FileKeyStore } from '../server/onlineKeys.ts';
import { createTestDatabase } from './helpers/db.ts';
import { recordSecret } from './helpers/secrets.ts';
import { startServerProcess, type ServerProcess } from './helpers/serverProcess.ts';
import { startLocalSigstore, type LocalSigstoreServer } from './helpers/sigstore.ts';

const PROJECTS = ['one', 'two', 'three'];
let dir: string;
let db: Awaited<ReturnType<typeof createTestDatabase>>;
let knex: Knex;
let sigstore: LocalSigstoreServer;
let env: Record<string, string>;
let server: ServerProcess;
let adminToken = '';

before(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tuf-cluster-'));
  db = await createTestDatabase();
  knex = createKnex(db.url, 2);
  await migrateLatest(knex);
  const online = await ensureOnlineKeys(new FileKeyStore(path.join(dir, 'online-keys')));
  const token = await new AdminTokens(knex).create('cluster-test');
  adminToken = token;
  recordSecret(token);
  sigstore = await startLocalSigstore();
  fs.writeFileSync(path.join(dir, 'sigstore-root.json'), JSON.stringify(sigstore.setup.trustedRoot));
  env = {
    NODE_ENV: 'production',
    DATABASE_URL: db.url,
    TUF_HOME: dir,
    ONLINE_KEYS_DIR: path.join(dir, 'online-keys'),
    SIGSTORE_TRUSTED_ROOT: path.join(dir, 'sigstore-root.json'),
    LOG_LEVEL: 'warn',
    WRITE_RATE_LIMIT_PER_MINUTE: '0',
    WEB_CONCURRENCY: '2',
    // Slowloris: a worker cuts off a client that trickles its headers (node's headersTimeout).
    HEADERS_TIMEOUT_SECONDS: '2',
    // Re-signing all the time: a timestamp of 60 s is re-signed once 0.6 s old, checked every second by each worker.
    TIMESTAMP_EXPIRY_SECONDS: '60',
    RESIGN_REMAINING_FRACTION: '0.99',
    RESIGN_CHECK_INTERVAL_SECONDS: '1',
  };
  server = await startServerProcess(env);
  await waitForWorkers(server, 2);
  const now = new Date();
  const { root, targetsKey } = await singleKeyRoot(online, now);
  let signed = initialTargetsSigned(now);
  for (const p of PROJECTS) signed = withDelegation(signed, p, [{ identity: `${p}@example.com`, issuer: sigstore.sigstore.issuerUrl }], 1);
  const targets = await signEnvelope(signed, [privateKeySigner(targetsKey)]);
  const res = await fetch(`${server.url}/admin/bootstrap`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: JSON.stringify({ root, targets }),
  });
  assert.equal(res.status, 201, await res.text());
});

after(async () => {
  if (server)
    assert.ok(
      !server.output().includes(adminToken) && !/PRIVATE KEY|eyJ[A-Za-z0-9_-]{10,}\./.test(server.output()),
      'no secret in the log of the supervisor or its workers',
    );
  await server?.stop();
  await knex?.destroy();
  await sigstore?.close();
  await db?.drop();
  fs.rmSync(dir, { recursive: true, force: true });
});

/** A request on a connection of its own: the supervisor hands each new connection to the next worker. */
function fresh(url: string, method = 'GET', body?: string, timeoutMs = 30_000): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method, agent: false, headers: body ? { 'content-type': 'application/json' } : {} }, (res) => {
      let text = '';
      res.on('data', (c) => (text += c));
      res.on('end', () => resolve({ status: res.statusCode!, text }));
    });
    req.on('error', reject);
    // Never wait forever: a request left unanswered is a failure that names itself.
    req.setTimeout(timeoutMs, () => req.destroy(new Error(`${method} ${url}: no answer within ${timeoutMs / 1000} s`)));
    req.end(body);
  });
}

async function metric(s: ServerProcess, pattern: RegExp): Promise<number> {
  const text = (await fresh(`${s.url}/metrics`)).text;
  return Number(pattern.exec(text)?.[1] ?? NaN);
}

async function waitForWorkers(s: ServerProcess, n: number): Promise<void> {
  for (let i = 0; (await metric(s, /^tuf_server_processes (\d+)/m)) !== n; i++) {
    assert.ok(i < 300, `${n} workers serving within 30 s`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Pids of the supervisor's children: its workers. */
function workerPids(s: ServerProcess): number[] {
  const pid = s.proc.pid!;
  return fs.readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
}

const alive = (pid: number) => fs.existsSync(`/proc/${pid}`) && !/^State:\s+Z/m.test(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));

test('two workers share the port and /metrics counts the requests of both', async () => {
  assert.equal(workerPids(server).length, 2);
  /** GETs of metadata answered 200, from an answer every worker contributed to. */
  const reads = async () => {
    for (let i = 0; ; i++) {
      const text = (await fresh(`${server.url}/metrics`)).text;
      if (/^tuf_metrics_workers_missing 0$/m.test(text))
        return Number(/^http_requests_total\{method="GET",route="\/metadata\/:name",status="200"\} (\d+)/m.exec(text)?.[1] ?? 0);
      assert.ok(i < 5, `a worker's metrics missing from every answer: ${text.slice(0, 300)}`);
    }
  };
  const before = await reads();
  // Fresh connections alternate between the workers: a count from one worker alone would be about half.
  for (let i = 0; i < 40; i++) assert.equal((await fresh(`${server.url}/metadata/1.root.json`)).status, 200);
  assert.equal(await reads(), before + 40);
});

async function uploadRelease(project: string, version: number): Promise<number> {
  const identity = `${project}@example.com`;
  const file = Buffer.from(`${project} ${version}`);
  const signed = buildTargetsSigned({
    version,
    expires: expiresAfter(new Date(), 86_400),
    targets: { [`${project}/r${version}.tgz`]: describeTarget(file) },
  });
  const s = sigstore.sigstore;
  const signature = await signWithIdentity(
    canonicalBytes(signed),
    identityKeyid(identity, s.issuerUrl),
    { fulcioUrl: s.fulcioUrl, rekorUrl: s.rekorUrl },
    { getToken: () => s.mintToken({ identity }) },
  );
  const body = JSON.stringify({
    metadata: { signed, signatures: [signature] },
    files: { [`${project}/r${version}.tgz`]: file.toString('base64') },
  });
  // As a client does: a connection reset (handed to a worker that died before reading it) is retried.
  let res: { status: number; text: string } | null = null;
  for (let attempt = 0; !res; attempt++) {
    res = await fresh(`${server.url}/api/v1/projects/${project}/uploads`, 'POST', body).catch((err: Error) => {
      assert.ok(attempt < 3 && /ECONNRESET|socket hang up/.test(err.message), err.message);
      return null;
    });
  }
  assert.equal(res.status, 201, res.text);
  return (JSON.parse(res.text) as { published: { role: string; version: number }[] }).published.find((p) => p.role === 'timestamp')!
    .version;
}

/** Snapshot signings of publication rounds that carried uploads (their reason names "project vN"). */
function uploadRounds(signings: { role: string; details: { reason: string; instance: string } }[]) {
  return signings.filter((s) => s.role === 'snapshot' && PROJECTS.some((p) => s.details.reason.includes(`${p} v`)));
}

/** The pid of the worker that signed the last of those. */
function publisherPid(signings: { role: string; details: { reason: string; instance: string } }[]): number {
  return Number(uploadRounds(signings).at(-1)!.details.instance.split(':').at(-1));
}

/** The pid of the process that signed the first snapshot covering `project`'s current version. */
async function coveringSigner(project: string): Promise<number> {
  const head = await knex('role_heads').where({ role: project }).first();
  const covering = await knex('metadata_versions')
    .where({ role: 'snapshot' })
    .where('covers_seq', '>=', head.change_seq)
    .orderBy('version')
    .first('version');
  const signer = await knex('audit_log').where({ action: 'snapshot.signed', version: covering.version }).first('details');
  return Number(String(signer.details.instance).split(':').at(-1));
}

const snapshotSignings = () => knex('audit_log').where({ action: 'snapshot.signed' }).orderBy('id').select('role', 'details');

test('uploads through both workers: published by the rounds of one worker, each snapshot and timestamp version signed once, both serve each new timestamp within a second', async () => {
  for (let v = 1; v <= 2; v++) {
    for (const project of PROJECTS) {
      const ts = await uploadRelease(project, v);
      const start = Date.now();
      // Fresh connections reach both workers: each must serve this timestamp (or a newer one) promptly.
      for (let i = 0; i < 4;) {
        const version = (JSON.parse((await fresh(`${server.url}/metadata/timestamp.json`)).text) as { signed: { version: number } }).signed
          .version;
        if (version >= ts) i++;
        else assert.ok(Date.now() - start < 1000, `timestamp v${ts} served by every worker within a second`);
      }
    }
  }
  const signings = await knex('audit_log').whereIn('action', ['snapshot.signed', 'timestamp.signed']).select('role', 'version', 'details');
  const perVersion = new Map<string, number>();
  for (const s of signings) perVersion.set(`${s.role} ${s.version}`, (perVersion.get(`${s.role} ${s.version}`) ?? 0) + 1);
  assert.deepEqual(
    [...perVersion].filter(([, n]) => n !== 1),
    [],
    'every version signed exactly once',
  );
  // One worker publishes for both: every snapshot that carried these uploads was signed by it.
  const instances = new Set(uploadRounds(signings).map((s) => s.details.instance));
  assert.equal(instances.size, 1, `one worker published the uploads' snapshots (${[...instances].join(', ')})`);
  assert.ok(workerPids(server).includes(publisherPid(signings)), 'and it is one of the workers');
  for (const project of PROJECTS) assert.equal((await knex('role_heads').where({ role: project }).first()).version, 2);
});

test('every worker serves the snapshot versions stored as deltas and their TAP 16 proofs, the same bytes from each', async () => {
  const ts = JSON.parse((await fresh(`${server.url}/metadata/timestamp.json`)).text) as {
    signed: { meta: Record<string, { version: number; hashes?: { sha256: string } }>; merkle_root?: string };
  };
  const current = ts.signed.meta['snapshot.json']!;
  const root = ts.signed.merkle_root;
  assert.ok(root, 'the timestamp names a tree');
  const stored = await knex('metadata_versions').where({ role: 'snapshot', version: current.version }).first('bytes', 'sha256');
  assert.equal(stored.bytes, null, 'the current snapshot is stored as a delta: rebuilt to be served');
  // Fresh connections alternate between the workers: four reach each of them twice.
  for (const version of [current.version, current.version - 1]) {
    const bodies = new Set<string>();
    for (let i = 0; i < 4; i++) {
      const res = await fresh(`${server.url}/metadata/${version}.snapshot.json`);
      assert.equal(res.status, 200, `${version}.snapshot.json: ${res.text.slice(0, 200)}`);
      bodies.add(res.text);
    }
    assert.equal(bodies.size, 1, `one ${version}.snapshot.json from both workers`);
    const expected = (await knex('metadata_versions').where({ role: 'snapshot', version }).first('sha256')).sha256;
    assert.equal(sha256Hex(Buffer.from([...bodies][0]!)), expected);
  }
  for (const project of PROJECTS) {
    const proofs = new Set<string>();
    for (let i = 0; i < 4; i++) {
      const res = await fresh(`${server.url}/metadata/snapshot-merkle/${current.version}/${project}.json`);
      assert.equal(res.status, 200, `proof of ${project}: ${res.text.slice(0, 200)}`);
      proofs.add(res.text);
    }
    assert.equal(proofs.size, 1, `one proof of ${project} from both workers`);
    assert.equal(verifySnapshotProof(JSON.parse([...proofs][0]!), project, root).version, 2);
  }
});

test('re-signing in both workers: the timestamp moves on every second or so, no version signed twice', async () => {
  const before = (await knex('role_heads').where({ role: 'timestamp' }).first()).version as number;
  await new Promise((r) => setTimeout(r, 4000));
  const rows = await knex('audit_log').where({ action: 'timestamp.signed' }).where('version', '>', before).select('version', 'details');
  assert.ok(rows.length >= 2, `re-signed ${rows.length} times in 4 s`);
  assert.equal(new Set(rows.map((r) => r.version)).size, rows.length, 'no version signed twice');
});

test('the publishing worker killed with SIGKILL: the other publishes, serves meanwhile, and a replacement starts', async () => {
  const victim = publisherPid(await snapshotSignings());
  const other = workerPids(server).find((p) => p !== victim);
  assert.ok(workerPids(server).includes(victim) && other, 'the publishing worker is one of the two');
  process.kill(victim!, 'SIGKILL');
  // No client is left hanging: connections made as it dies are served by the other or reset.
  const outcomes = await Promise.all(
    Array.from({ length: 20 }, () =>
      fresh(`${server.url}/metadata/timestamp.json`, 'GET', undefined, 5_000).then(
        (r) => String(r.status),
        (err: Error) => (/no answer/.test(err.message) ? 'hung' : 'reset'),
      ),
    ),
  );
  assert.ok(!outcomes.includes('hung'), `no connection hangs: ${outcomes.join(' ')}`);
  assert.ok(outcomes.includes('200'), 'the other worker serves');
  // At once, before a replacement serves: an upload is published, in a snapshot the worker that
  // remained signed (its own round, or a re-sign round covering it: these run every second here).
  await uploadRelease(PROJECTS[0]!, 3);
  const signerPid = await coveringSigner(PROJECTS[0]!);
  assert.notEqual(signerPid, victim, 'not signed by the killed worker');
  assert.ok(workerPids(server).includes(signerPid), 'signed by a live worker');
  const deadline = Date.now() + 30_000;
  let failures = 0;
  while (workerPids(server).includes(victim!) || workerPids(server).length < 2) {
    assert.ok(Date.now() < deadline, 'a replacement within 30 s');
    // Connections in flight on the killed worker are lost; new ones go to a live worker.
    const res = await fresh(`${server.url}/metadata/timestamp.json`).catch(() => null);
    if (res?.status !== 200) failures += 1;
    await new Promise((r) => setTimeout(r, 20));
  }
  assert.ok(failures <= 1, `${failures} reads failed while a worker was replaced`);
  assert.ok(workerPids(server).includes(other!), 'the other worker kept running');
  await waitForWorkers(server, 2);
  assert.match(server.output(), /worker died; restarting it/);
  // And with the replacement serving, by whichever is the lowest-numbered worker now.
  for (const project of PROJECTS.slice(1)) {
    await uploadRelease(project, 3);
    assert.ok(workerPids(server).includes(await coveringSigner(project)), 'a live worker publishes');
  }
});

test('a client that trickles its headers is cut off by the worker serving it (headersTimeout), on each worker', async () => {
  const outcomes = await Promise.all(
    [0, 1].map(
      () =>
        new Promise<{ ms: number; answer: string }>((resolve, reject) => {
          const socket = net.connect(Number(new URL(server.url).port), '127.0.0.1');
          const started = Date.now();
          let answer = '';
          socket.on('connect', () => socket.write('GET /metadata/timestamp.json HTTP/1.1\r\nHost: x\r\n'));
          socket.on('data', (d) => (answer += d));
          socket.on('error', () => {});
          socket.on('close', () => resolve({ ms: Date.now() - started, answer: answer.split('\r\n')[0]! }));
          setTimeout(() => reject(new Error('a trickling client was never cut off')), 15_000).unref();
        }),
    ),
  );
  for (const o of outcomes) {
    assert.equal(o.answer, 'HTTP/1.1 408 Request Timeout');
    assert.ok(o.ms >= 1_500 && o.ms < 10_000, `cut off after ${o.ms} ms (HEADERS_TIMEOUT_SECONDS=2)`);
  }
});

test('a worker that cannot start stops the whole server with a message', async () => {
  const broken = startServerProcess({ ...env, SIGSTORE_TRUSTED_ROOT: path.join(dir, 'missing.json') });
  await assert.rejects(broken, /could not start its workers/);
});

test('the supervisor stopped takes its workers with it; killed, its workers exit on their own', async () => {
  const pids = workerPids(server);
  // An idle keep-alive connection (as any HTTP client keeps one) does not hold up the stop.
  const agent = new http.Agent({ keepAlive: true });
  await new Promise<void>((resolve, reject) =>
    http.get(`${server.url}/metadata/1.root.json`, { agent }, (res) => res.resume().on('end', resolve)).on('error', reject),
  );
  const stopping = Date.now();
  await server.stop();
  assert.ok(Date.now() - stopping < 10_000, `stopped in ${Date.now() - stopping} ms with a client connection open`);
  agent.destroy();
  assert.equal(server.proc.exitCode, 0);
  assert.deepEqual(pids.filter(alive), [], 'no worker left after SIGTERM');
  const again = await startServerProcess(env);
  await waitForWorkers(again, 2);
  const workers = workerPids(again);
  await again.kill();
  for (let i = 0; workers.some(alive); i++) {
    assert.ok(i < 100, 'workers exit within 10 s of a SIGKILL of their supervisor');
    await new Promise((r) => setTimeout(r, 100));
  }
});
