// How far the copy to the bucket is behind, for /readyz, /metrics and `tuf-server publish-to status`.
// Read from PostgreSQL, so every server process reports the same, whichever copies.
import client from 'prom-client';
import type { Db } from '../db/knex.ts';
import { getMirror, outboxStats } from '../db/mirrorRepo.ts';

export interface PublishStatus {
  url: string;
  /** The first copy of the repository is done (publications are then copied as they come). */
  synced: boolean;
  /** Seconds since the oldest publication not copied yet committed (0 when none waits). */
  lagSeconds: number;
  /** Publications not copied yet. */
  waiting: number;
  /** The newest timestamp.json in the bucket. */
  timestampVersion: number;
  objectsWritten: number;
  copiedBy: string | null;
  leaseUntil: string | null;
  lastSuccessAt: string | null;
  lastError: string | null;
  lastErrorAt: string | null;
}

export async function publishStatus(db: Db): Promise<PublishStatus | null> {
  const row = await getMirror(db);
  if (!row) return null;
  const stats = await outboxStats(db);
  const leaseLive = row.lease_until !== null && row.lease_until.getTime() > Date.now();
  return {
    url: row.url,
    synced: row.synced,
    lagSeconds: Math.round(stats.lagSeconds * 1000) / 1000,
    waiting: stats.rows,
    timestampVersion: row.timestamp_version,
    objectsWritten: Number(row.objects_written),
    copiedBy: leaseLive ? row.lease_holder : null,
    leaseUntil: leaseLive ? row.lease_until!.toISOString() : null,
    lastSuccessAt: row.last_success_at?.toISOString() ?? null,
    lastError: row.last_error,
    lastErrorAt: row.last_error_at?.toISOString() ?? null,
  };
}

/** One line for /readyz and the log: behind or not, and why. */
export function describePublishStatus(s: PublishStatus): string {
  const state = s.synced ? `${s.lagSeconds.toFixed(1)} s behind, ${s.waiting} publication(s) waiting` : `first copy in progress`;
  return `copy to ${s.url}: ${state}${s.lastError ? `; last error: ${s.lastError}` : ''}${s.copiedBy ? '' : '; no server process is copying'}`;
}

export interface PublishMetrics {
  objectsWritten: client.Counter;
  errors: client.Counter;
  batchSeconds: client.Histogram;
}

/** The copy's metrics: lag and waiting rows read from the database at each scrape; counters of this process. */
export function registerPublishMetrics(registry: client.Registry, db: Db): PublishMetrics {
  let last: Promise<PublishStatus | null> | null = null;
  // Both gauges are collected in one scrape: one query for the two.
  const read = () => {
    last ??= publishStatus(db)
      .catch(() => null)
      .finally(() => setTimeout(() => (last = null), 100).unref());
    return last;
  };
  new client.Gauge({
    name: 'tuf_publish_lag_seconds',
    help: 'Seconds since the oldest publication not yet copied to the PUBLISH_TO bucket committed (0 when the bucket is current)',
    registers: [registry],
    async collect() {
      const s = await read();
      if (s) this.set(s.lagSeconds);
    },
  });
  new client.Gauge({
    name: 'tuf_publish_waiting_publications',
    help: 'Publications recorded in the outbox and not yet copied to the PUBLISH_TO bucket',
    registers: [registry],
    async collect() {
      const s = await read();
      if (s) this.set(s.waiting);
    },
  });
  return {
    objectsWritten: new client.Counter({
      name: 'tuf_publish_objects_written_total',
      help: 'Objects this process wrote to the PUBLISH_TO bucket',
      registers: [registry],
    }),
    errors: new client.Counter({
      name: 'tuf_publish_errors_total',
      help: 'Failed attempts of this process to copy publications to the PUBLISH_TO bucket (each is tried again)',
      registers: [registry],
    }),
    batchSeconds: new client.Histogram({
      name: 'tuf_publish_batch_seconds',
      help: 'Time to copy one batch of publications (or a step of the first copy) to the PUBLISH_TO bucket',
      buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 120],
      registers: [registry],
    }),
  };
}
