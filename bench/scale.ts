// The ecosystem-scale case of `npm run bench`: a repository in the layered layout with N projects,
// each delegated to its maintainer's identity in its bin and holding one release. Bins go through
// the admin API as admins push them; the N project roles are seeded straight into the database
// (signing a million releases through Sigstore would take hours; no client reads them). Measured:
// what a fresh `tuf-client` downloads and how long it takes to verify one target, what a client
// that already updated downloads after one release elsewhere, the same for stock tuf-js, the bin
// an approval re-signs, upload latency, snapshot cost and the server's memory.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import type { Knex } from 'knex';
import { Updater } from 'tuf-js';
import { sha256Hex } from '../core/canonical.ts';
import { buildTargetsSigned, expiresAfter, servedBytes } from '../core/metadata.ts';
import type { TufKey } from '../core/keys.ts';
import { ensureDatabase } from '../server/db/embeddedPostgres.ts';
import { createKnex, migrateLatest } from '../server/db/knex.ts';
import { AdminTokens } from '../server/admin/adminTokens.ts';
import type { LocalSigstore } from '../sigstore-local/localSigstore.ts';
import { BenchRepo, projectName } from './benchRepo.ts';
import { median, quantile, rssMb, serverMetrics, startBenchServer, type BenchRow, type Log } from './common.ts';
import { startCountingProxy, type CountingProxy } from './countingProxy.ts';
import { stockSnapshotParseEstimate } from './tufjsParse.ts';

export interface ScaleContext {
  repoDir: string;
  work: string;
  pgUrlFor(database: string): string;
  pgAdminUrl: string;
  sigstore: LocalSigstore;
  sigstoreRootFile: string;
  online: { snapshot: TufKey; timestamp: TufKey };
  onlineKeysDir: string;
  log: Log;
}

export interface ScaleOptions {
  projects: number;
  bins: number;
  /** Uploads timed after the first (which builds the whole snapshot). */
  uploads: number;
  /** Run stock tuf-js when its predicted time is below this; else report the extrapolated figure. */
  stockLimitSeconds: number;
}

const MB = 1e6;

/** Project roles v1 (one release each) for projects [from, n), inserted in batches with their heads. */
export async function seedProjectRoles(knex: Knex, repo: BenchRepo, n: number, from = 0): Promise<void> {
  const expires = expiresAfter(new Date(), 30 * 86_400);
  const expiresDate = new Date(expires);
  for (let start = from; start < n; start += 5000) {
    const versions: Record<string, unknown>[] = [];
    for (let i = start; i < Math.min(n, start + 5000); i++) {
      const project = projectName(i);
      const h = sha256Hex(Buffer.from(project));
      const signed = buildTargetsSigned({
        version: 1,
        expires,
        targets: { [repo.targetPath(project, 'r1.tgz')]: { length: 1000 + (i % 1000), hashes: { sha256: h } } },
      });
      // Unsigned: only the role's bytes and size matter here; every role a client reads is signed.
      const bytes = servedBytes({ signed, signatures: [] });
      versions.push({ role: project, version: 1, bytes, sha256: sha256Hex(bytes), length: bytes.length, expires: expiresDate });
    }
    await knex.transaction(async (trx) => {
      await trx('metadata_versions').insert(versions);
      await trx('role_heads').insert(versions.map((v) => ({ role: v.role, version: 1, expires: expiresDate })));
    });
  }
}

/** `tuf-client fetch` in its own process, through the counting proxy: wall time and bytes received. */
async function runTufClient(
  ctx: ScaleContext,
  proxy: CountingProxy,
  rootFile: string,
  stateDir: string,
  target: string,
  fullSnapshot = false,
): Promise<{ ms: number; bytes: number }> {
  proxy.reset();
  const t0 = performance.now();
  const args = [path.join(ctx.repoDir, 'bin', 'tuf-client.mjs'), 'fetch', target, '--server', proxy.base, '--root', rootFile];
  args.push('--dir', stateDir, '--out', path.join(stateDir, 'file.tgz'), '--sigstore-trusted-root', ctx.sigstoreRootFile);
  if (fullSnapshot) args.push('--full-snapshot');
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const code = await new Promise<number | null>((r) => child.on('exit', r));
  if (code !== 0 || !out.includes('verified and saved')) throw new Error(`tuf-client fetch ${target}: exit ${code}: ${out}`);
  return { ms: performance.now() - t0, bytes: proxy.received() };
}

/** A stock tuf-js Updater from root v1 to the project's role, through the proxy (it stops there: identity keys). */
async function runStockTufJs(proxy: CountingProxy, rootFile: string, dir: string, target: string): Promise<{ ms: number; bytes: number }> {
  fs.mkdirSync(path.join(dir, 'metadata'), { recursive: true });
  fs.copyFileSync(rootFile, path.join(dir, 'metadata', 'root.json'));
  proxy.reset();
  const t0 = performance.now();
  const updater = new Updater({
    metadataDir: path.join(dir, 'metadata'),
    metadataBaseUrl: `${proxy.base}/metadata`,
    targetDir: path.join(dir, 'targets'),
    targetBaseUrl: `${proxy.base}/targets`,
  });
  await updater.refresh();
  const refused = await updater.getTargetInfo(target).then(
    () => null,
    (err: Error) => err.message,
  );
  if (!refused || !/signed by 0\/1 keys/.test(refused)) throw new Error(`stock tuf-js: expected the identity refusal, got ${refused}`);
  return { ms: performance.now() - t0, bytes: proxy.received() };
}

export async function scaleCase(ctx: ScaleContext, opts: ScaleOptions): Promise<BenchRow[]> {
  const { projects: N, bins } = opts;
  const label = `scale: ${N} projects in ${bins} bins`;
  const rows: BenchRow[] = [];
  const dbName = `tuf_scale_${N}`;
  await ensureDatabase(ctx.pgAdminUrl, dbName);
  const knex = createKnex(ctx.pgUrlFor(dbName), 4);
  await migrateLatest(knex);
  const token = await new AdminTokens(knex).create('bench-scale');
  const home = path.join(ctx.work, `scale-${N}`);
  fs.mkdirSync(home, { recursive: true });
  fs.cpSync(ctx.onlineKeysDir, path.join(home, 'online-keys'), { recursive: true });
  const server = await startBenchServer({
    repoDir: ctx.repoDir,
    home,
    dbUrl: ctx.pgUrlFor(dbName),
    sigstoreRootFile: ctx.sigstoreRootFile,
  });
  const proxy = await startCountingProxy(new URL(server.base));
  try {
    const repo = await BenchRepo.bootstrap({
      base: server.base,
      token,
      binCount: bins,
      sigstore: ctx.sigstore,
      online: ctx.online,
      work: home,
    });

    ctx.log(`${label}: delegating every project in its bin, pushed as admins push bins`);
    let t0 = performance.now();
    for (let i = 0; i < N; i++) repo.delegate(projectName(i));
    const binSizes = await repo.push();
    rows.push({
      case: label,
      metric: 'all delegations: bins signed and admitted through the admin API',
      value: (performance.now() - t0) / 1000,
      unit: 's',
      note: `${bins} bins, median ${(median(binSizes) / 1000).toFixed(0)} KB, largest ${(Math.max(...binSizes) / 1000).toFixed(0)} KB; top-level targets ${(repo.topLevelTargetsBytes / 1000).toFixed(0)} KB`,
    });

    ctx.log(`${label}: seeding ${N} project roles (one release each) in bulk`);
    t0 = performance.now();
    await seedProjectRoles(knex, repo, N);
    rows.push({ case: label, metric: 'project roles seeded into the database', value: (performance.now() - t0) / 1000, unit: 's' });

    // Releases signed before the timed phase: version 2 of projects 0, 1, 2, ... one upload each.
    ctx.log(`${label}: signing ${opts.uploads + 2} releases (not timed)`);
    const bodies: [string, string][] = [];
    for (let k = 0; k < opts.uploads + 2; k++) bodies.push([projectName(k), await repo.release(projectName(k), 2)]);
    const atStart = await serverMetrics(server.base);
    const timings: number[] = [await repo.upload(bodies[0]![0], bodies[0]![1])];
    const before = await serverMetrics(server.base);
    const firstTreeMs = (before('tuf_snapshot_tree_seconds_sum') - atStart('tuf_snapshot_tree_seconds_sum')) * 1000;
    for (const [project, body] of bodies.slice(1, opts.uploads + 1)) timings.push(await repo.upload(project, body));
    const after = await serverMetrics(server.base);
    const builds = after('tuf_snapshot_build_seconds_count') - before('tuf_snapshot_build_seconds_count');
    const mean = (metric: string) => (after(`${metric}_sum`) - before(`${metric}_sum`)) / builds;
    const entries = after('tuf_snapshot_entries');
    const snapshotMb = after('tuf_snapshot_bytes') / MB;
    rows.push({ case: label, metric: 'upload published, first after seeding (whole snapshot built)', value: timings[0]!, unit: 'ms' });
    rows.push({
      case: label,
      metric: 'upload published, p50',
      value: median(timings.slice(1)),
      p99: quantile(timings.slice(1), 0.99),
      unit: 'ms',
      note: `${opts.uploads} uploads, one maintainer at a time, Sigstore verification included`,
    });
    rows.push({
      case: label,
      metric: 'snapshot build+sign+store, mean',
      value: mean('tuf_snapshot_build_seconds') * 1000,
      unit: 'ms',
      note: `${builds} snapshots of ${entries} entries, ${snapshotMb.toFixed(1)} MB each (version-only entries); stored as deltas of ${(mean('tuf_snapshot_stored_bytes') / 1000).toFixed(1)} KB on average`,
    });
    rows.push({
      case: label,
      metric: 'TAP 16 tree update per publication, mean',
      value: mean('tuf_snapshot_tree_seconds') * 1000,
      unit: 'ms',
      note: `the whole tree built once after the start: ${firstTreeMs.toFixed(0)} ms`,
    });

    const target = `${projectName(0)}/r2.tgz`;
    const timestamp = (await (await fetch(`${server.base}/metadata/timestamp.json`)).json()) as {
      signed: { meta: Record<string, { version: number }> };
    };
    const snapshotVersion = timestamp.signed.meta['snapshot.json']!.version;
    const proof = await fetch(`${server.base}/metadata/snapshot-merkle/${snapshotVersion}/${projectName(0)}.json`);
    const proofBytes = (await proof.arrayBuffer()).byteLength;
    if (!proof.ok) throw new Error(`proof of ${projectName(0)}: HTTP ${proof.status}`);
    rows.push({
      case: label,
      metric: 'TAP 16 proof of one project role',
      value: proofBytes,
      unit: 'B',
      note: `snapshot v${snapshotVersion}`,
    });
    const clients = { proofs: path.join(home, 'tuf-client'), snapshot: path.join(home, 'tuf-client-full') };
    ctx.log(`${label}: fresh tuf-clients verify ${target} (TAP 16 proofs, then snapshot.json)`);
    const fresh = await runTufClient(ctx, proxy, repo.rootFile, clients.proofs, target);
    const freshFull = await runTufClient(ctx, proxy, repo.rootFile, clients.snapshot, target, true);
    rows.push({
      case: label,
      metric: 'fresh tuf-client: bytes received to verify one target',
      value: fresh.bytes / MB,
      unit: 'MB',
      note: `in ${fresh.ms.toFixed(0)} ms with TAP 16 proofs; with snapshot.json ${(freshFull.bytes / MB).toFixed(2)} MB in ${freshFull.ms.toFixed(0)} ms; a process of its own (Node start included); gzip on the wire; root and the target file included`,
    });
    ctx.log(`${label}: one release elsewhere, then the same clients again`);
    const [otherProject, otherBody] = bodies[opts.uploads + 1]!;
    await repo.upload(otherProject, otherBody);
    const again = await runTufClient(ctx, proxy, repo.rootFile, clients.proofs, target);
    const againFull = await runTufClient(ctx, proxy, repo.rootFile, clients.snapshot, target, true);
    rows.push({
      case: label,
      metric: 'updated tuf-client after one release elsewhere: bytes received',
      value: again.bytes / 1000,
      unit: 'KB',
      note: `in ${again.ms.toFixed(0)} ms with TAP 16 proofs (timestamp, three proofs, its target file again); with snapshot.json ${(againFull.bytes / 1000).toFixed(0)} KB in ${againFull.ms.toFixed(0)} ms`,
    });

    const predicted = await stockSnapshotParseEstimate(entries);
    if (predicted.seconds < opts.stockLimitSeconds) {
      ctx.log(`${label}: stock tuf-js (predicted ${predicted.seconds.toFixed(0)} s)`);
      const stock = await runStockTufJs(proxy, repo.rootFile, path.join(home, 'stock'), repo.targetPath(projectName(0), 'r2.tgz'));
      rows.push({
        case: label,
        metric: 'fresh stock tuf-js: to the project role',
        value: stock.ms,
        unit: 'ms',
        note: `${(stock.bytes / MB).toFixed(2)} MB received; stops there (it cannot verify identity keys)`,
      });
    } else {
      rows.push({
        case: label,
        metric: 'fresh stock tuf-js: to the project role (EXTRAPOLATED)',
        value: predicted.seconds,
        unit: 's',
        note: `not run: Snapshot.fromJSON alone, ${predicted.basis}; the bytes are the same files as tuf-client's`,
      });
    }

    ctx.log(`${label}: one approval`);
    const approved = projectName(N);
    const approvedBin = repo.delegate(approved);
    t0 = performance.now();
    const [approvalBytes] = await repo.push();
    rows.push({
      case: label,
      metric: 'one approval: bin re-signed offline',
      value: approvalBytes! / 1000,
      unit: 'KB',
      note: `${approvedBin} only (top-level targets unchanged); pushed and published in ${(performance.now() - t0).toFixed(0)} ms`,
    });
    rows.push({ case: label, metric: 'server RSS', value: rssMb(server.proc.pid!), unit: 'MB' });
    return rows;
  } finally {
    await proxy.close();
    await server.stop();
    await knex.destroy();
  }
}
