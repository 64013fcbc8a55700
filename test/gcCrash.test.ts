// Garbage collection under concurrent uploads, with SIGKILLs in the middle (issue 19, part 4): two
// real server processes collect every second (a 3-second grace period), `tuf-server gc` processes
// are started and killed at random moments, one server is killed and restarted, while uploads
// publish new files, reuse the bytes of files about to be collected, leave pending versions and
// leave garbage behind. At no moment may a published or pending version list a file the
// repository no longer holds; the garbage does go.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes, type KeyObject } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import type { Knex } from 'knex';
import { sha256Hex, type JsonObject } from '../core/canonical.ts';
import { initialTargetsSigned, singleKeyRoot } from '../core/ceremony.ts';
import { generatePrivateKey } from '../core/keys.ts';
import { buildTargetsSigned, describeTarget, expiresAfter, signEnvelope } from '../core/metadata.ts';
import { privateKeySigner } from '../core/signer.ts';
import { AdminTokens } from '../server/admin/adminTokens.ts';
import { createKnex, migrateLatest } from '../server/db/knex.ts';
import { ensureOnlineKeys, FileKeyStore } from '../server/onlineKeys.ts';
import { createTestDatabase } from './helpers/db.ts';
import { recordSecret } from './helpers/secrets.ts';
import { startLocalSigstore, type LocalSigstoreServer } from './helpers/sigstore.ts';
import { startServerProcess, type ServerProcess } from './helpers/serverProcess.ts';

const repo = path.resolve(import.meta.dirname, '..');
const GRACE_SECONDS = 3;
const PUBLISHED = ['p0', 'p1', 'p2'];
const PAIRS = ['q0', 'q1']; // threshold 2: the first signature leaves a pending version
let dir: string;
let db: { url: string; drop(): Promise<void> };
let knex: Knex;
let sigstore: LocalSigstoreServer;
let env: Record<string, string>;
let token = '';
const servers: ServerProcess[] = [];
const projectKeys = new Map<string, KeyObject[]>();

before(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tuf-gc-crash-'));
  db = await createTestDatabase();
  knex = createKnex(db.url, 4);
  await migrateLatest(knex);
  const online = await ensureOnlineKeys(new FileKeyStore(path.join(dir, 'online-keys')));
  token = await new AdminTokens(knex).create('gc-crash');
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
    GC_INTERVAL_SECONDS: '1',
    BLOB_GC_GRACE_SECONDS: String(GRACE_SECONDS),
    PENDING_VERSION_MAX_AGE_SECONDS: '6',
    VERIFY_WORKERS: '0',
  };
  servers.push(await startServerProcess(env), await startServerProcess(env));

  const now = new Date();
  const { root, targetsKey } = await singleKeyRoot(online, now);
  const delegations = { keys: {} as JsonObject, roles: [] as JsonObject[] };
  for (const name of [...PUBLISHED, ...PAIRS, 'refused']) {
    const count = PAIRS.includes(name) ? 2 : 1;
    const ks = Array.from({ length: count }, () => generatePrivateKey('ed25519'));
    projectKeys.set(name, ks);
    for (const k of ks) delegations.keys[privateKeySigner(k).keyid] = privateKeySigner(k).publicKey as unknown as JsonObject;
    delegations.roles.push({
      name,
      keyids: ks.map((k) => privateKeySigner(k).keyid),
      threshold: count,
      paths: [`${name}/*`],
      terminating: true,
    });
  }
  const targets = await signEnvelope({ ...initialTargetsSigned(now), delegations: delegations as unknown as JsonObject }, [
    privateKeySigner(targetsKey),
  ]);
  const res = await fetch(`${servers[0]!.url}/admin/bootstrap`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: JSON.stringify({ root, targets }),
  });
  assert.equal(res.status, 201, await res.text());
});

after(async () => {
  for (const s of servers) await s.stop();
  await knex?.destroy();
  await sigstore?.close();
  await db?.drop();
  fs.rmSync(dir, { recursive: true, force: true });
});

/** Files listed by a stored metadata version or a pending version that the repository does not hold: must stay empty. */
async function missingListedFiles(): Promise<string[]> {
  // One statement: one snapshot of versions, pending versions and files.
  const res = await knex.raw(`
    select m.role || ' v' || m.version || ' lists ' || (e.value->'hashes'->>'sha256') as problem
    from metadata_versions m
    cross join lateral jsonb_each(coalesce(convert_from(m.bytes, 'UTF8')::jsonb->'signed'->'targets', '{}'::jsonb)) e
    where m.role not in ('root', 'snapshot', 'timestamp')
      and not exists (select 1 from target_blobs b where b.sha256 = e.value->'hashes'->>'sha256')
    union all
    select 'pending ' || p.role || ' v' || p.version || ' lists ' || (e.value->'hashes'->>'sha256')
    from pending_uploads p cross join lateral jsonb_each(p.envelope->'signed'->'targets') e
    where p.status = 'pending' and not exists (select 1 from target_blobs b where b.sha256 = e.value->'hashes'->>'sha256')`);
  return (res.rows as { problem: string }[]).map((r) => r.problem);
}

function live(): ServerProcess {
  const up = servers.filter((s) => s.proc.exitCode === null && s.proc.signalCode === null);
  return up[Math.floor(Math.random() * up.length)] ?? servers[0]!;
}

/** POSTs an upload to some live server until it gets an answer (a killed server gives none). */
async function post(project: string, body: string, until: number): Promise<{ status: number; text: string } | null> {
  while (Date.now() < until) {
    try {
      const res = await fetch(`${live().url}/api/v1/projects/${project}/uploads`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body,
        signal: AbortSignal.timeout(10_000),
      });
      const text = await res.text();
      if (res.status >= 500) {
        await new Promise((r) => setTimeout(r, 50));
        continue;
      }
      return { status: res.status, text };
    } catch {
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  return null;
}

async function release(project: string, version: number, files: Record<string, Buffer>, signWith: number[]): Promise<string> {
  const signed = buildTargetsSigned({
    version,
    expires: expiresAfter(new Date(), 30 * 86_400),
    targets: Object.fromEntries(Object.entries(files).map(([p, b]) => [p, describeTarget(b)])),
  });
  const ks = projectKeys.get(project)!;
  const metadata = await signEnvelope(
    signed,
    signWith.map((i) => privateKeySigner(ks[i]!)),
  );
  return JSON.stringify({ metadata, files: Object.fromEntries(Object.entries(files).map(([p, b]) => [p, b.toString('base64')])) });
}

async function headVersion(project: string): Promise<number> {
  return ((await knex('role_heads').where({ role: project }).first('version')) as { version: number } | undefined)?.version ?? 0;
}

test('collecting under uploads, killed collectors and a killed server never removes a listed file', async () => {
  const until = Date.now() + 12_000;
  const garbage: Buffer[] = []; // files an admin uploaded and nothing lists (yet)
  const problems: string[] = [];
  let stop = false;

  const admin = (async () => {
    while (!stop) {
      const bytes = randomBytes(64);
      try {
        const res = await fetch(`${live().url}/admin/blobs`, {
          method: 'PUT',
          headers: { authorization: `Bearer ${token}`, 'content-type': 'application/octet-stream' },
          body: new Uint8Array(bytes),
        });
        if (res.ok) garbage.push(bytes);
      } catch {
        // a killed server
      }
      await new Promise((r) => setTimeout(r, 40));
    }
  })();

  // Each release brings a new file and, often, the bytes of an old garbage file: a file the
  // collector may be removing at this very moment, about to be listed again.
  const publishers = PUBLISHED.map(async (project) => {
    let published = 0;
    while (!stop) {
      const version = (await headVersion(project)) + 1;
      const files: Record<string, Buffer> = { [`${project}/r${version}.bin`]: randomBytes(32) };
      const old = garbage[Math.floor(Math.random() * Math.max(1, garbage.length - 20))];
      if (old && Math.random() < 0.7) files[`${project}/reused-${version}.bin`] = old;
      const res = await post(project, await release(project, version, files, [0]), until + 10_000);
      if (res?.status === 201) published += 1;
      else if (res && !res.text.includes('version_not_next')) assert.fail(`${project} v${version}: ${res.status} ${res.text}`);
    }
    return published;
  });

  // Pending versions (one of two signatures, with the file); about half get the second signature
  // later from a co-signer who sends no file, as \`tuf-maintainer cosign\` does.
  const pairs = PAIRS.map(async (project) => {
    let pending = 0;
    const ks = projectKeys.get(project)!.map((k) => privateKeySigner(k));
    while (!stop) {
      const version = (await headVersion(project)) + 1;
      const file = randomBytes(32);
      const signed = buildTargetsSigned({
        version,
        expires: expiresAfter(new Date(), 30 * 86_400),
        targets: { [`${project}/r${version}-${sha256Hex(file).slice(0, 8)}.bin`]: describeTarget(file) },
      });
      const path0 = Object.keys(signed.targets as JsonObject)[0]!;
      const first = await post(
        project,
        JSON.stringify({ metadata: await signEnvelope(signed, [ks[0]!]), files: { [path0]: file.toString('base64') } }),
        until + 10_000,
      );
      if (first?.status === 202) pending += 1;
      await new Promise((r) => setTimeout(r, 200 + Math.random() * 600));
      if (Math.random() < 0.5)
        await post(project, JSON.stringify({ metadata: await signEnvelope(signed, [ks[1]!]), files: {} }), until + 10_000);
    }
    return pending;
  });

  // Refused uploads (signed by a key the delegation does not name) alongside: noise that must
  // store nothing.
  const stranger = privateKeySigner(generatePrivateKey('ed25519'));
  const refusals = (async () => {
    while (!stop) {
      const sent = randomBytes(32);
      const signed = buildTargetsSigned({
        version: 1,
        expires: expiresAfter(new Date(), 86_400),
        targets: { 'refused/a.bin': describeTarget(sent) },
      });
      const metadata = await signEnvelope(signed, [stranger]);
      const res = await post('refused', JSON.stringify({ metadata, files: { 'refused/a.bin': sent.toString('base64') } }), until + 10_000);
      assert.ok(!res || res.status === 403, `refused upload: ${res?.status} ${res?.text}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  })();

  // `tuf-server gc` processes, each killed with SIGKILL after a random moment.
  let collectorsKilled = 0;
  const collectors = (async () => {
    while (!stop) {
      const child = spawn(process.execPath, [path.join(repo, 'bin', 'tuf-server.mjs'), 'gc'], {
        env: { ...process.env, ...env },
        stdio: 'ignore',
      });
      const exited = new Promise<void>((r) => child.once('exit', () => r()));
      await Promise.race([exited, new Promise((r) => setTimeout(r, 100 + Math.random() * 900))]);
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGKILL');
        collectorsKilled += 1;
      }
      await exited;
    }
  })();

  // The invariant, checked all along.
  const checker = (async () => {
    while (!stop) {
      problems.push(...(await missingListedFiles()));
      await new Promise((r) => setTimeout(r, 250));
    }
  })();

  // One server (which collects every second) is killed in the middle, then restarted.
  await new Promise((r) => setTimeout(r, 5000));
  const victim = servers[0]!;
  await victim.kill();
  await new Promise((r) => setTimeout(r, 300));
  servers[0] = await startServerProcess(env, victim.port);

  while (Date.now() < until) await new Promise((r) => setTimeout(r, 200));
  stop = true;
  const published = await Promise.all(publishers);
  const pending = await Promise.all(pairs);
  await Promise.all([admin, refusals, collectors, checker]);
  problems.push(...(await missingListedFiles()));
  assert.deepEqual(problems, [], 'no published or pending version ever listed a removed file');
  assert.ok(
    published.every((n) => n >= 3),
    `releases kept flowing (${published.join(', ')})`,
  );
  assert.ok(
    pending.every((n) => n >= 2),
    `pending versions were made (${pending.join(', ')})`,
  );
  assert.ok(collectorsKilled >= 3, `collectors were killed midway (${collectorsKilled})`);

  // The garbage does go: once the grace period has passed, a full run leaves no unlisted old file.
  const removed = await knex('audit_log').where({ action: 'blobs.removed' }).select('details');
  assert.ok(removed.length > 0, 'files were collected during the run');
  await new Promise((r) => setTimeout(r, (GRACE_SECONDS + 1) * 1000));
  const final = await new Promise<number>((resolve) => {
    const child = spawn(process.execPath, [path.join(repo, 'bin', 'tuf-server.mjs'), 'gc'], {
      env: { ...process.env, ...env },
      stdio: 'ignore',
    });
    child.once('exit', (code) => resolve(code ?? -1));
  });
  assert.equal(final, 0);
  const listed = new Set((await knex('listed_blobs').select('sha256')).map((r) => r.sha256 as string));
  const leftover = garbage.map((b) => sha256Hex(b)).filter((h) => !listed.has(h));
  const stillHeld = await knex('target_blobs')
    .whereIn('sha256', leftover)
    .whereRaw(`touched_at < now() - interval '${GRACE_SECONDS} seconds'`)
    .count({ n: '*' })
    .first();
  assert.equal(Number(stillHeld?.n ?? 0), 0, 'every unlisted old file was removed');
  assert.deepEqual(await missingListedFiles(), []);
});
