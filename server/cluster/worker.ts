// One worker of a cluster (primary.ts): the repository served on the database the supervisor
// opened, /metrics answered with every worker's metrics (asked of the supervisor), and a graceful
// stop on SIGTERM or SIGINT (the supervisor sends SIGTERM; Ctrl-C reaches every process).
import type { Logger } from 'pino';
import type { Config } from '../config.ts';
import type { OnlineKeyStore } from '../onlineKeys.ts';
import { serveRepository } from '../serve.ts';
import { isMessage, WORKER_ENV, type FromWorker, type ToWorker } from './messages.ts';

/** How long /metrics waits for the supervisor's aggregate. */
const METRICS_TIMEOUT_MS = 5_000;

export async function runWorker(opts: { config: Config; log: Logger; keyStore: OnlineKeyStore }): Promise<void> {
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
  const served = await serveRepository({
    config: opts.config,
    log: opts.log,
    keyStore: opts.keyStore,
    databaseUrl,
    first: process.env[WORKER_ENV.first] === '1',
    metricsText,
  });
  process.on('message', (message: unknown) => {
    if (!isMessage<ToWorker>(message)) return;
    if (message.type === 'tuf:collect') {
      void served.repo.metrics.registry.getMetricsAsJSON().then((metrics) => tell({ type: 'tuf:metrics', id: message.id, metrics }));
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
    await served.close();
    process.exit(0);
  };
  process.on('SIGINT', () => void shutdown('SIGINT'));
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
  tell({ type: 'tuf:ready' });
}
