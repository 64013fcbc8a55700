// The server behind Debian's PgBouncer in transaction mode (pool_mode = transaction): several
// server processes publish through it, each serves the others' publications within a second
// (polling, since LISTEN cannot work through it: the proof at start shows it and the log says so),
// the operator commands work through it, DATABASE_LISTEN=on refuses to start with the reason, and
// DATABASE_LISTEN_URL (a direct connection for LISTEN alone) brings notifications back.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import pg from 'pg';
import { sha256Hex } from '../core/canonical.ts';
import { AdminTokens } from '../server/admin/adminTokens.ts';
import { createKnex, migrateLatest } from '../server/db/knex.ts';
import { ensureOnlineKeys, FileKeyStore } from '../server/onlineKeys.ts';
import { startPgBouncer, type PgBouncer } from '../local-services/pgbouncer.ts';
import { runCli } from './helpers/cli.ts';
import { createTestDatabase } from './helpers/db.ts';
import { keyProjects, keyProjectsTargets, nextRelease, sendRelease, type KeyProjects } from './helpers/keyProjects.ts';
import { singleKeyRoot } from '../core/ceremony.ts';
import { recordSecret } from './helpers/secrets.ts';
import { startServerProcess, type ServerProcess } from './helpers/serverProcess.ts';
import { startLocalSigstore, type LocalSigstoreServer } from './helpers/sigstore.ts';

let dir: string;
let bouncer: PgBouncer;
let db: { url: string; drop(): Promise<void> };
let pooled: string;
let sigstore: LocalSigstoreServer;
let env: Record<string, string>;
let adminToken: string;
let projects: KeyProjects;
const servers: ServerProcess[] = [];

before(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tuf-pgbouncer-'));
  fs.chmodSync(dir, 0o755);
  bouncer = await startPgBouncer({
    serverUrl: process.env.TEST_PG_ADMIN_URL!,
    dir: path.join(dir, 'bouncer'),
    poolMode: 'transaction',
    poolSize: 4,
  });
  db = await createTestDatabase();
  pooled = bouncer.urlFor(db.url);
  // Keys, a token and the schema, set up as an operator does, through the pooler too.
  const knex = createKnex(pooled, 2);
  await migrateLatest(knex);
  adminToken = await new AdminTokens(knex).create('pgbouncer-test');
  recordSecret(adminToken);
  await knex.destroy();
  const online = await ensureOnlineKeys(new FileKeyStore(path.join(dir, 'online-keys')));
  sigstore = await startLocalSigstore();
  fs.writeFileSync(path.join(dir, 'sigstore-root.json'), JSON.stringify(sigstore.setup.trustedRoot));
  env = {
    NODE_ENV: 'production',
    DATABASE_URL: pooled,
    TUF_HOME: dir,
    ONLINE_KEYS_DIR: path.join(dir, 'online-keys'),
    SIGSTORE_TRUSTED_ROOT: path.join(dir, 'sigstore-root.json'),
    LOG_LEVEL: 'warn',
    WRITE_RATE_LIMIT_PER_MINUTE: '0',
  };
  projects = keyProjects(['b0', 'b1']);
  servers.push(await startServerProcess(env), await startServerProcess(env));
  const { root, targetsKey } = await singleKeyRoot(online, new Date());
  const trustedRootBytes = Buffer.from(JSON.stringify(sigstore.setup.trustedRoot));
  const put = await fetch(`${servers[0]!.url}/admin/blobs`, {
    method: 'PUT',
    headers: { authorization: `Bearer ${adminToken}` },
    body: new Uint8Array(trustedRootBytes),
  });
  assert.equal(put.status, 201);
  const res = await fetch(`${servers[0]!.url}/admin/bootstrap`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${adminToken}` },
    body: JSON.stringify({ root, targets: await keyProjectsTargets(projects, targetsKey, trustedRootBytes, new Date()) }),
  });
  assert.equal(res.status, 201, await res.text());
  assert.equal(sha256Hex(trustedRootBytes).length, 64);
});
after(async () => {
  for (const s of servers) await s.stop();
  await sigstore?.close();
  await db?.drop();
  await bouncer?.stop();
  fs.rmSync(dir, { recursive: true, force: true });
});

async function timestampOf(server: ServerProcess): Promise<number> {
  return JSON.parse(await (await fetch(`${server.url}/metadata/timestamp.json`)).text()).signed.version;
}

async function servedWithin(server: ServerProcess, version: number, ms: number): Promise<number> {
  const start = Date.now();
  while ((await timestampOf(server)) < version) {
    if (Date.now() - start > ms) throw new Error(`${server.url} did not serve timestamp v${version} within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 10));
  }
  return Date.now() - start;
}

test('the pooler runs in transaction mode (its own SHOW CONFIG)', async () => {
  const admin = new pg.Client({ connectionString: bouncer.adminUrl });
  await admin.connect();
  const config = await admin.query('SHOW CONFIG');
  await admin.end();
  assert.equal(config.rows.find((r) => r.key === 'pool_mode')?.value, 'transaction');
});

test('two server processes behind it publish, and each serves the other within a second (polling: the log says why)', async () => {
  for (const s of servers) assert.match(s.output(), /did not reach a LISTEN on DATABASE_URL.*transaction mode.*polling every 250 ms/s);
  const [a, b] = servers as [ServerProcess, ServerProcess];
  for (let i = 0; i < 6; i++) {
    const [from, to] = i % 2 === 0 ? [a, b] : [b, a];
    const res = await sendRelease(from.url, await nextRelease(projects, i % 2 === 0 ? 'b0' : 'b1'));
    assert.equal(res.status, 201, res.text);
    const ts = JSON.parse(res.text).published.find((p: { role: string }) => p.role === 'timestamp').version;
    await servedWithin(to, ts, 1000);
    assert.equal(
      (await fetch(`${to.url}/metadata/${projects.next.get(i % 2 === 0 ? 'b0' : 'b1')! - 1}.${i % 2 === 0 ? 'b0' : 'b1'}.json`)).status,
      200,
    );
  }
  for (const s of servers) assert.equal((await fetch(`${s.url}/readyz`)).status, 200);
});

test('operator commands work through it: audit verify and gc', async () => {
  const cli = { ...env, LOG_LEVEL: 'error' };
  const audit = await runCli('server/main.ts', ['audit', 'verify'], cli);
  assert.equal(audit.status, 0, audit.stdout + audit.stderr);
  assert.match(audit.stdout, /audit verify: OK/);
  const gc = await runCli('server/main.ts', ['gc'], cli);
  assert.equal(gc.status, 0, gc.stdout + gc.stderr);
});

test('DATABASE_LISTEN=on refuses to start behind it, saying why and what to do', async () => {
  await assert.rejects(startServerProcess({ ...env, DATABASE_LISTEN: 'on' }), (err: Error) => {
    assert.match(err.message, /server exited \(1\)/);
    assert.match(
      err.message,
      /did not reach a LISTEN on DATABASE_URL.*Set DATABASE_LISTEN_URL to a direct connection to PostgreSQL.*\[listen_unavailable\]/s,
    );
    return true;
  });
});

test('with DATABASE_LISTEN_URL (direct), notifications arrive again', async () => {
  const listening = await startServerProcess({ ...env, DATABASE_LISTEN: 'on', DATABASE_LISTEN_URL: db.url });
  servers.push(listening);
  assert.doesNotMatch(listening.output(), /polling/);
  const res = await sendRelease(servers[0]!.url, await nextRelease(projects, 'b0'));
  assert.equal(res.status, 201, res.text);
  const ts = JSON.parse(res.text).published.find((p: { role: string }) => p.role === 'timestamp').version;
  await servedWithin(listening, ts, 1000);
});
