// npm run bench -- [--quick] [--out FILE]
// Starts the server in production mode (its own process) on an embedded PostgreSQL with fsync on,
// seeds a repository, runs the cases of docs/benchmarks.md and prints one table (JSON to FILE).
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import autocannon from 'autocannon';
import { Targets } from '@tufjs/models';
import { IdentityClient } from '../client/identityUpdater.ts';
import { canonicalBytes, sha256Hex, type JsonObject } from '../core/canonical.ts';
import { DEFAULT_ROOT_EXPIRY_SECONDS, editedTargetsSigned, initialTargetsSigned, rootSigned } from '../core/ceremony.ts';
import { identityKeyid } from '../core/identity.ts';
import { generatePrivateKey } from '../core/keys.ts';
import { buildTargetsSigned, describeTarget, expiresAfter, servedBytes, signEnvelope, type Envelope } from '../core/metadata.ts';
import { privateKeySigner } from '../core/signer.ts';
import { signWithIdentity } from '../maintainer/identitySigner.ts';
import { ensureDatabase, freePort, startEmbeddedPostgres } from '../server/db/embeddedPostgres.ts';
import { createKnex, migrateLatest } from '../server/db/knex.ts';
import { AdminTokens } from '../server/admin/adminTokens.ts';
import { ensureOnlineKeys, FileKeyStore } from '../server/onlineKeys.ts';
import { listen } from '../server/runtime.ts';
import express from 'express';
import { createLocalSigstore } from '../sigstore-local/localSigstore.ts';
import { hostileLoad } from './hostile.ts';

const { values } = parseArgs({
  options: {
    quick: { type: 'boolean' },
    out: { type: 'string' },
    'hostile-only': { type: 'boolean' },
    help: { type: 'boolean', short: 'h' },
  },
  allowPositionals: true,
});
if (values.help) {
  process.stdout.write('usage: npm run bench -- [--quick] [--hostile-only] [--out results.json]\n');
  process.exit(0);
}
const quick = values.quick === true;
const P = quick
  ? {
      readSeconds: 3,
      readRuns: 1,
      publishProjects: [200, 1000],
      publishSamples: 15,
      maintainers: 16,
      uploadsEach: 3,
      scaleProjects: 10_000,
      targetsPerProject: 10,
    }
  : {
      readSeconds: 10,
      readRuns: 3,
      publishProjects: [1000, 10_000],
      publishSamples: 60,
      maintainers: 16,
      uploadsEach: 8,
      scaleProjects: 100_000,
      targetsPerProject: 10,
    };

const repoDir = path.resolve(import.meta.dirname, '..');
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'tuf-bench-'));
fs.chmodSync(work, 0o755);
let serverProcess: ChildProcess | null = null;
const rows: { case: string; metric: string; value: number; unit: string; p99?: number; note?: string }[] = [];
const started = Date.now();

function log(msg: string): void {
  process.stderr.write(`[${((Date.now() - started) / 1000).toFixed(0).padStart(4)} s] ${msg}\n`);
}
function quantile(xs: number[], q: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))] ?? NaN;
}
const median = (xs: number[]) => quantile(xs, 0.5);

async function waitHttp(url: string, proc?: ChildProcess): Promise<void> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (proc && proc.exitCode !== null) throw new Error(`process exited (${proc.exitCode})`);
    try {
      if ((await fetch(url)).status < 500) return;
    } catch {
      // not yet
    }
    if (Date.now() > deadline) throw new Error(`${url} did not come up`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

function rssMb(pid: number): number {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0) / 1024;
}

async function main(): Promise<void> {
  log(`${quick ? 'quick' : 'full'} run on ${os.cpus().length} cores, Node ${process.version}; work dir ${work}`);
  const pg = await startEmbeddedPostgres({ dataDir: path.join(work, 'pg'), fsync: true });
  await ensureDatabase(pg.url, 'tuf');
  const dbUrl = pg.urlFor('tuf');
  const knex = createKnex(dbUrl, 4);
  await migrateLatest(knex);
  const online = await ensureOnlineKeys(new FileKeyStore(path.join(work, 'online-keys')));
  const token = await new AdminTokens(knex).create('bench');

  // A local Sigstore in this process (maintainers sign through it; the server only verifies).
  const sigApp = express();
  const sigServer = await listen(sigApp, '127.0.0.1', 0);
  const sigPort = (sigServer.address() as { port: number }).port;
  const sigstore = await createLocalSigstore({ baseUrl: `http://127.0.0.1:${sigPort}` });
  sigApp.use(sigstore.router);
  fs.writeFileSync(path.join(work, 'sigstore-root.json'), JSON.stringify(sigstore.trustedRoot));

  const port = await freePort();
  // BENCH_SERVER_NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/prof" profiles the server process.
  const nodeArgs = (process.env.BENCH_SERVER_NODE_ARGS ?? '').split(' ').filter(Boolean);
  const server = (serverProcess = spawn(process.execPath, [...nodeArgs, path.join(repoDir, 'bin', 'tuf-server.mjs'), 'start'], {
    env: {
      ...process.env,
      NODE_ENV: 'production',
      DATABASE_URL: dbUrl,
      PORT: String(port),
      HOST: '127.0.0.1',
      TUF_HOME: work,
      ONLINE_KEYS_DIR: path.join(work, 'online-keys'),
      SIGSTORE_TRUSTED_ROOT: path.join(work, 'sigstore-root.json'),
      LOG_LEVEL: 'warn',
      WRITE_RATE_LIMIT_PER_MINUTE: '0',
      MAX_ADMIN_METADATA_BYTES: String(64 * 1024 * 1024),
      // The hostile-load case streams a 1 GiB file (256 MiB with --quick).
      MAX_TARGET_BYTES: String(1536 * 1024 * 1024),
    },
    stdio: ['ignore', 'inherit', 'inherit'],
  }));
  const base = `http://127.0.0.1:${port}`;
  await waitHttp(`${base}/healthz`, server);
  const admin = (p: string, body: unknown) =>
    fetch(`${base}${p}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      body: JSON.stringify(body),
    }).then(async (r) => {
      if (!r.ok) throw new Error(`${p}: ${r.status} ${await r.text()}`);
      return r.json();
    });

  // Bootstrap.
  const rootKey = generatePrivateKey('ed25519');
  const targetsKey = generatePrivateKey('ed25519');
  const now = new Date();
  const root = await signEnvelope(
    rootSigned({
      version: 1,
      expires: expiresAfter(now, DEFAULT_ROOT_EXPIRY_SECONDS),
      rootKeys: [privateKeySigner(rootKey).publicKey],
      rootThreshold: 1,
      targetsKeys: [privateKeySigner(targetsKey).publicKey],
      targetsThreshold: 1,
      snapshotKey: online.snapshot,
      timestampKey: online.timestamp,
    }),
    [privateKeySigner(rootKey)],
  );
  let targets = await signEnvelope(initialTargetsSigned(now), [privateKeySigner(targetsKey)]);
  await admin('/admin/bootstrap', { root, targets });
  fs.writeFileSync(path.join(work, '1.root.json'), JSON.stringify(root));
  const issuer = sigstore.issuerUrl;
  const maintainer = (i: number) => `m${i}@bench.example`;

  /** Delegates projects [from, to) to one identity each, in one new targets version. */
  async function delegate(from: number, to: number): Promise<void> {
    let signed = targets.signed;
    const delegations = (signed.delegations ?? { keys: {}, roles: [] }) as { keys: JsonObject; roles: JsonObject[] };
    for (let i = from; i < to; i++) {
      const keyid = identityKeyid(maintainer(i), issuer);
      delegations.keys[keyid] = { keytype: 'sigstore-oidc', scheme: 'Fulcio', keyval: { identity: maintainer(i), issuer } };
      delegations.roles.push({ name: `proj${i}`, keyids: [keyid], threshold: 1, paths: [`proj${i}/*`], terminating: true });
    }
    signed = editedTargetsSigned({ ...signed, delegations: delegations as unknown as JsonObject }, {}, new Date());
    targets = await signEnvelope(signed, [privateKeySigner(targetsKey)]);
    await admin('/admin/metadata/targets', targets);
  }

  /** A project role version with one file, signed through the local Sigstore. */
  async function presign(project: number, version: number): Promise<string> {
    const file = Buffer.from(`proj${project} ${version}`);
    const signed = buildTargetsSigned({
      version,
      expires: expiresAfter(new Date(), 30 * 86_400),
      targets: { [`proj${project}/r${version}.tgz`]: describeTarget(file) },
    });
    const sig = await signWithIdentity(
      canonicalBytes(signed),
      identityKeyid(maintainer(project), issuer),
      { fulcioUrl: sigstore.fulcioUrl, rekorUrl: sigstore.rekorUrl },
      {
        getToken: () => sigstore.mintToken({ identity: maintainer(project) }),
      },
    );
    return JSON.stringify({
      metadata: { signed, signatures: [sig] },
      files: { [`proj${project}/r${version}.tgz`]: file.toString('base64') },
    });
  }
  async function upload(project: number, body: string): Promise<number> {
    const t0 = performance.now();
    const res = await fetch(`${base}/api/v1/projects/proj${project}/uploads`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body,
    });
    const text = await res.text();
    if (res.status !== 201) throw new Error(`upload proj${project}: ${res.status} ${text}`);
    return performance.now() - t0;
  }

  /** Signs a project role as that project's maintainer, through the local Sigstore. */
  const signFor =
    (project: number) =>
    async (signed: JsonObject): Promise<Envelope> => {
      const sig = await signWithIdentity(
        canonicalBytes(signed),
        identityKeyid(maintainer(project), issuer),
        { fulcioUrl: sigstore.fulcioUrl, rekorUrl: sigstore.rekorUrl },
        {
          getToken: () => sigstore.mintToken({ identity: maintainer(project) }),
        },
      );
      return { signed, signatures: [sig] };
    };
  const hostile = (attackProject: number, project: number) =>
    hostileLoad({
      base,
      serverPid: server.pid!,
      repoDir,
      quick,
      log,
      attackProject: `proj${attackProject}`,
      project: `proj${project}`,
      sign: signFor(project),
    });

  if (values['hostile-only']) {
    await delegate(0, 2);
    rows.push(...(await hostile(0, 1)));
    return finish();
  }

  // --- Publishing ---------------------------------------------------------------------------
  let delegated = 0;
  let nextProject = 0;
  for (const n of P.publishProjects) {
    log(`delegating ${n} projects`);
    await delegate(delegated, n);
    delegated = n;
    log(`signing ${P.publishSamples} uploads (not timed)`);
    const bodies: [number, string][] = [];
    for (let i = 0; i < P.publishSamples; i++) bodies.push([nextProject, await presign(nextProject++, 1)]);
    const latencies: number[] = [];
    for (const [project, body] of bodies) {
      latencies.push(await upload(project, body));
      // The response comes after snapshot and timestamp include the upload; check it is served.
      const ts = JSON.parse(await (await fetch(`${base}/metadata/timestamp.json`)).text()) as Envelope;
      if (!ts) throw new Error('no timestamp');
    }
    rows.push({
      case: `publish, ${n} delegated projects`,
      metric: 'request -> timestamp served, p50',
      value: median(latencies),
      p99: quantile(latencies, 0.99),
      unit: 'ms',
      note: 'one maintainer at a time; Sigstore verification included',
    });
  }

  log(`signing ${P.maintainers * P.uploadsEach} uploads for ${P.maintainers} concurrent maintainers (not timed)`);
  const workers: { project: number; bodies: string[] }[] = [];
  for (let w = 0; w < P.maintainers; w++) {
    const project = nextProject++;
    const bodies = [];
    for (let v = 1; v <= P.uploadsEach; v++) bodies.push(await presign(project, v));
    workers.push({ project, bodies });
  }
  const t0 = performance.now();
  const perUpload: number[] = [];
  await Promise.all(
    workers.map(async (w) => {
      for (const body of w.bodies) perUpload.push(await upload(w.project, body));
    }),
  );
  const seconds = (performance.now() - t0) / 1000;
  rows.push({
    case: `publish, ${P.maintainers} maintainers at once, ${delegated} projects`,
    metric: 'uploads/s',
    value: (P.maintainers * P.uploadsEach) / seconds,
    unit: '/s',
    note: `each upload p50 ${median(perUpload).toFixed(1)} ms, p99 ${quantile(perUpload, 0.99).toFixed(1)} ms`,
  });

  // --- Reads --------------------------------------------------------------------------------
  const tsText = await (await fetch(`${base}/metadata/timestamp.json`)).text();
  const snapVersion = (JSON.parse(tsText) as Envelope).signed.meta as Record<string, { version: number }>;
  const snapName = `${snapVersion['snapshot.json']!.version}.snapshot.json`;
  const staticDir = path.join(work, 'static', 'metadata');
  fs.mkdirSync(staticDir, { recursive: true });
  fs.writeFileSync(path.join(staticDir, 'timestamp.json'), tsText);
  fs.writeFileSync(path.join(staticDir, snapName), Buffer.from(await (await fetch(`${base}/metadata/${snapName}`)).arrayBuffer()));
  const staticPort = await freePort();
  const staticProc = spawn(
    process.execPath,
    ['--import', 'tsx', path.join(repoDir, 'bench', 'staticServer.ts'), path.join(work, 'static'), String(staticPort)],
    { stdio: ['ignore', 'ignore', 'inherit'] },
  );
  await waitHttp(`http://127.0.0.1:${staticPort}/metadata/timestamp.json`, staticProc);
  async function cannon(url: string): Promise<{ rps: number; p99: number }> {
    const result = await autocannon({ url, connections: 32, duration: P.readSeconds, pipelining: 1 });
    if (result.non2xx > 0 || result.errors > 0) throw new Error(`${url}: ${result.non2xx} non-2xx, ${result.errors} errors`);
    return { rps: result.requests.average, p99: result.latency.p99 };
  }
  for (const file of ['timestamp.json', snapName]) {
    const label = file === 'timestamp.json' ? 'timestamp.json' : `N.snapshot.json (${fs.statSync(path.join(staticDir, file)).size} B)`;
    const ours: { rps: number; p99: number }[] = [];
    const plain: { rps: number; p99: number }[] = [];
    for (let r = 0; r < P.readRuns; r++) {
      log(`reads: ${file}, run ${r + 1}/${P.readRuns}`);
      ours.push(await cannon(`${base}/metadata/${file}`));
      plain.push(await cannon(`http://127.0.0.1:${staticPort}/metadata/${file}`));
    }
    const o = median(ours.map((x) => x.rps));
    const s = median(plain.map((x) => x.rps));
    rows.push({
      case: `read ${label}, 32 connections`,
      metric: 'requests/s (server)',
      value: o,
      p99: median(ours.map((x) => x.p99)),
      unit: '/s',
      note: `static baseline ${s.toFixed(0)}/s (p99 ${median(plain.map((x) => x.p99))} ms): ratio ${(o / s).toFixed(2)}`,
    });
  }
  staticProc.kill();

  const clientProject = workers[0]!.project;
  log('client: a fresh client verifies one identity-signed target');
  const clientDir = path.join(work, 'client', 'metadata');
  fs.mkdirSync(clientDir, { recursive: true });
  fs.copyFileSync(path.join(work, '1.root.json'), path.join(clientDir, 'root.json'));
  const client = new IdentityClient({
    sigstoreTrustedRoot: sigstore.trustedRoot,
    metadataDir: clientDir,
    metadataBaseUrl: `${base}/metadata`,
    targetDir: path.join(work, 'client', 'targets'),
    targetBaseUrl: `${base}/targets`,
  });
  const clientStart = performance.now();
  await client.download(`proj${clientProject}/r${P.uploadsEach}.tgz`, path.join(work, 'client', 'file.tgz'));
  const clientMs = performance.now() - clientStart;
  const metadataBytes = fs
    .readdirSync(clientDir)
    .filter((f) => f !== 'root.json')
    .reduce((n, f) => n + fs.statSync(path.join(clientDir, f)).size, 0);
  const snapEntriesNow = Number(/^tuf_snapshot_entries (\S+)$/m.exec(await (await fetch(`${base}/metrics`)).text())?.[1]);
  rows.push({
    case: `fresh client, ${snapEntriesNow} roles in snapshot, ${delegated} flat delegations in targets`,
    metric: 'metadata downloaded to verify one target',
    value: metadataBytes / 1e6,
    unit: 'MB',
    note: `in ${clientMs.toFixed(0)} ms, Sigstore trusted root and file included in the time`,
  });

  // --- Hostile load (bench/hostile.ts) ---------------------------------------------------------
  rows.push(...(await hostile(workers[0]!.project, nextProject++)));

  // --- Scale ---------------------------------------------------------------------------------
  const N = P.scaleProjects;
  log(`scale: seeding ${N} project roles x ${P.targetsPerProject} targets in bulk`);
  // Straight to the database, not N HTTP calls: each role signed here by an ordinary ed25519 key
  // and stored with its head. They are not listed one by one in top-level targets (see the
  // flat-delegation case below for why): they stand for projects delegated through hashed bins.
  const scaleSigner = privateKeySigner(generatePrivateKey('ed25519'));
  const seedStart = performance.now();
  {
    const expires = expiresAfter(new Date(), 30 * 86_400);
    let batch: Record<string, unknown>[] = [];
    const flush = async () => {
      if (batch.length === 0) return;
      await knex.transaction(async (trx) => {
        await trx('metadata_versions').insert(batch);
        await trx('role_heads').insert(batch.map((b) => ({ role: b.role, version: 1, expires: b.expires })));
      });
      batch = [];
    };
    for (let i = 0; i < N; i++) {
      const t: Record<string, { length: number; hashes: { sha256: string; sha512: string } }> = {};
      for (let j = 0; j < P.targetsPerProject; j++) {
        const h = sha256Hex(Buffer.from(`s${i}/${j}`));
        t[`s${i}/pkg-${j}.tgz`] = { length: 1000 + j, hashes: { sha256: h, sha512: h + h } };
      }
      const env = await signEnvelope(buildTargetsSigned({ version: 1, expires, targets: t }), [scaleSigner]);
      const bytes = servedBytes(env);
      batch.push({ role: `s${i}`, version: 1, bytes, sha256: sha256Hex(bytes), length: bytes.length, expires: new Date(expires) });
      if (batch.length === 2000) await flush();
    }
    await flush();
  }
  rows.push({
    case: `scale: seed ${N} roles, ${N * P.targetsPerProject} targets`,
    metric: 'bulk seeding time',
    value: (performance.now() - seedStart) / 1000,
    unit: 's',
    note: 'signed and inserted straight into the database',
  });

  log('scale: first publication over every role (full snapshot build), then incremental ones');
  const scaleProject = nextProject;
  const scaleBodies: string[] = [];
  for (let v = 1; v <= 6; v++) scaleBodies.push(await presign(scaleProject, v));
  const scalePublish: number[] = [];
  for (const body of scaleBodies) scalePublish.push(await upload(scaleProject, body));
  const metrics = await (await fetch(`${base}/metrics`)).text();
  const metric = (name: string) => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(metrics)?.[1]);
  const snapBytes = metric('tuf_snapshot_bytes');
  const snapEntries = metric('tuf_snapshot_entries');
  rows.push({ case: `scale: ${snapEntries} roles in snapshot`, metric: 'snapshot size', value: snapBytes / 1e6, unit: 'MB' });
  rows.push({
    case: `scale: ${snapEntries} roles`,
    metric: 'upload published, first after seeding (full snapshot build)',
    value: scalePublish[0]!,
    unit: 'ms',
  });
  rows.push({
    case: `scale: ${snapEntries} roles`,
    metric: 'upload published, incremental snapshot, p50',
    value: median(scalePublish.slice(1)),
    p99: quantile(scalePublish.slice(1), 0.99),
    unit: 'ms',
  });
  rows.push({
    case: `scale: ${snapEntries} roles`,
    metric: 'snapshot build+sign+store, mean over all publications',
    value: (metric('tuf_snapshot_build_seconds_sum') / metric('tuf_snapshot_build_seconds_count')) * 1000,
    unit: 'ms',
    note: 'every snapshot of the run, small ones included',
  });
  rows.push({ case: `scale: ${snapEntries} roles`, metric: 'server RSS', value: rssMb(server.pid!), unit: 'MB' });

  // --- Flat delegations in tuf-js --------------------------------------------------------------
  for (const k of quick ? [1000, 4000] : [1000, 4000, 10_000]) {
    const signed: JsonObject = {
      ...buildTargetsSigned({ version: 1, expires: expiresAfter(new Date(), 86_400), targets: {} }),
      delegations: {
        keys: { [scaleSigner.keyid]: scaleSigner.publicKey as unknown as JsonObject },
        roles: Array.from({ length: k }, (_, i) => ({
          name: `f${i}`,
          keyids: [scaleSigner.keyid],
          threshold: 1,
          paths: [`f${i}/*`],
          terminating: true,
        })),
      },
    };
    const t1 = performance.now();
    Targets.fromJSON(structuredClone(signed) as never);
    rows.push({
      case: `tuf-js: top-level targets with ${k} flat delegations`,
      metric: "Targets.fromJSON (every client, and the server's checks)",
      value: performance.now() - t1,
      unit: 'ms',
      note: 'grows with the square of the count (object spread per role)',
    });
  }

  return finish();

  async function finish(): Promise<void> {
    server.kill('SIGTERM');
    await new Promise((r) => server.once('exit', r));
    await knex.destroy();
    sigServer.close();
    await pg.stop();

    // --- Report -------------------------------------------------------------------------------
    const cores = os.cpus().length;
    const lines = [
      `cores: ${cores}, node ${process.version}, ${quick ? 'quick' : 'full'} run, ${((Date.now() - started) / 1000).toFixed(0)} s`,
      '',
    ];
    lines.push('| case | metric | value | p99 | note |', '| --- | --- | --- | --- | --- |');
    for (const r of rows) {
      lines.push(
        `| ${r.case} | ${r.metric} | ${r.value.toFixed(r.value < 10 ? 2 : 0)} ${r.unit} | ${r.p99 !== undefined ? `${r.p99.toFixed(1)} ms` : ''} | ${r.note ?? ''} |`,
      );
    }
    process.stdout.write(`${lines.join('\n')}\n`);
    if (values.out) fs.writeFileSync(values.out, `${JSON.stringify({ cores, node: process.version, quick, rows }, null, 2)}\n`);
    fs.rmSync(work, { recursive: true, force: true });
  }
}

main().catch((err) => {
  serverProcess?.kill('SIGKILL');
  process.stderr.write(`bench failed: ${(err as Error).stack}\n(work dir kept: ${work})\n`);
  process.exit(1);
});
