// What every case of `npm run bench` shares: the result row, quantiles, the server's memory, and
// starting the server in production mode in a process of its own.
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import net from 'node:net';
import path from 'node:path';
import { freePort } from '../server/db/embeddedPostgres.ts';

export interface BenchRow {
  case: string;
  metric: string;
  value: number;
  unit: string;
  p99?: number;
  note?: string;
}

export type Log = (msg: string) => void;

export function quantile(xs: number[], q: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))] ?? NaN;
}

export const median = (xs: number[]): number => quantile(xs, 0.5);

/** The pids of a process and its descendants. */
export function processTree(pid: number): number[] {
  const out: number[] = [];
  const pending = [pid];
  while (pending.length > 0) {
    const p = pending.pop()!;
    out.push(p);
    try {
      for (const t of fs.readdirSync(`/proc/${p}/task`))
        pending.push(...fs.readFileSync(`/proc/${p}/task/${t}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number));
    } catch {
      // exited meanwhile
    }
  }
  return out;
}

/** CPU time (user and system, every thread) used so far by the given processes, in ms. */
export function cpuMs(pids: number[]): number {
  const tick = 10; // USER_HZ is 100 on Linux
  let ticks = 0;
  for (const pid of pids) {
    try {
      const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      ticks += Number(fields[11]) + Number(fields[12]);
    } catch {
      // exited meanwhile
    }
  }
  return ticks * tick;
}

/** The 1-minute load average, for the conditions a figure was measured in (a shared machine). */
export const loadAverage = (): string => os.loadavg()[0]!.toFixed(1);

/** Resident memory of a process and its descendants (a cluster's supervisor and workers), in MB. */
export function rssMb(pid: number): number {
  let kb = 0;
  const pending = [pid];
  while (pending.length > 0) {
    const p = pending.pop()!;
    try {
      kb += Number(/VmRSS:\s+(\d+)/.exec(fs.readFileSync(`/proc/${p}/status`, 'utf8'))?.[1] ?? 0);
      for (const t of fs.readdirSync(`/proc/${p}/task`))
        pending.push(...fs.readFileSync(`/proc/${p}/task/${t}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number));
    } catch {
      // exited meanwhile
    }
  }
  return kb / 1024;
}

export async function waitHttp(url: string, proc?: ChildProcess): Promise<void> {
  const deadline = Date.now() + 120_000;
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

export interface BenchServer {
  proc: ChildProcess;
  base: string;
  port: number;
  /** Server processes (WEB_CONCURRENCY; one per core unless set). */
  workers: number;
  stop(): Promise<void>;
}

/** Processes still running when the benchmark fails: killed on the way out. */
export const running = new Set<ChildProcess>();

/** `tuf-server start` in production mode on `dbUrl`, with the limits the cases need. */
export async function startBenchServer(opts: {
  repoDir: string;
  home: string;
  dbUrl: string;
  sigstoreRootFile: string;
  env?: Record<string, string>;
  /** The port of a server started again (its clients keep their URLs). */
  port?: number;
  /** The server's output goes here instead of this process's (the soak keeps one log per server). */
  logFile?: string;
}): Promise<BenchServer> {
  const port = opts.port ?? (await freePort());
  // BENCH_SERVER_NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/prof" profiles the server process.
  const nodeArgs = (process.env.BENCH_SERVER_NODE_ARGS ?? '').split(' ').filter(Boolean);
  const out = opts.logFile ? fs.openSync(opts.logFile, 'a') : null;
  const proc = spawn(process.execPath, [...nodeArgs, path.join(opts.repoDir, 'bin', 'tuf-server.mjs'), 'start'], {
    env: {
      ...process.env,
      NODE_ENV: 'production',
      DATABASE_URL: opts.dbUrl,
      PORT: String(port),
      HOST: '127.0.0.1',
      TUF_HOME: opts.home,
      ONLINE_KEYS_DIR: path.join(opts.home, 'online-keys'),
      SIGSTORE_TRUSTED_ROOT: opts.sigstoreRootFile,
      LOG_LEVEL: 'warn',
      WRITE_RATE_LIMIT_PER_MINUTE: '0',
      MAX_ADMIN_METADATA_BYTES: String(64 * 1024 * 1024),
      ...opts.env,
    },
    stdio: out === null ? ['ignore', 'inherit', 'inherit'] : ['ignore', out, out],
  });
  if (out !== null) fs.closeSync(out);
  running.add(proc);
  const base = `http://127.0.0.1:${port}`;
  await waitHttp(`${base}/healthz`, proc);
  const workers = Number(opts.env?.WEB_CONCURRENCY ?? process.env.WEB_CONCURRENCY ?? os.availableParallelism());
  if (workers > 1) {
    // The first worker answers before the others listen: measure only once every worker serves.
    const deadline = Date.now() + 120_000;
    while (!new RegExp(`^tuf_server_processes ${workers}$`, 'm').test(await (await fetch(`${base}/metrics`)).text())) {
      if (Date.now() > deadline) throw new Error(`${workers} workers did not all start`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  return {
    proc,
    base,
    port,
    workers,
    async stop() {
      if (proc.exitCode === null) {
        proc.kill('SIGTERM');
        await new Promise((r) => proc.once('exit', r));
      }
      running.delete(proc);
    },
  };
}

/**
 * POST to an `/admin/*` route with the bench's admin token; throws on anything but success. Sent
 * over a plain socket and read to its end, so that an early answer (a 413 or 503 while the body is
 * still being written) is reported: node's http client loses an answer already received when its
 * next write fails with EPIPE.
 */
export function adminPoster(base: string, token: string) {
  const url = new URL(base);
  return (route: string, body: unknown): Promise<unknown> => {
    const bytes = Buffer.from(JSON.stringify(body));
    return new Promise((resolve, reject) => {
      const socket = net.connect(Number(url.port), url.hostname);
      const received: Buffer[] = [];
      let writeError: Error | null = null;
      socket.on('data', (c: Buffer) => received.push(c));
      socket.on('error', (err) => (writeError = err));
      socket.on('close', () => {
        const text = Buffer.concat(received).toString();
        const head = text.slice(0, text.indexOf('\r\n\r\n'));
        const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(head)?.[1] ?? 0);
        const answer = text.slice(head.length + 4);
        if (status === 200 || status === 201) return resolve(JSON.parse(answer));
        if (status) return reject(new Error(`${route}: ${status} ${answer.slice(0, 2000)}`));
        reject(new Error(`${route}: no answer (${writeError?.message ?? 'connection closed'}; ${bytes.length} bytes to send)`));
      });
      socket.write(
        `POST ${route} HTTP/1.1\r\nhost: ${url.host}\r\nconnection: close\r\ncontent-type: application/json\r\n` +
          `authorization: Bearer ${token}\r\ncontent-length: ${bytes.length}\r\n\r\n`,
      );
      // Not end(): a client that half-closes its side gets no answer from node's HTTP server.
      socket.write(bytes);
    });
  };
}

/** A metric's value in the server's Prometheus text. */
export async function serverMetrics(base: string): Promise<(name: string) => number> {
  const text = await (await fetch(`${base}/metrics`)).text();
  return (name: string) => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1]);
}
