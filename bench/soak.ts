// npm run soak -- --minutes N [--servers 3] [--out FILE]   (not part of npm test)
// Several production server processes on one embedded PostgreSQL (fsync on), a steady mix of
// reads, Sigstore-signed maintainer uploads, registrations and admin pushes; a server SIGKILLed
// every few minutes (all but the first, which stays up to show memory over the whole run) and one
// database restart half-way. Then `tuf-server audit verify`, every acknowledged upload looked up,
// and a client refresh from the first root. Prints a report: memory (RSS) over time, open
// sockets and database connections, error counts and latency percentiles per interval.
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import express from 'express';
import { Updater } from 'tuf-js';
import { IdentityClient } from '../client/identityUpdater.ts';
import { canonicalBytes, sha256Hex } from '../core/canonical.ts';
import type { Envelope } from '../core/metadata.ts';
import { ensureDatabase, startEmbeddedPostgres, type EmbeddedPostgres } from '../server/db/embeddedPostgres.ts';
import { createKnex, migrateLatest, SILENT_KNEX_LOG } from '../server/db/knex.ts';
import { AdminTokens } from '../server/admin/adminTokens.ts';
import { ensureOnlineKeys, FileKeyStore } from '../server/onlineKeys.ts';
import { listen } from '../server/runtime.ts';
import { createLocalSigstore } from '../sigstore-local/localSigstore.ts';
import { BenchRepo, projectName } from './benchRepo.ts';
import { adminPoster, running, serverMetrics, startBenchServer, waitHttp, type BenchServer } from './common.ts';
import { rssAndSockets, SoakStats } from './soakStats.ts';
import { admin, maintainer, reader, registrant, type TrafficContext } from './soakTraffic.ts';

const HELP = `usage: npm run soak -- --minutes N [--servers 3] [--kill-every MIN] [--out FILE]
  --minutes N       how long the traffic runs (the report's run: 60)
  --servers N       server processes on one database (default 3; the first is never killed)
  --kill-every MIN  SIGKILL a server every MIN minutes (default 3, or minutes/4 for short runs)
  --cache-mb N      METADATA_CACHE_BYTES of the servers, in MiB (default: the server's, 256)
  --out FILE        the report (markdown) is also written there
`;
const { values } = parseArgs({
  options: {
    minutes: { type: 'string' },
    servers: { type: 'string', default: '3' },
    'kill-every': { type: 'string' },
    out: { type: 'string' },
    'cache-mb': { type: 'string' },
    help: { type: 'boolean', short: 'h' },
  },
});
if (values.help || !values.minutes) {
  process.stdout.write(HELP);
  process.exit(values.help ? 0 : 2);
}
const minutes = Number(values.minutes);
const serverCount = Math.max(2, Number(values.servers));
const killEveryMs = Number(values['kill-every'] ?? Math.min(3, Math.max(0.5, minutes / 4))) * 60_000;
const intervalMs = minutes >= 20 ? 5 * 60_000 : 60_000;
const extraEnv: Record<string, string> = values['cache-mb']
  ? { METADATA_CACHE_BYTES: String(Number(values['cache-mb']) * 1024 * 1024) }
  : {};
const repoDir = path.resolve(import.meta.dirname, '..');
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'tuf-soak-'));
fs.chmodSync(work, 0o755);
const stats = new SoakStats(intervalMs);
/** Server logs are kept after the run (the work directory is removed). */
const logDir = fs.mkdtempSync(path.join(os.tmpdir(), 'tuf-soak-logs-'));
let stopping = false;
const log = (msg: string) => process.stderr.write(`[${((Date.now() - stats.started) / 60_000).toFixed(1).padStart(5)} min] ${msg}\n`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function main(): Promise<void> {
  log(
    `soak: ${minutes} min, ${serverCount} servers, a SIGKILL every ${killEveryMs / 60_000} min, work dir ${work}, server logs in ${logDir}`,
  );
  let pg: EmbeddedPostgres = await startEmbeddedPostgres({ dataDir: path.join(work, 'pg'), fsync: true });
  const pgPort = pg.port;
  await ensureDatabase(pg.url, 'tuf');
  const dbUrl = pg.urlFor('tuf');
  const setupKnex = createKnex(dbUrl, 2);
  await migrateLatest(setupKnex);
  const online = await ensureOnlineKeys(new FileKeyStore(path.join(work, 'online-keys')));
  const token = await new AdminTokens(setupKnex).create('soak');
  await setupKnex.destroy();
  const sigApp = express();
  const sigServer = await listen(sigApp, '127.0.0.1', 0);
  const sigstore = await createLocalSigstore({ baseUrl: `http://127.0.0.1:${(sigServer.address() as { port: number }).port}` });
  sigApp.use(sigstore.router);
  const sigstoreRootFile = path.join(work, 'sigstore-root.json');
  fs.writeFileSync(sigstoreRootFile, JSON.stringify(sigstore.trustedRoot));

  const servers: (BenchServer | null)[] = [];
  /** Processes this run killed on purpose; any other exit is a finding (and the server is started again). */
  const killed = new Set<number>();
  const unexpectedExits: string[] = [];
  const restarting = new Set<number>();
  const start = async (i: number): Promise<void> => {
    const home = path.join(work, `server-${i}`);
    if (!fs.existsSync(home)) fs.cpSync(path.join(work, 'online-keys'), path.join(home, 'online-keys'), { recursive: true });
    const server = await startBenchServer({
      repoDir,
      home,
      dbUrl,
      sigstoreRootFile,
      env: { VERIFY_WORKERS: '1', WEB_CONCURRENCY: '1', CACHE_RELOAD_INTERVAL_SECONDS: '10', ...extraEnv },
      logFile: path.join(logDir, `s${i}.log`),
    });
    servers[i] = server;
    server.proc.once('exit', (code, signal) => {
      if (killed.has(server.proc.pid!) || stopping) return;
      const what = `s${i} (pid ${server.proc.pid}) exited by itself: code ${code}, signal ${signal} (its log: ${logDir}/s${i}.log)`;
      unexpectedExits.push(what);
      stats.event(what);
      log(what);
      running.delete(server.proc);
      if (servers[i] === server) servers[i] = null;
      if (restarting.has(i)) return;
      restarting.add(i);
      void sleep(2000)
        .then(() => start(i))
        .catch((err: Error) => log(`restarting s${i} failed: ${err.message}`))
        .finally(() => restarting.delete(i));
    });
  };
  for (let i = 0; i < serverCount; i++) await start(i);
  const names = servers.map((_, i) => `s${i}`);

  const repo = await BenchRepo.bootstrap({ base: servers[0]!.base, token, binCount: 64, sigstore, online, work });
  // Admin pushes from now on go to whichever server runs, through kills and the database restart.
  repo.usePoster(async (route, body) => {
    const deadline = Date.now() + 5 * 60_000;
    for (let n = 0; ; n++) {
      const live = servers.filter((s): s is BenchServer => s !== null && s.proc.exitCode === null);
      const base = live[n % Math.max(1, live.length)]?.base;
      try {
        if (!base) throw new Error('no server runs: 000 ');
        return await adminPoster(base, token)(route, body);
      } catch (err) {
        const message = (err as Error).message;
        const status = Number(/: (\d{3}) /.exec(message)?.[1] ?? 0);
        if (status === 409 && message.includes('version_not_next') && base) {
          // An earlier attempt committed without its answer arriving: the bins are ours, or not.
          const [name, envelope] = Object.entries((body as { delegated: Record<string, Envelope> }).delegated)[0]!;
          const served = await fetch(`${base}/metadata/${envelope.signed.version}.${name}.json`);
          if (served.status === 200 && canonicalBytes(((await served.json()) as Envelope).signed).equals(canonicalBytes(envelope.signed)))
            return {};
        }
        if ((status >= 400 && status < 500 && status !== 429) || Date.now() > deadline) throw err;
        await sleep(500);
      }
    }
  });
  const delegated: string[] = [];
  for (let i = 0; i < 40; i++) delegated.push(projectName(i));
  for (const p of delegated) repo.delegate(p);
  await repo.push();
  const firstRoot = repo.rootFile;

  let stop = false;
  let pushesPaused = false;
  const ctx: TrafficContext = {
    stats,
    repo,
    sigstore,
    live: () => servers.filter((s): s is BenchServer => s !== null && s.proc.exitCode === null).map((s) => s.base),
    stopped: () => stop,
    pushesPaused: () => pushesPaused,
    acked: new Map(delegated.map((p) => [p, new Map()])),
    delegated,
    registered: [],
  };
  const busy = new Set<string>();
  const traffic = [
    ...[0, 1, 2].map(() => reader(ctx, 250)),
    ...[0, 1, 2, 3, 4, 5].map(() => maintainer(ctx, busy, 2500)),
    registrant(ctx, 20_000, (i) => `psoak${i}`),
    admin(ctx, 60_000, () => servers[0]!.base),
  ];
  const failures: string[] = [];
  const watched = traffic.map((t) => t.catch((err: Error) => failures.push(err.message)));

  // Samples every 10 s: memory and sockets of each server, connections to the database.
  const pgKnex = createKnex(dbUrl, 1, { log: SILENT_KNEX_LOG });
  const sampler = setInterval(() => {
    void (async () => {
      let pgConnections: number | null = null;
      try {
        const r = await pgKnex.raw(`select count(*)::int as n from pg_stat_activity where datname = 'tuf'`);
        pgConnections = r.rows[0].n - 1;
      } catch (err) {
        if (!stats.restartWindow) log(`sampling the database's connections failed: ${(err as Error).message}`);
      }
      let first: { heap: number; external: number; cache: number } | null = null;
      try {
        const metric = await serverMetrics(servers[0]!.base);
        const mb = (name: string) => metric(name) / 1024 / 1024;
        first = {
          heap: mb('nodejs_heap_size_used_bytes'),
          external: mb('nodejs_external_memory_bytes'),
          cache: mb('tuf_metadata_cache_bytes'),
        };
      } catch {
        // s0 is busy or restarting: no sample
      }
      stats.sample({
        servers: new Map(servers.map((s, i) => [names[i]!, rssAndSockets(s?.proc.pid)])),
        pgConnections,
        load: os.loadavg()[0]!,
        first,
      });
    })();
  }, 10_000);

  // The soak process itself must keep running: a stall (the machine paused it) is reported.
  let lastTick = Date.now();
  const watchdog = setInterval(() => {
    const now = Date.now();
    if (now - lastTick > 5000) {
      stats.event(`the soak process did not run for ${((now - lastTick) / 1000).toFixed(0)} s`);
      log(`stall: the soak process did not run for ${((now - lastTick) / 1000).toFixed(0)} s`);
    }
    lastTick = now;
  }, 1000);
  const endAt = Date.now() + minutes * 60_000;
  const restartAt = Date.now() + (minutes * 60_000) / 2;
  let nextKill = Date.now() + killEveryMs;
  let killTurn = 0;
  let restarted = false;
  while (Date.now() < endAt && failures.length === 0) {
    await sleep(1000);
    if (Date.now() >= nextKill) {
      const i = 1 + (killTurn++ % (serverCount - 1));
      const victim = servers[i];
      if (!victim) continue;
      killed.add(victim.proc.pid!);
      victim.proc.kill('SIGKILL');
      await new Promise((r) => (victim.proc.exitCode !== null || victim.proc.signalCode ? r(null) : victim.proc.once('exit', r)));
      running.delete(victim.proc);
      servers[i] = null;
      stats.event(`SIGKILL s${i}`);
      log(`SIGKILL s${i}`);
      await sleep(2000);
      await start(i);
      nextKill = Date.now() + killEveryMs;
    }
    if (!restarted && Date.now() >= restartAt) {
      restarted = true;
      pushesPaused = true;
      stats.restartWindow = { from: Date.now(), to: null };
      stats.event('database stopped');
      log('database restart: stopping PostgreSQL');
      await pg.stop();
      await sleep(5000);
      pg = await startEmbeddedPostgres({ dataDir: path.join(work, 'pg'), port: pgPort, fsync: true });
      stats.event('database started');
      for (const s of servers) if (s) await waitHttp(`${s.base}/readyz`).catch(() => {});
      // Ready everywhere; requests already waiting on a connection may still fail for a moment.
      stats.restartWindow.to = Date.now() + 15_000;
      log('database back; every server ready');
      setTimeout(() => (pushesPaused = false), 30_000);
    }
  }
  stop = true;
  stopping = true;
  clearInterval(sampler);
  clearInterval(watchdog);
  await Promise.all(watched);
  log(`traffic stopped${failures.length ? `: ${failures.join('; ')}` : ''}`);

  // --- After the run -----------------------------------------------------------------------------
  const checks: string[] = [];
  const audit = await new Promise<{ status: number; stdout: string }>((resolve) =>
    execFile(
      process.execPath,
      [path.join(repoDir, 'bin', 'tuf-server.mjs'), 'audit', 'verify'],
      { env: { ...process.env, NODE_ENV: 'production', DATABASE_URL: dbUrl, SIGSTORE_TRUSTED_ROOT: sigstoreRootFile, TUF_HOME: work } },
      (err, stdout) => resolve({ status: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout }),
    ),
  );
  const auditLine = audit.stdout.split('\n').filter((l) => /versions checked|audit verify:/.test(l));
  checks.push(`audit verify: exit ${audit.status}; ${auditLine.join('; ')}`);
  let ackedCount = 0;
  let lost = 0;
  const knex = createKnex(dbUrl, 2);
  for (const [project, versions] of ctx.acked) {
    for (const [version, sha] of versions) {
      ackedCount += 1;
      const row = await knex('metadata_versions').where({ role: project, version }).first('bytes');
      if (!row || sha256Hex(canonicalBytes(JSON.parse(row.bytes.toString('utf8')).signed)) !== sha) lost += 1;
    }
  }
  await knex.destroy();
  checks.push(`acknowledged uploads: ${ackedCount}, lost: ${lost}`);
  const base = ctx.live()[0]!;
  const clientDir = path.join(work, 'client');
  fs.mkdirSync(path.join(clientDir, 'metadata'), { recursive: true });
  fs.mkdirSync(path.join(clientDir, 'targets'), { recursive: true });
  fs.copyFileSync(firstRoot, path.join(clientDir, 'metadata', 'root.json'));
  try {
    const [project, versions] = [...ctx.acked].filter(([, v]) => v.size > 0).at(-1)!;
    const last = Math.max(...versions.keys());
    const client = new IdentityClient({
      metadataBaseUrl: `${base}/metadata`,
      targetBaseUrl: `${base}/targets`,
      metadataDir: path.join(clientDir, 'metadata'),
      targetDir: path.join(clientDir, 'targets'),
      sigstoreTrustedRoot: sigstore.trustedRoot,
    });
    await client.download(repo.targetPath(project, `r${last}.tgz`), path.join(clientDir, 'file'));
    checks.push(
      `client refresh from root v1 (IdentityClient): downloaded ${project} v${last}: ${fs.readFileSync(path.join(clientDir, 'file'), 'utf8')}`,
    );
    const stock = path.join(work, 'stock');
    fs.mkdirSync(path.join(stock, 'targets'), { recursive: true });
    fs.copyFileSync(firstRoot, path.join(stock, 'root.json'));
    await new Updater({
      metadataDir: stock,
      metadataBaseUrl: `${base}/metadata`,
      targetDir: path.join(stock, 'targets'),
      targetBaseUrl: `${base}/targets`,
    }).refresh();
    checks.push('client refresh from root v1 (stock tuf-js Updater): OK');
  } catch (err) {
    checks.push(`client refresh FAILED: ${(err as Error).message}`);
  }

  for (const s of servers) await s?.stop();
  sigServer.close();
  await pg.stop();
  for (const e of unexpectedExits) checks.push(`server exited by itself: ${e}`);
  report(names, checks, failures, { lost, audit: audit.status, unexpectedExits: unexpectedExits.length });
}

function report(
  names: string[],
  checks: string[],
  failures: string[],
  outcome: { lost: number; audit: number; unexpectedExits: number },
): void {
  const t = stats.totals();
  const s0 = stats.rssSeries('s0').filter(Number.isFinite);
  const warm = s0.slice(1, 3);
  const end = s0.slice(-2);
  const avg = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);
  const lines = [
    `## Soak run: ${minutes} minutes, ${names.length} server processes (${new Date().toISOString().slice(0, 10)})`,
    '',
    `Machine: ${os.cpus().length} cores, Node ${process.version}; load average at the end ${os
      .loadavg()
      .map((x) => x.toFixed(1))
      .join(' ')}.`,
    `Requests: ${[...t.requests].map(([k, n]) => `${k}: ${n}`).join(', ')}.`,
    `5xx outside the database restart window: ${t.fiveXxOutside}; inside it: ${t.fiveXxInside}; requests with no answer (killed servers): ${t.connErrors}.`,
    `Reads of a listed role version or target file answered 404: ${stats.listedNotFound}.`,
    `Memory of s0 (never killed), median RSS: ${avg(warm).toFixed(0)} MB after warm-up (intervals 2-3), ${avg(end).toFixed(0)} MB in the last two intervals.`,
    '',
    ...checks.map((c) => `- ${c}`),
    ...failures.map((f) => `- traffic failure: ${f}`),
    ...stats.fiveXxOutsideList.map((l) => `- 5xx outside the window: ${l}`),
    ...stats.notFound.map((l) => `- read answered 404: ${l}`),
    '',
    `Per ${intervalMs / 60_000}-minute interval (latency: count / p50 / p95 / p99 in ms; RSS and sockets: median of 10 s samples):`,
    '',
    ...stats.table(names),
    '',
    'Events:',
    '',
    ...stats.events().map((e) => `- ${e}`),
    '',
  ];
  const text = lines.join('\n');
  process.stdout.write(`${text}\n`);
  if (values.out) fs.writeFileSync(values.out, text);
  const ok =
    outcome.unexpectedExits === 0 &&
    outcome.lost === 0 &&
    outcome.audit === 0 &&
    t.fiveXxOutside === 0 &&
    stats.listedNotFound === 0 &&
    failures.length === 0 &&
    !checks.some((c) => c.includes('FAILED'));
  process.exitCode = ok ? 0 : 1;
}

main()
  .catch((err: Error) => {
    process.stderr.write(`soak failed: ${err.stack}\n`);
    process.exitCode = 1;
  })
  .finally(() => {
    for (const p of running) p.kill('SIGKILL');
    fs.rmSync(work, { recursive: true, force: true });
  });
