// npm run bench -- [--quick] [--out FILE]
// Starts the server in production mode (its own process) on an embedded PostgreSQL with fsync on,
// bootstraps a repository in the layered layout (bins), runs the cases of docs/benchmarks.md and
// prints one table (JSON to FILE).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import type { Envelope } from '../core/metadata.ts';
import { ensureDatabase, startEmbeddedPostgres } from '../server/db/embeddedPostgres.ts';
import { createKnex, migrateLatest } from '../server/db/knex.ts';
import { AdminTokens } from '../server/admin/adminTokens.ts';
import { ensureOnlineKeys, FileKeyStore } from '../server/onlineKeys.ts';
import { listen } from '../server/runtime.ts';
import express from 'express';
import { createLocalSigstore } from '../sigstore-local/localSigstore.ts';
import { BenchRepo, projectName } from './benchRepo.ts';
import { cpuMs, loadAverage, median, processTree, quantile, running, startBenchServer, type BenchRow } from './common.ts';
import { hostileLoad } from './hostile.ts';
import { readCases } from './reads.ts';
import { scaleCase, seedProjectRoles, type ScaleOptions } from './scale.ts';
import { storageCase } from './storage.ts';
import { flatDelegationRows } from './tufjsParse.ts';

const HELP = `usage: npm run bench -- [--quick] [--main-only | --hostile-only | --scale-only | --storage-only] [--no-million] [--out results.json]
  --quick         smaller cases (about 5 minutes): 200 and 1,000 projects, scale at 10,000
  --main-only     only publishing and the reads against nginx (the cases of issue 14)
  --hostile-only  only the hostile-load case
  --scale-only    only the ecosystem-scale cases (100,000 and 1,000,000 projects on a full run)
  --storage-only  only the object storage cases (files in PostgreSQL and in a bucket, the copy to a
                  bucket, timestamp reads from the bucket and nginx; runs Debian's Ceph and nginx)
  --no-million    leave out the 1,000,000-project case of a full run (it takes about 10 minutes)
  --out FILE      the rows as JSON too
`;
const { values } = parseArgs({
  options: {
    quick: { type: 'boolean' },
    out: { type: 'string' },
    'hostile-only': { type: 'boolean' },
    'main-only': { type: 'boolean' },
    'scale-only': { type: 'boolean' },
    'storage-only': { type: 'boolean' },
    'no-million': { type: 'boolean' },
    help: { type: 'boolean', short: 'h' },
  },
  allowPositionals: true,
});
if (values.help) {
  process.stdout.write(HELP);
  process.exit(0);
}
const quick = values.quick === true;
const P = quick
  ? { readSeconds: 3, readRuns: 2, publishProjects: [200, 1000], publishSamples: 15, maintainers: 16, uploadsEach: 10 }
  : { readSeconds: 5, readRuns: 6, publishProjects: [1000, 10_000], publishSamples: 60, maintainers: 16, uploadsEach: 40 };
const scales: ScaleOptions[] = quick
  ? [{ projects: 10_000, bins: 1024, uploads: 10, stockLimitSeconds: 120 }]
  : [
      { projects: 100_000, bins: 1024, uploads: 30, stockLimitSeconds: 600 },
      ...(values['no-million'] ? [] : [{ projects: 1_000_000, bins: 4096, uploads: 10, stockLimitSeconds: 600 }]),
    ];

const repoDir = path.resolve(import.meta.dirname, '..');
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'tuf-bench-'));
fs.chmodSync(work, 0o755);
const rows: BenchRow[] = [];
/** Rows so far, written after each case: a failure later in the run keeps what was measured. */
function save(): void {
  if (values.out)
    fs.writeFileSync(
      values.out,
      `${JSON.stringify({ cores: os.cpus().length, node: process.version, quick, partial: true, rows }, null, 2)}\n`,
    );
}
const started = Date.now();

function log(msg: string): void {
  process.stderr.write(`[${((Date.now() - started) / 1000).toFixed(0).padStart(4)} s] ${msg}\n`);
}

async function main(): Promise<void> {
  log(`${quick ? 'quick' : 'full'} run on ${os.cpus().length} cores, Node ${process.version}; work dir ${work}`);
  const pg = await startEmbeddedPostgres({ dataDir: path.join(work, 'pg'), fsync: true });
  await ensureDatabase(pg.url, 'tuf');
  const knex = createKnex(pg.urlFor('tuf'), 4);
  await migrateLatest(knex);
  const onlineKeysDir = path.join(work, 'online-keys');
  const online = await ensureOnlineKeys(new FileKeyStore(onlineKeysDir));
  const token = await new AdminTokens(knex).create('bench');
  await knex.destroy();

  // A local Sigstore in this process (maintainers sign through it; the server only verifies).
  const sigApp = express();
  const sigServer = await listen(sigApp, '127.0.0.1', 0);
  const sigPort = (sigServer.address() as { port: number }).port;
  const sigstore = await createLocalSigstore({ baseUrl: `http://127.0.0.1:${sigPort}` });
  sigApp.use(sigstore.router);
  const sigstoreRootFile = path.join(work, 'sigstore-root.json');
  fs.writeFileSync(sigstoreRootFile, JSON.stringify(sigstore.trustedRoot));
  const scaleContext = { repoDir, work, pgUrlFor: pg.urlFor, pgAdminUrl: pg.url, sigstore, sigstoreRootFile, online, onlineKeysDir, log };

  try {
    if (!values['scale-only'] && !values['storage-only']) await mainRepository();
    if (!values['hostile-only'] && !values['scale-only'] && !values['main-only']) {
      rows.push(
        ...(await storageCase({
          repoDir,
          work,
          pgUrlFor: pg.urlFor,
          pgAdminUrl: pg.url,
          sigstoreRootFile,
          online,
          onlineKeysDir,
          log,
          quick,
        })),
      );
      save();
    }
    if (!values['hostile-only'] && !values['storage-only'] && !values['main-only']) {
      for (const s of scales) {
        rows.push(...(await scaleCase(scaleContext, s)));
        save();
      }
      rows.push(...flatDelegationRows(quick ? [1000, 4000] : [1000, 4000, 10_000]));
    }
  } finally {
    sigServer.close();
    await pg.stop();
  }
  report();

  /** Publishing, reads and hostile load against one repository of 1024 bins. */
  async function mainRepository(): Promise<void> {
    fs.mkdirSync(path.join(work, 'main'));
    fs.cpSync(onlineKeysDir, path.join(work, 'main', 'online-keys'), { recursive: true });
    const serverOptions = {
      repoDir,
      home: path.join(work, 'main'),
      dbUrl: pg.urlFor('tuf'),
      sigstoreRootFile,
      // The hostile-load case streams a 1 GiB file (256 MiB with --quick).
      env: { MAX_TARGET_BYTES: String(1536 * 1024 * 1024) },
    };
    let server = await startBenchServer(serverOptions);
    const base = server.base;
    const repo = await BenchRepo.bootstrap({ base, token, binCount: 1024, sigstore, online, work });
    const hostile = (attackProject: string, project: string) =>
      hostileLoad({
        base,
        serverPid: server.proc.pid!,
        repoDir,
        quick,
        log,
        attackProject,
        project,
        targetPath: (file) => repo.targetPath(project, file),
        sign: (signed) => repo.signAsMaintainer(project, signed),
      });

    if (values['hostile-only']) {
      for (const i of [0, 1]) repo.delegate(projectName(i));
      await repo.push();
      rows.push(...(await hostile(projectName(0), projectName(1))));
      return server.stop();
    }

    // --- Publishing ---------------------------------------------------------------------------
    let delegated = 0;
    let nextProject = 0;
    for (const n of P.publishProjects) {
      log(`delegating projects up to ${n} (bins pushed as admins push them)`);
      for (let i = delegated; i < n; i++) repo.delegate(projectName(i));
      await repo.push();
      delegated = n;
      log(`signing ${P.publishSamples} uploads (not timed)`);
      const bodies: [string, string][] = [];
      for (let i = 0; i < P.publishSamples; i++) {
        const project = projectName(nextProject++);
        bodies.push([project, await repo.release(project, 1)]);
      }
      const latencies: number[] = [];
      for (const [project, body] of bodies) {
        latencies.push(await repo.upload(project, body));
        // The response comes after snapshot and timestamp include the upload; check it is served.
        const ts = JSON.parse(await (await fetch(`${base}/metadata/timestamp.json`)).text()) as Envelope;
        if (!ts) throw new Error('no timestamp');
      }
      rows.push({
        case: `publish, ${n} projects in 1024 bins`,
        metric: 'request -> timestamp served, p50',
        value: median(latencies),
        p99: quantile(latencies, 0.99),
        unit: 'ms',
        note: `one maintainer at a time; Sigstore verification included; ${server.workers} server processes; load average ${loadAverage()}`,
      });
    }

    const concurrentProjects = Array.from({ length: P.maintainers }, () => projectName(nextProject++));
    /** Each maintainer uploads versions from..from+uploadsEach-1 of its project, all at once. */
    async function concurrentUploads(from: number, what: string): Promise<void> {
      log(`signing ${P.maintainers * P.uploadsEach} uploads for ${P.maintainers} concurrent maintainers (not timed)`);
      const workers: { project: string; bodies: string[] }[] = [];
      for (const project of concurrentProjects) {
        const bodies = [];
        // One more than timed: the first, untimed, warms the server up (its processes parse the
        // projects' bins and find their delegations once).
        for (let v = from; v <= from + P.uploadsEach; v++) bodies.push(await repo.release(project, v));
        workers.push({ project, bodies });
      }
      await Promise.all(workers.map((w) => repo.upload(w.project, w.bodies.shift()!)));
      log(`${P.maintainers} maintainers upload at once (${what})`);
      // CPU per upload, by party: the server's processes, PostgreSQL (the rest of this process's
      // children), and this process (the load generator; the local Sigstore signed before).
      const serverTree = () => processTree(server.proc.pid!);
      const cpu = (pids: number[]) => cpuMs(pids.filter((p) => p !== process.pid));
      const before = { server: cpu(serverTree()), all: cpu(processTree(process.pid)), self: process.cpuUsage() };
      const t0 = performance.now();
      const perUpload: number[] = [];
      await Promise.all(
        workers.map(async (w) => {
          for (const body of w.bodies) perUpload.push(await repo.upload(w.project, body));
        }),
      );
      const seconds = (performance.now() - t0) / 1000;
      const n = P.maintainers * P.uploadsEach;
      const serverMs = (cpu(serverTree()) - before.server) / n;
      const pgMs = (cpu(processTree(process.pid)) - before.all) / n - serverMs;
      const self = process.cpuUsage(before.self);
      rows.push({
        case: `publish, ${P.maintainers} maintainers at once, ${delegated} projects${what === 'default' ? '' : `, ${what}`}`,
        metric: 'uploads/s',
        value: n / seconds,
        unit: '/s',
        note:
          `each upload p50 ${median(perUpload).toFixed(1)} ms, p99 ${quantile(perUpload, 0.99).toFixed(1)} ms; ${n} uploads, ${server.workers} server processes; ` +
          `CPU per upload: server ${serverMs.toFixed(1)} ms, PostgreSQL ${pgMs.toFixed(1)} ms, load generator ${((self.user + self.system) / 1000 / n).toFixed(1)} ms; load average ${loadAverage()}`,
      });
    }
    await concurrentUploads(1, 'default');
    save();
    // The same with one server process (WEB_CONCURRENCY=1): what running a process per core costs uploads.
    await server.stop();
    server = await startBenchServer({ ...serverOptions, port: server.port, env: { ...serverOptions.env, WEB_CONCURRENCY: '1' } });
    await concurrentUploads(2 + P.uploadsEach, 'one server process');
    await server.stop();
    server = await startBenchServer({ ...serverOptions, port: server.port });

    save();
    // Every delegated project with a release, as in a repository whose projects all published: the
    // snapshot read below lists them all. Seeded straight into the database (scale.ts does the same).
    log(`seeding project roles up to ${delegated} (one release each)`);
    const seeding = createKnex(pg.urlFor('tuf'), 2);
    try {
      await seedProjectRoles(seeding, repo, delegated, nextProject);
    } finally {
      await seeding.destroy();
    }
    // A versioned file of about 10 KB: a release listing 20 files (its snapshot lists every role).
    const tenKb = projectName(delegated + 1);
    repo.delegate(tenKb);
    await repo.push();
    await repo.upload(tenKb, await repo.release(tenKb, 1, 20));
    const tsNow = JSON.parse(await (await fetch(`${base}/metadata/timestamp.json`)).text()) as Envelope;
    const snapshotFile = `${(tsNow.signed.meta as Record<string, { version: number; length: number }>)['snapshot.json']!.version}.snapshot.json`;
    const tenKbBytes = (await (await fetch(`${base}/metadata/1.${tenKb}.json`)).arrayBuffer()).byteLength;
    const snapshotBytes = (tsNow.signed.meta as Record<string, { length: number }>)['snapshot.json']!.length;
    rows.push(
      ...(await readCases({
        base,
        workers: server.workers,
        runs: P.readRuns,
        seconds: P.readSeconds,
        work,
        timestampMaxAgeSeconds: 30,
        log,
        cases: [
          { label: 'timestamp.json', path: '/metadata/timestamp.json', gzip: false, ceiling: true },
          { label: `N.PROJECT.json (${(tenKbBytes / 1024).toFixed(1)} KB)`, path: `/metadata/1.${tenKb}.json`, gzip: false, ceiling: true },
          {
            label: `N.snapshot.json (${(snapshotBytes / 1024).toFixed(0)} KB, every project)`,
            path: `/metadata/${snapshotFile}`,
            gzip: false,
          },
          {
            label: `N.snapshot.json (${(snapshotBytes / 1024).toFixed(0)} KB, every project), gzip`,
            path: `/metadata/${snapshotFile}`,
            gzip: true,
          },
        ],
      })),
    );
    save();
    if (!values['main-only']) rows.push(...(await hostile(concurrentProjects[0]!, projectName(nextProject))));
    save();
    await server.stop();
  }
}

function report(): void {
  const cores = os.cpus().length;
  const lines = [
    `cores: ${cores}, node ${process.version}, ${quick ? 'quick' : 'full'} run, ${((Date.now() - started) / 1000).toFixed(0)} s`,
    '',
  ];
  lines.push('| case | metric | value | p99 | note |', '| --- | --- | --- | --- | --- |');
  for (const r of rows) {
    const p99 = r.p99 !== undefined ? `${r.p99.toFixed(1)} ms` : '';
    lines.push(`| ${r.case} | ${r.metric} | ${r.value.toFixed(r.value < 10 ? 2 : 0)} ${r.unit} | ${p99} | ${r.note ?? ''} |`);
  }
  process.stdout.write(`${lines.join('\n')}\n`);
  if (values.out) fs.writeFileSync(values.out, `${JSON.stringify({ cores, node: process.version, quick, rows }, null, 2)}\n`);
  fs.rmSync(work, { recursive: true, force: true });
}

main().catch((err) => {
  for (const proc of running) proc.kill('SIGKILL');
  process.stderr.write(`bench failed: ${(err as Error).stack}\n(work dir kept: ${work})\n`);
  process.exit(1);
});
