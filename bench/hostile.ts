// The hostile-load case of `npm run bench`: timestamp reads (timed in a process of their own,
// bench/hostileReader.ts) while unauthenticated clients send array-first, deeply nested, oversized
// and slow-sent bodies, and while a maintainer streams a very large file; per pattern the slowest
// and p99 read and the server's peak RSS over its RSS just before.
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import type { JsonObject } from '../core/canonical.ts';
import { buildTargetsSigned, expiresAfter, type Envelope } from '../core/metadata.ts';
import { quantile, rssMb, type BenchRow } from './common.ts';

export type { BenchRow };

export interface HostileContext {
  base: string;
  serverPid: number;
  repoDir: string;
  quick: boolean;
  log(msg: string): void;
  /** A delegated project the attackers aim at (so that the server must read what they send). */
  attackProject: string;
  /** A delegated project with no version yet, and how to sign its role as its maintainer. */
  project: string;
  /** Where a file of `project` lives (its bin's hashed directory). */
  targetPath(file: string): string;
  sign(signed: JsonObject): Promise<Envelope>;
}

const MiB = 1024 * 1024;

interface Sent {
  status: number;
  error?: string;
}

/**
 * One request with a body of `size` bytes from `fill`, written as fast as the server takes it (or
 * `delayMs` between pieces); resolves on the answer or when the server closes the connection.
 */
function sendBody(
  url: string,
  size: number,
  fill: (offset: number, n: number) => Buffer,
  opts: { chunked?: boolean; method?: string; pieceBytes?: number; delayMs?: number; stop?: () => boolean } = {},
): Promise<Sent> {
  return new Promise((resolve) => {
    const headers: Record<string, string> = { 'content-type': 'application/json' };
    if (!opts.chunked) headers['content-length'] = String(size);
    let settled = false;
    const settle = (s: Sent) => {
      if (!settled) {
        settled = true;
        resolve(s);
      }
    };
    const req = http.request(url, { method: opts.method ?? 'POST', headers, agent: false }, (res) => {
      res.resume();
      res.on('end', () => settle({ status: res.statusCode ?? 0 }));
      res.on('error', () => settle({ status: res.statusCode ?? 0 }));
    });
    req.on('error', (err) => settle({ status: 0, error: (err as NodeJS.ErrnoException).code ?? String(err) }));
    const piece = opts.pieceBytes ?? 256 * 1024;
    let offset = 0;
    const pump = () => {
      while (offset < size && !settled && !(opts.stop?.() ?? false)) {
        const n = Math.min(piece, size - offset);
        const ok = req.write(fill(offset, n));
        offset += n;
        if (opts.delayMs) return void setTimeout(pump, opts.delayMs);
        if (!ok) return void req.once('drain', pump);
      }
      if (opts.stop?.()) req.destroy();
      else if (!settled) req.end();
    };
    pump();
  });
}

const spaces = Buffer.alloc(256 * 1024, 0x20);
const zeros = Buffer.alloc(256 * 1024, '0,');
/** `{"metadata": {"signed": [0,0,0,...]`: an array first, `size` bytes in all. */
function arrayFirst(size: number) {
  const head = Buffer.from('{"metadata": {"signed": {"_type": "targets", "x": [');
  return (offset: number, n: number) => {
    const out = Buffer.from(zeros.subarray(0, n));
    if (offset === 0) head.copy(out);
    if (offset + n === size) Buffer.from('0]}}}').copy(out, Math.max(0, n - 5));
    return out;
  };
}
function nested(size: number) {
  const half = Math.floor(size / 2);
  return (offset: number, n: number) => {
    const out = Buffer.alloc(n, 0x5b);
    for (let i = Math.max(0, half - offset); i < n; i++) out[i] = 0x5d;
    return out;
  };
}

/** Runs `attack` while timestamp reads are timed; one row per pattern. */
async function measure(
  ctx: HostileContext,
  name: string,
  seconds: number,
  attack: (stop: () => boolean) => Promise<string>,
): Promise<BenchRow> {
  // Reads go on from the reader's start until the attack has ended (its window: `seconds`).
  ctx.log(`hostile load: ${name}`);
  await new Promise((r) => setTimeout(r, 500));
  const baseline = rssMb(ctx.serverPid);
  const samples: [number, number][] = [];
  const sampler = setInterval(() => samples.push([Date.now(), rssMb(ctx.serverPid)]), 20);
  const reader = spawn(
    process.execPath,
    ['--import', 'tsx', path.join(ctx.repoDir, 'bench', 'hostileReader.ts'), `${ctx.base}/metadata/timestamp.json`, '2'],
    { stdio: ['pipe', 'pipe', 'inherit'] },
  );
  let out = '';
  reader.stdout.on('data', (d: Buffer) => (out += d.toString()));
  await new Promise<void>((resolve, reject) => {
    const check = () => (out.includes('ready\n') ? resolve() : setTimeout(check, 20));
    reader.once('exit', (code) => reject(new Error(`reader exited ${code}`)));
    check();
  });
  const deadline = Date.now() + seconds * 1000;
  const note = await attack(() => Date.now() >= deadline);
  const exit = new Promise((r) => reader.once('exit', r));
  reader.stdin.end();
  await exit;
  clearInterval(sampler);
  const peak = Math.max(baseline, ...samples.map(([, mb]) => mb));
  // Flat means: no higher at the end than midway (a file held in memory would grow to the end).
  const middle = samples.length > 0 ? samples[0]![0] + (samples.at(-1)![0] - samples[0]![0]) / 2 : 0;
  const halves = [samples.filter(([t]) => t < middle), samples.filter(([t]) => t >= middle)].map(
    (h) => Math.max(baseline, ...h.map(([, mb]) => mb)) - baseline,
  );
  const latencies = JSON.parse(out.split('\n').filter(Boolean).at(-1)!) as number[];
  return {
    case: `hostile load: ${name}`,
    metric: 'timestamp read, slowest',
    value: Math.max(...latencies),
    p99: quantile(latencies, 0.99),
    unit: 'ms',
    note: `peak RSS +${(peak - baseline).toFixed(0)} MB over ${baseline.toFixed(0)} MB (first half +${halves[0]!.toFixed(0)}, second half +${halves[1]!.toFixed(0)}); ${latencies.length} reads; ${note}`,
  };
}

/** Repeats `one` on `parallel` connections until `stop`; a summary of the answers. */
async function loop(parallel: number, stop: () => boolean, one: () => Promise<Sent>): Promise<string> {
  const answers = new Map<string, number>();
  await Promise.all(
    Array.from({ length: parallel }, async () => {
      while (!stop()) {
        const r = await one();
        const k = r.status ? String(r.status) : (r.error ?? 'error');
        answers.set(k, (answers.get(k) ?? 0) + 1);
      }
    }),
  );
  return [...answers].map(([k, n]) => `${n}x ${k}`).join(', ');
}

/** Slow senders: `n` connections, half trickling headers, half a JSON body. */
async function slowloris(ctx: HostileContext, n: number, stop: () => boolean): Promise<string> {
  const { hostname, port } = new URL(ctx.base);
  const sockets: net.Socket[] = [];
  let closedByServer = 0; // headers and bodies cut off by their timeouts, bodies refused by MAX_BUFFERED_BODY_BYTES (503)
  for (let i = 0; i < n; i++) {
    const s = net.connect(Number(port), hostname);
    s.on('error', () => {});
    s.on('close', () => (closedByServer += stop() ? 0 : 1));
    s.write(
      i % 2 === 0
        ? 'POST /api/v1/registrations HTTP/1.1\r\nHost: x\r\n'
        : `POST /api/v1/projects/${ctx.attackProject}/uploads HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000000\r\n\r\n{"metadata": `,
    );
    sockets.push(s);
  }
  const drip = setInterval(() => sockets.forEach((s, i) => s.writable && s.write(i % 2 === 0 ? 'X-Slow: 1\r\n' : '[1,')), 1000);
  while (!stop()) await new Promise((r) => setTimeout(r, 100));
  clearInterval(drip);
  sockets.forEach((s) => s.destroy());
  return `${n} connections dripping a few bytes a second (half headers, half a 1 MB JSON body); ${closedByServer} closed by the server meanwhile (503 once MAX_BUFFERED_BODY_BYTES of declared bodies are held)`;
}

/**
 * A maintainer's release of one file of `size` bytes (generated, never on disk here): hashed and
 * signed, its metadata sent; `stream()` then sends the file.
 */
async function largeFile(
  ctx: HostileContext,
  size: number,
): Promise<{ stream(): Promise<{ note: string; ok: boolean; seconds: number }> }> {
  const piece = (i: number) => {
    const b = Buffer.alloc(MiB, i % 251);
    b.writeUInt32BE(i, 0);
    return b;
  };
  const fill = (offset: number, n: number) => {
    const i = Math.floor(offset / MiB);
    return piece(i).subarray(offset - i * MiB, offset - i * MiB + n);
  };
  const sha256 = createHash('sha256');
  const sha512 = createHash('sha512');
  for (let offset = 0; offset < size; offset += MiB) {
    const b = fill(offset, Math.min(MiB, size - offset));
    sha256.update(b);
    sha512.update(b);
  }
  const target = ctx.targetPath(`large-${size}.bin`);
  const signed = buildTargetsSigned({
    version: 1,
    expires: expiresAfter(new Date(), 30 * 86_400),
    targets: { [target]: { length: size, hashes: { sha256: sha256.digest('hex'), sha512: sha512.digest('hex') } } },
  });
  const env = await ctx.sign(signed);
  const opened = await fetch(`${ctx.base}/api/v1/projects/${ctx.project}/uploads`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ metadata: env }),
  });
  const answer = (await opened.json()) as { status: string; signedSha256: string };
  if (answer.status !== 'awaiting_files') throw new Error(`large file: metadata answered ${JSON.stringify(answer)}`);
  return {
    async stream() {
      const t0 = performance.now();
      const sent = await sendBody(`${ctx.base}/api/v1/projects/${ctx.project}/uploads/${answer.signedSha256}/files/${target}`, size, fill, {
        method: 'PUT',
        pieceBytes: MiB,
      });
      const seconds = (performance.now() - t0) / 1000;
      return {
        ok: sent.status === 201,
        seconds,
        note: `streamed and published in ${seconds.toFixed(1)} s (${(size / MiB / seconds).toFixed(0)} MiB/s), answer ${sent.status || sent.error}`,
      };
    },
  };
}

export async function hostileLoad(ctx: HostileContext): Promise<BenchRow[]> {
  const rows: BenchRow[] = [];
  const s = ctx.quick ? 4 : 10;
  const upload = `${ctx.base}/api/v1/projects/${ctx.attackProject}/uploads`;
  rows.push(
    await measure(ctx, 'none (baseline)', s, async (stop) => {
      while (!stop()) await new Promise((r) => setTimeout(r, 50));
      return 'no other traffic';
    }),
  );
  rows.push(
    await measure(ctx, 'one 20 MB array-first upload at a time', s, (stop) =>
      loop(1, stop, () => sendBody(upload, 20 * MiB, arrayFirst(20 * MiB))).then((a) => `Content-Length 20 MiB: ${a}`),
    ),
  );
  rows.push(
    await measure(ctx, 'one 20 MB array-first upload at a time, chunked', s, (stop) =>
      loop(1, stop, () => sendBody(upload, 20 * MiB, arrayFirst(20 * MiB), { chunked: true })).then((a) => `no Content-Length: ${a}`),
    ),
  );
  rows.push(
    await measure(ctx, '4 concurrent 2 MB array-first bodies (parsed on a worker)', s, (stop) =>
      loop(4, stop, () => sendBody(upload, 2 * MiB - 1024, arrayFirst(2 * MiB - 1024))).then(
        (a) => `just under MAX_PROJECT_METADATA_BYTES: ${a}`,
      ),
    ),
  );
  rows.push(
    await measure(ctx, '4 concurrent 2 MB deeply nested bodies (parsed on a worker)', s, (stop) =>
      loop(4, stop, () => sendBody(upload, 2 * MiB - 1024, nested(2 * MiB - 1024))).then((a) => `about 1,000,000 levels: ${a}`),
    ),
  );
  rows.push(
    await measure(ctx, '4 concurrent 120 MB bodies', s, (stop) =>
      loop(4, stop, () => sendBody(upload, 120 * MiB, (_o, n) => spaces.subarray(0, n))).then((a) => `Content-Length 120 MiB: ${a}`),
    ),
  );
  rows.push(
    await measure(ctx, '4 concurrent 120 MB bodies, chunked', s, (stop) =>
      loop(4, stop, () => sendBody(upload, 120 * MiB, (_o, n) => spaces.subarray(0, n), { chunked: true })).then(
        (a) => `no Content-Length: ${a}`,
      ),
    ),
  );
  rows.push(
    await measure(ctx, `slowloris, ${ctx.quick ? 200 : 1000} connections`, s, (stop) => slowloris(ctx, ctx.quick ? 200 : 1000, stop)),
  );
  // Give the server time to drop what the slow senders left before the next baseline.
  await new Promise((r) => setTimeout(r, 1000));
  const size = ctx.quick ? 256 * MiB : 1024 * MiB;
  ctx.log(`hostile load: hashing and signing a ${size / MiB} MiB release (not timed)`);
  const release = await largeFile(ctx, size);
  let streamed = { ok: false, note: '', seconds: 0 };
  const row = await measure(ctx, `a maintainer streams a ${size / MiB} MiB file (MAX_TARGET_BYTES raised)`, 0, async () => {
    streamed = await release.stream();
    return streamed.note;
  });
  if (!streamed.ok) throw new Error(`large file not published: ${streamed.note}`);
  rows.push(row);
  // The same reads for as long, with nothing else: garbage of the reads alone grows the heap until
  // V8 collects it, so the stream's peak only means something beside this one.
  rows.push(
    await measure(ctx, `none for as long as the ${size / MiB} MiB stream took (control)`, Math.ceil(streamed.seconds), async (stop) => {
      while (!stop()) await new Promise((r) => setTimeout(r, 50));
      return 'no other traffic';
    }),
  );
  return rows;
}
