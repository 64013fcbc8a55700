// Read cases against nginx (issue 14): the same bytes served by the server and by nginx with as many
// worker processes, in the same run, alternating (ours first on even runs, nginx first on odd ones,
// so that a machine that slows down or speeds up during the run weighs on both alike), with
// autocannon at 32 connections in this process. Cases: timestamp.json, a versioned file of about
// 10 KB, and a large snapshot with and without gzip. The ratio is ours / nginx per case.
import fs from 'node:fs';
import path from 'node:path';
import autocannon from 'autocannon';
import { spawn } from 'node:child_process';
import { freePort } from '../server/db/embeddedPostgres.ts';
import { loadAverage, median, running, waitHttp, type BenchRow, type Log } from './common.ts';
import { findNginx, startNginx } from './nginx.ts';

export interface ReadCase {
  label: string;
  /** Path under the base URL, e.g. /metadata/timestamp.json. */
  path: string;
  gzip: boolean;
  /** Also time node's own ceiling (nodeCeiling.ts) on the same bytes, as a third contestant. */
  ceiling?: boolean;
}

interface Measured {
  rps: number;
  p99: number;
}

async function cannon(url: string, seconds: number, gzip: boolean): Promise<Measured> {
  const result = await autocannon({
    url,
    connections: 32,
    duration: seconds,
    pipelining: 1,
    ...(gzip ? { headers: { 'accept-encoding': 'gzip' } } : {}),
  });
  if (result.non2xx > 0 || result.errors > 0) throw new Error(`${url}: ${result.non2xx} non-2xx, ${result.errors} errors`);
  return { rps: result.requests.average, p99: result.latency.p99 };
}

/** The body a client gets, as sent (compressed when asked for gzip). */
async function rawBody(url: string, gzip: boolean): Promise<{ bytes: Buffer; encoding: string | null }> {
  const http = await import('node:http');
  return new Promise((resolve, reject) => {
    http
      .get(url, { headers: gzip ? { 'accept-encoding': 'gzip' } : {} }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ bytes: Buffer.concat(chunks), encoding: (res.headers['content-encoding'] as string) ?? null }));
      })
      .on('error', reject);
  });
}

/** nodeCeiling.ts serving `file` with the Cache-Control the server gives `urlPath`. */
async function startCeiling(file: string, workers: number, urlPath: string, timestampMaxAgeSeconds: number) {
  const port = await freePort();
  const cacheControl = urlPath.endsWith('/timestamp.json')
    ? `public, max-age=${timestampMaxAgeSeconds}`
    : 'public, max-age=31536000, immutable';
  const proc = spawn(
    process.execPath,
    ['--import', 'tsx', path.join(import.meta.dirname, 'nodeCeiling.ts'), file, String(port), String(workers), cacheControl],
    {
      stdio: ['ignore', 'ignore', 'inherit'],
    },
  );
  running.add(proc);
  const base = `http://127.0.0.1:${port}`;
  await waitHttp(`${base}${urlPath}`, proc);
  return {
    base,
    async stop() {
      if (proc.exitCode === null) {
        proc.kill('SIGTERM');
        await new Promise((r) => proc.once('exit', r));
      }
      running.delete(proc);
    },
  };
}

export async function readCases(opts: {
  base: string;
  workers: number;
  cases: ReadCase[];
  runs: number;
  seconds: number;
  work: string;
  timestampMaxAgeSeconds: number;
  log: Log;
}): Promise<BenchRow[]> {
  const { log } = opts;
  const nginx = findNginx(log);
  // The files nginx serves: the server's bytes, and its gzip bytes beside them for gzip_static.
  const root = path.join(opts.work, 'nginx-root');
  for (const c of opts.cases) {
    const file = path.join(root, c.path);
    fs.mkdirSync(path.dirname(file), { recursive: true });
    const plain = await rawBody(`${opts.base}${c.path}`, false);
    fs.writeFileSync(file, plain.bytes);
    if (c.gzip) {
      const compressed = await rawBody(`${opts.base}${c.path}`, true);
      if (compressed.encoding !== 'gzip') throw new Error(`${c.path}: the server sent no gzip variant`);
      fs.writeFileSync(`${file}.gz`, compressed.bytes);
    }
  }
  const peer = await startNginx({
    binary: nginx.binary,
    root,
    workers: opts.workers,
    dir: opts.work,
    timestampMaxAgeSeconds: opts.timestampMaxAgeSeconds,
  });
  const rows: BenchRow[] = [];
  try {
    for (const c of opts.cases) {
      // Both answer with the same bytes before either is timed.
      const [ours, theirs] = [await rawBody(`${opts.base}${c.path}`, c.gzip), await rawBody(`${peer.base}${c.path}`, c.gzip)];
      if (!ours.bytes.equals(theirs.bytes) || ours.encoding !== theirs.encoding)
        throw new Error(`${c.path}: nginx and the server answer differently (${ours.bytes.length} / ${theirs.bytes.length} bytes)`);
      const ceiling = c.ceiling ? await startCeiling(path.join(root, c.path), opts.workers, c.path, opts.timestampMaxAgeSeconds) : null;
      const server: Measured[] = [];
      const peerRuns: Measured[] = [];
      const ceilingRuns: Measured[] = [];
      try {
        for (let r = 0; r < opts.runs; r++) {
          // The order turns each run, so that no contestant always follows another.
          const contestants = ceiling ? ['server', 'nginx', 'node'] : ['server', 'nginx'];
          const order = contestants.map((_, i) => contestants[(i + r) % contestants.length]!);
          log(`reads: ${c.label}, run ${r + 1}/${opts.runs} (${order.join(', then ')})`);
          for (const who of order) {
            const base = who === 'server' ? opts.base : who === 'nginx' ? peer.base : ceiling!.base;
            const m = await cannon(`${base}${c.path}`, opts.seconds, c.gzip);
            (who === 'server' ? server : who === 'nginx' ? peerRuns : ceilingRuns).push(m);
          }
        }
      } finally {
        await ceiling?.stop();
      }
      const o = median(server.map((m) => m.rps));
      const n = median(peerRuns.map((m) => m.rps));
      const nodeAlone =
        ceilingRuns.length > 0 ? `; node's http alone ${median(ceilingRuns.map((m) => m.rps)).toFixed(0)}/s (nodeCeiling.ts)` : '';
      rows.push({
        case: `read ${c.label}, 32 connections`,
        metric: 'requests/s (server)',
        value: o,
        p99: median(server.map((m) => m.p99)),
        unit: '/s',
        note: `${nginx.version.replace(/^nginx version: /, '')} ${n.toFixed(0)}/s (p99 ${median(peerRuns.map((m) => m.p99))} ms); ${opts.workers} processes each; ${ours.bytes.length} B on the wire; per run ${server.map((m, i) => (m.rps / peerRuns[i]!.rps).toFixed(2)).join(' ')}${nodeAlone}; load average ${loadAverage()}: ratio ${(o / n).toFixed(2)}`,
      });
    }
  } finally {
    await peer.stop();
  }
  return rows;
}
