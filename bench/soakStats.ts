// What the soak run measures, per interval: request latencies and outcomes by kind, 5xx inside and
// outside the database restart window, and samples of each server's memory and sockets and of the
// database's connections. Rendered as the tables of docs/benchmarks.md.
import fs from 'node:fs';
import { quantile } from './common.ts';

export type Kind = 'read' | 'upload' | 'registration' | 'push';

interface Interval {
  latencies: Map<Kind, number[]>;
  outcomes: Map<string, number>;
  fiveXxOutside: number;
  fiveXxInside: number;
  connErrors: number;
  rss: Map<string, number[]>;
  sockets: Map<string, number[]>;
  /** The first server's own view (its /metrics): V8 heap used, memory outside the heap (Buffers), cached metadata, in MB. */
  heap: number[];
  external: number[];
  cache: number[];
  pgConnections: number[];
  /** The machine's 1-minute load average (other work on the machine shows here). */
  load: number[];
  events: string[];
}

export interface Sample {
  /** server name -> RSS in MB, sockets open (undefined while it is down). */
  servers: Map<string, { rssMb: number; sockets: number } | undefined>;
  pgConnections: number | null;
  load: number;
  /** From the first server's /metrics, in MB, when it answered. */
  first?: { heap: number; external: number; cache: number } | null;
}

export class SoakStats {
  readonly started = Date.now();
  private readonly intervals: Interval[] = [];
  /** [from, to] in ms since the epoch: 5xx inside are expected (the database is down or coming back). */
  restartWindow: { from: number; to: number | null } | null = null;
  readonly fiveXxOutsideList: string[] = [];
  /** Reads answered 404 (a reader follows what the same server just served, so none are expected). */
  readonly notFound: string[] = [];
  /**
   * Of those, reads of a versioned role or a target file the reader just saw listed: never
   * expected (a Merkle proof of a snapshot no longer kept may rightly be 404: the client then
   * reads snapshot.json).
   */
  listedNotFound = 0;

  constructor(private readonly intervalMs: number) {}

  private at(t = Date.now()): Interval {
    const i = Math.floor((t - this.started) / this.intervalMs);
    while (this.intervals.length <= i)
      this.intervals.push({
        latencies: new Map(),
        outcomes: new Map(),
        fiveXxOutside: 0,
        fiveXxInside: 0,
        connErrors: 0,
        rss: new Map(),
        sockets: new Map(),
        pgConnections: [],
        load: [],
        heap: [],
        external: [],
        cache: [],
        events: [],
      });
    return this.intervals[i]!;
  }

  private inRestartWindow(t: number): boolean {
    const w = this.restartWindow;
    return w !== null && t >= w.from && (w.to === null || t <= w.to);
  }

  /** One answered request. */
  request(kind: Kind, status: number, ms: number, route: string): void {
    const now = Date.now();
    const iv = this.at(now);
    if (!iv.latencies.has(kind)) iv.latencies.set(kind, []);
    iv.latencies.get(kind)!.push(ms);
    const key = `${kind} ${status}`;
    iv.outcomes.set(key, (iv.outcomes.get(key) ?? 0) + 1);
    if (status === 404 && kind === 'read') {
      if (!route.startsWith('/metadata/snapshot-merkle/')) this.listedNotFound += 1;
      if (this.notFound.length < 20) this.notFound.push(`${new Date(now).toISOString()} ${route}`);
    }
    if (status >= 500) {
      if (this.inRestartWindow(now)) iv.fiveXxInside += 1;
      else {
        iv.fiveXxOutside += 1;
        if (this.fiveXxOutsideList.length < 50) this.fiveXxOutsideList.push(`${new Date(now).toISOString()} ${status} ${route}`);
      }
    }
  }

  /** A request that got no answer (its server was killed, or is restarting). */
  connectionError(kind: Kind): void {
    const iv = this.at();
    iv.connErrors += 1;
    const key = `${kind} no answer`;
    iv.outcomes.set(key, (iv.outcomes.get(key) ?? 0) + 1);
  }

  event(text: string): void {
    this.at().events.push(`${((Date.now() - this.started) / 60_000).toFixed(1)} min: ${text}`);
  }

  sample(s: Sample): void {
    const iv = this.at();
    for (const [name, v] of s.servers) {
      if (!v) continue;
      if (!iv.rss.has(name)) iv.rss.set(name, []);
      iv.rss.get(name)!.push(v.rssMb);
      if (!iv.sockets.has(name)) iv.sockets.set(name, []);
      iv.sockets.get(name)!.push(v.sockets);
    }
    if (s.pgConnections !== null) iv.pgConnections.push(s.pgConnections);
    iv.load.push(s.load);
    if (s.first) {
      iv.heap.push(s.first.heap);
      iv.external.push(s.first.external);
      if (Number.isFinite(s.first.cache)) iv.cache.push(s.first.cache);
    }
  }

  totals(): { fiveXxOutside: number; fiveXxInside: number; connErrors: number; requests: Map<string, number> } {
    const requests = new Map<string, number>();
    let fiveXxOutside = 0;
    let fiveXxInside = 0;
    let connErrors = 0;
    for (const iv of this.intervals) {
      fiveXxOutside += iv.fiveXxOutside;
      fiveXxInside += iv.fiveXxInside;
      connErrors += iv.connErrors;
      for (const [k, n] of iv.outcomes) requests.set(k, (requests.get(k) ?? 0) + n);
    }
    return { fiveXxOutside, fiveXxInside, connErrors, requests };
  }

  /** Median RSS of `server` in each interval (NaN where it was not sampled). */
  rssSeries(server: string): number[] {
    return this.intervals.map((iv) => {
      const xs = iv.rss.get(server);
      return xs && xs.length > 0 ? quantile(xs, 0.5) : NaN;
    });
  }

  table(servers: string[]): string[] {
    const f = (x: number) => (Number.isFinite(x) ? x.toFixed(x < 10 ? 1 : 0) : '-');
    const lat = (iv: Interval, k: Kind) => {
      const xs = iv.latencies.get(k) ?? [];
      return xs.length === 0 ? '-' : `${xs.length} / ${f(quantile(xs, 0.5))} / ${f(quantile(xs, 0.95))} / ${f(quantile(xs, 0.99))}`;
    };
    const lines = [
      `| min | reads n / p50 / p95 / p99 ms | uploads n / p50 / p95 / p99 ms | registrations | pushes | 5xx (outside / inside restart) | no answer | RSS MB (${servers.join(', ')}) | sockets (${servers.join(', ')}) | PG conns (max) | ${servers[0]} heap / external / metadata cache MB | load |`,
      '| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |',
    ];
    this.intervals.forEach((iv, i) => {
      const per = (m: Map<string, number[]>) => servers.map((s) => f(quantile(m.get(s) ?? [], 0.5))).join(' / ');
      lines.push(
        `| ${((i * this.intervalMs) / 60_000).toFixed(0)} | ${lat(iv, 'read')} | ${lat(iv, 'upload')} | ${(iv.latencies.get('registration') ?? []).length} | ${(iv.latencies.get('push') ?? []).length} | ${iv.fiveXxOutside} / ${iv.fiveXxInside} | ${iv.connErrors} | ${per(iv.rss)} | ${per(iv.sockets)} | ${f(iv.pgConnections.length ? Math.max(...iv.pgConnections) : NaN)} | ${f(quantile(iv.heap, 0.5))} / ${f(quantile(iv.external, 0.5))} / ${f(quantile(iv.cache, 0.5))} | ${f(quantile(iv.load, 0.5))} |`,
      );
    });
    return lines;
  }

  events(): string[] {
    return this.intervals.flatMap((iv) => iv.events);
  }
}

export function rssAndSockets(pid: number | undefined): { rssMb: number; sockets: number } | undefined {
  if (!pid) return undefined;
  try {
    const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
    const rssMb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0) / 1024;
    let sockets = 0;
    for (const fd of fs.readdirSync(`/proc/${pid}/fd`)) {
      try {
        if (fs.readlinkSync(`/proc/${pid}/fd/${fd}`).startsWith('socket:')) sockets += 1;
      } catch {
        // closed meanwhile
      }
    }
    return { rssMb, sockets };
  } catch {
    return undefined;
  }
}
