// The supervising process of `tuf-server start` with several workers (WEB_CONCURRENCY, --workers),
// forked with node's cluster module. It holds the port, accepts connections and hands each to the
// next worker (connections.ts); it serves nothing itself. It opens the database (an embedded PostgreSQL lives
// and dies with it), applies migrations once, starts the first worker alone (it bootstraps a
// development repository and creates the admin token), then the others; it restarts a worker that
// dies, answers /metrics requests with every worker's metrics aggregated, and on SIGTERM or SIGINT
// stops the workers (each finishes what it serves) before the database.
//
// Publication rounds are what an upload waits for, and they are serialized by the publishing lock
// across every process. Each worker running its own rounds meant smaller batches and more
// snapshots for the same uploads: the lowest-numbered worker serving therefore publishes for all.
// The others relay "cover change N" through the supervisor and wait for its answer; when there is
// no such worker, or it dies or fails, they publish themselves (correct either way: a round only
// answers once a committed snapshot covers the change).
//
// Everything that must hold across processes already did across servers: one publishing lock, one
// signer per snapshot and timestamp version, LISTEN/NOTIFY between caches (db/locks.ts). A worker is
// one more such process; each runs its own re-sign checks and listener, and its own publication
// rounds whenever the worker publishing for all cannot cover its change.
import cluster, { type Worker } from 'node:cluster';
import { AggregatorRegistry, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import type { Logger } from 'pino';
import { ConnectionDispatcher } from './connections.ts';
import { isMessage, WORKER_ENV, type FromWorker, type MetricsJson, type ToWorker } from './messages.ts';

export interface PrimaryOptions {
  workers: number;
  host: string;
  port: number;
  databaseUrl: string;
  log: Logger;
  /** Once every worker listens (the development banner). */
  onServing?: () => void;
  /** After the workers stopped (the embedded PostgreSQL). */
  onStopped: () => Promise<void>;
}

/** A worker that dies this soon after starting is restarted later and later (a crash loop is not a storm). */
const QUICK_DEATH_MS = 10_000;
const MAX_RESTART_DELAY_MS = 10_000;
/** How long a metrics collection waits for every worker's answer (a busy worker answers late). */
const COLLECT_TIMEOUT_MS = 5_000;
/** How long the workers get to finish on shutdown before they are killed. */
const STOP_TIMEOUT_MS = 15_000;

export async function runPrimary(opts: PrimaryOptions): Promise<void> {
  const { log } = opts;
  const slots = new Map<number, { worker: Worker; startedAt: number; ready: boolean; restarts: number }>();
  let stopping = false;
  let serving = false;
  // Ready workers in a stable order, for the connections handed out in turn.
  const connections = new ConnectionDispatcher(
    () =>
      [...slots.entries()]
        .sort(([a], [b]) => a - b)
        .filter(([, s]) => s.ready && s.worker.isConnected())
        .map(([, s]) => s.worker),
    log,
  );

  const own = new Registry();
  collectDefaultMetrics({ register: own });
  /** Serving workers whose metrics did not arrive for the collection being answered. */
  let missing = 0;
  new Gauge({
    name: 'tuf_metrics_workers_missing',
    help: 'Serving workers whose metrics did not arrive in time for this answer (its sums lack theirs)',
    registers: [own],
    aggregator: 'sum',
    collect() {
      this.set(missing);
    },
  });
  new Gauge({
    name: 'tuf_server_processes',
    help: 'Server worker processes serving requests (not the supervising process)',
    registers: [own],
    aggregator: 'sum',
    collect() {
      this.set([...slots.values()].filter((s) => s.ready).length);
    },
  });

  function fork(index: number, restarts = 0): Promise<void> {
    const worker = cluster.fork({
      [WORKER_ENV.databaseUrl]: opts.databaseUrl,
      [WORKER_ENV.first]: index === 1 && !serving ? '1' : '',
      [WORKER_ENV.index]: String(index),
    });
    const slot = { worker, startedAt: Date.now(), ready: false, restarts };
    slots.set(index, slot);
    return new Promise((resolve, reject) => {
      worker.on('message', (message: unknown) => {
        if (!isMessage<FromWorker>(message)) return;
        if (message.type === 'tuf:ready') {
          slot.ready = true;
          electPublisher();
          resolve();
        } else if (message.type === 'tuf:connection-taken') {
          connections.taken(message.id);
        } else if (message.type === 'tuf:metrics-request') {
          void aggregate().then((text) => send(worker, { type: 'tuf:metrics-text', id: message.id, text }));
        } else if (message.type === 'tuf:metrics') {
          collections.get(message.id)?.(worker.id, message.metrics);
        } else if (message.type === 'tuf:cover') {
          relayCover(worker, message.id, message.seq, message.reason);
        } else if (message.type === 'tuf:covered') {
          const asker = relays.get(message.id);
          if (!asker) return;
          relays.delete(message.id);
          send(asker.worker, { ...message, id: asker.id });
        }
      });
      worker.on('exit', (code, signal) => {
        if (slots.get(index)?.worker === worker) slots.delete(index);
        connections.workerGone(worker);
        // Whatever it was asked to cover is asked of no one now: the askers publish themselves.
        for (const [relayId, r] of relays) {
          if (r.publisher !== worker) continue;
          relays.delete(relayId);
          send(r.worker, { type: 'tuf:covered', id: r.id, error: 'the publishing worker stopped' });
        }
        electPublisher();
        if (!slot.ready) reject(new Error(`worker ${index} exited while starting (${signal ?? `exit code ${code}`}); see its log above`));
        // While the cluster starts, a worker that cannot start stops it all (fork's promise says so).
        if (stopping || (!slot.ready && !serving)) return;
        if (slot.ready && code === 0 && signal === null) {
          log.warn({ worker: index }, 'a worker stopped by itself; not restarted');
          return;
        }
        // A crash: the others keep serving; a replacement starts after a pause that grows if it keeps dying.
        const quick = !slot.ready || Date.now() - slot.startedAt < QUICK_DEATH_MS;
        const delay = quick ? Math.min(MAX_RESTART_DELAY_MS, 200 * 2 ** restarts) : 200;
        log.error({ worker: index, pid: worker.process.pid, code, signal, restartInMs: delay }, 'worker died; restarting it');
        setTimeout(() => {
          if (stopping) return;
          // A replacement that dies while starting is restarted again by its own exit handler.
          fork(index, quick ? restarts + 1 : 0).catch(() => {});
        }, delay).unref();
      });
    });
  }

  /** The worker that publishes for all: the lowest-numbered one serving. */
  let publisher: Worker | null = null;
  function electPublisher(): void {
    const ready = [...slots.entries()].filter(([, s]) => s.ready && !s.worker.isDead()).sort(([a], [b]) => a - b);
    const next = ready[0]?.[1].worker ?? null;
    if (next === publisher) return;
    publisher = next;
    for (const [, s] of ready) send(s.worker, { type: 'tuf:publisher', publisher: s.worker === next });
  }
  /** Relayed cover requests: relay id -> who asked (and its id), and whom it was relayed to. */
  const relays = new Map<number, { worker: Worker; id: number; publisher: Worker }>();
  let nextRelay = 1;
  function relayCover(asker: Worker, id: number, seq: string, reason: string): void {
    if (!publisher || publisher === asker || !publisher.isConnected()) {
      send(asker, { type: 'tuf:covered', id, error: 'no publishing worker' });
      return;
    }
    const relayId = nextRelay++;
    relays.set(relayId, { worker: asker, id, publisher });
    send(publisher, { type: 'tuf:cover', id: relayId, seq, reason });
  }

  const collections = new Map<number, (workerId: number, metrics: MetricsJson) => void>();
  let nextCollection = 1;
  /** Every ready worker's metrics and the supervisor's own, aggregated (counters summed, gauges as each says). */
  async function aggregate(): Promise<string> {
    const id = nextCollection++;
    const workers = [...slots.values()].filter((s) => s.ready).map((s) => s.worker);
    const answers = new Map<number, MetricsJson>();
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, COLLECT_TIMEOUT_MS);
      collections.set(id, (workerId, metrics) => {
        answers.set(workerId, metrics);
        if (answers.size >= workers.length) {
          clearTimeout(timer);
          resolve();
        }
      });
      for (const w of workers) send(w, { type: 'tuf:collect', id });
      if (workers.length === 0) resolve();
    });
    collections.delete(id);
    missing = workers.length - answers.size;
    return AggregatorRegistry.aggregate([...answers.values(), await own.getMetricsAsJSON()]).metrics();
  }

  async function stop(signal: string, exitCode: number): Promise<void> {
    if (stopping) return;
    stopping = true;
    log.info({ signal, workers: slots.size }, 'shutting down the workers');
    connections.close();
    const exits = [...slots.values()].map(({ worker }) =>
      worker.isDead() ? Promise.resolve() : new Promise<void>((r) => worker.once('exit', () => r())),
    );
    for (const { worker } of slots.values()) if (!worker.isDead()) worker.process.kill('SIGTERM');
    const killer = setTimeout(() => {
      for (const { worker } of slots.values()) if (!worker.isDead()) worker.process.kill('SIGKILL');
    }, STOP_TIMEOUT_MS);
    await Promise.all(exits);
    clearTimeout(killer);
    await opts.onStopped();
    process.exit(exitCode);
  }
  process.on('SIGINT', () => void stop('SIGINT', 0));
  process.on('SIGTERM', () => void stop('SIGTERM', 0));

  try {
    // The first alone: it may bootstrap (development), and the others must find that done. The
    // port is taken once it serves: a client never waits for a worker that is still starting.
    await fork(1);
    await connections.listen(opts.host, opts.port);
    await Promise.all(Array.from({ length: opts.workers - 1 }, (_, i) => fork(i + 2)));
  } catch (err) {
    log.error({ err: String(err) }, 'the server could not start its workers');
    await stop('startup failure', 1);
    return;
  }
  serving = true;
  log.info({ workers: opts.workers }, 'every worker serves');
  opts.onServing?.();
}

function send(worker: Worker, message: ToWorker): void {
  if (worker.isConnected()) worker.send(message, (err: Error | null) => void err);
}
