// One worker of a cluster (primary.ts): the repository served on the database the supervisor
// opened, /metrics answered with every worker's metrics (asked of the supervisor), uploads covered
// by the rounds of the worker that publishes for all (or by this one's own when that one cannot),
// and a graceful stop on SIGTERM or SIGINT (the supervisor sends SIGTERM; Ctrl-C reaches every process).
import net from 'node:net';
import type { Logger } from 'pino';
import type { Config } from '../config.ts';
import type { OnlineKeyStore } from '../onlineKeys.ts';
import { serveRepository, type Served } from '../serve.ts';
import type { RecoverySources } from '../recovery/recovery.ts';
import { isMessage, WORKER_ENV, type Covering, type FromWorker, type ToWorker } from './messages.ts';

/** How long /metrics waits for the supervisor's aggregate (it waits up to 5 s for the workers). */
const METRICS_TIMEOUT_MS = 10_000;
/** How long an upload waits for the publishing worker before publishing itself (a round at a million projects takes seconds). */
const COVER_TIMEOUT_MS = 60_000;
/** How long the answer waits for this worker's cache to serve the covering versions (announced by NOTIFY) before reading them. */
const SERVED_HERE_WAIT_MS = 500;

export async function runWorker(opts: { config: Config; log: Logger; keyStore: OnlineKeyStore; recovery: RecoverySources }): Promise<void> {
  const databaseUrl = process.env[WORKER_ENV.databaseUrl];
  if (!databaseUrl || !process.send) throw new Error('a cluster worker is started by `tuf-server start` with several workers, not by hand');
  const tell = (message: FromWorker) => process.send!(message);
  const waiting = new Map<number, { resolve(text: string): void; timer: NodeJS.Timeout }>();
  let nextId = 1;
  const metricsText = () =>
    new Promise<string>((resolve, reject) => {
      const id = nextId++;
      const timer = setTimeout(() => {
        waiting.delete(id);
        reject(new Error('the supervising process did not answer with the metrics'));
      }, METRICS_TIMEOUT_MS);
      waiting.set(id, { resolve, timer });
      tell({ type: 'tuf:metrics-request', id });
    });
  let isPublisher = false;
  const covers = new Map<number, (answer: { covering?: Covering; error?: string }) => void>();
  let served: Served | null = null;
  /** A covering snapshot for `seq`: by the publishing worker's rounds, else by this worker's own. */
  const waitUntilCovered = async (seq: string, reason: string): Promise<Covering> => {
    const repo = served!.repo;
    if (isPublisher) return repo.publication.waitUntilCovered(seq, reason);
    const answer = await new Promise<{ covering?: Covering; error?: string }>((resolve) => {
      const id = nextId++;
      const timer = setTimeout(() => {
        covers.delete(id);
        resolve({ error: 'no answer from the publishing worker' });
      }, COVER_TIMEOUT_MS);
      covers.set(id, (a) => {
        clearTimeout(timer);
        resolve(a);
      });
      tell({ type: 'tuf:cover', id, seq, reason });
    });
    if (!answer.covering) return repo.publication.waitUntilCovered(seq, reason);
    // Answered once this worker serves the covering versions too: their NOTIFY normally came first.
    const deadline = Date.now() + SERVED_HERE_WAIT_MS;
    while (answer.covering.some((c) => (repo.cache.head(c.role)?.version ?? 0) < c.version) && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 1));
    }
    await repo.cache.applyPublished(answer.covering);
    return answer.covering;
  };
  served = await serveRepository({
    config: opts.config,
    log: opts.log,
    keyStore: opts.keyStore,
    databaseUrl,
    first: process.env[WORKER_ENV.first] === '1',
    recovery: opts.recovery,
    metricsText,
    waitUntilCovered,
    listen: false,
  });
  const repo = served.repo;
  const server = served.server;
  process.on('message', (message: unknown, handle: unknown) => {
    if (!isMessage<ToWorker>(message)) return;
    if (message.type === 'tuf:connection') {
      // A connection the supervisor accepted: served here from now on.
      if (!(handle instanceof net.Socket)) return;
      server.emit('connection', handle);
      handle.resume();
      tell({ type: 'tuf:connection-taken', id: message.id });
    } else if (message.type === 'tuf:collect') {
      void repo.metrics.registry.getMetricsAsJSON().then((metrics) => tell({ type: 'tuf:metrics', id: message.id, metrics }));
    } else if (message.type === 'tuf:publisher') {
      isPublisher = message.publisher;
    } else if (message.type === 'tuf:cover') {
      // Another worker's upload: one more waiter in this worker's publication rounds.
      repo.publication.waitUntilCovered(message.seq, message.reason).then(
        (covering) => tell({ type: 'tuf:covered', id: message.id, covering: covering.map(({ role, version }) => ({ role, version })) }),
        (err: Error) => tell({ type: 'tuf:covered', id: message.id, error: String(err.message) }),
      );
    } else if (message.type === 'tuf:covered') {
      const resolve = covers.get(message.id);
      covers.delete(message.id);
      resolve?.(message);
    } else if (message.type === 'tuf:metrics-text') {
      const w = waiting.get(message.id);
      if (!w) return;
      waiting.delete(message.id);
      clearTimeout(w.timer);
      w.resolve(message.text);
    }
  });
  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    opts.log.info({ signal }, 'worker shutting down');
    await served!.close();
    process.exit(0);
  };
  process.on('SIGINT', () => void shutdown('SIGINT'));
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
  tell({ type: 'tuf:ready' });
}
