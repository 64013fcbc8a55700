import client from 'prom-client';
import type { Clock } from '../core/clock.ts';
import { TOP_LEVEL_ROLES } from '../core/names.ts';
import type { MetadataCache } from './serving/metadataCache.ts';

export interface Metrics {
  registry: client.Registry;
  httpRequests: client.Counter<'method' | 'route' | 'status'>;
  httpDuration: client.Histogram<'method' | 'route'>;
  uploads: client.Counter<'kind' | 'result' | 'reason'>;
  /** Uploads committed in one statement, or decided again from the database and why (projects/fastCommit.ts). */
  uploadPaths: client.Counter<'path' | 'reason'>;
  snapshotBuild: client.Histogram;
  snapshotBytes: client.Gauge;
  snapshotEntries: client.Gauge;
}

/** One registry per app (no global default registry), so several apps can live in one process. */
export function createMetrics(cache: MetadataCache, clock: Clock): Metrics {
  const registry = new client.Registry();
  client.collectDefaultMetrics({ register: registry });
  const httpRequests = new client.Counter({
    name: 'http_requests_total',
    help: 'HTTP requests by route and status',
    labelNames: ['method', 'route', 'status'] as const,
    registers: [registry],
  });
  const httpDuration = new client.Histogram({
    name: 'http_request_duration_seconds',
    help: 'HTTP request latency by route',
    labelNames: ['method', 'route'] as const,
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 5],
    registers: [registry],
  });
  const uploads = new client.Counter({
    name: 'tuf_uploads_total',
    help: 'Metadata and file uploads, accepted or refused (reason = error code)',
    labelNames: ['kind', 'result', 'reason'] as const,
    registers: [registry],
  });
  const uploadPaths = new client.Counter({
    name: 'tuf_upload_paths_total',
    help: 'Uploads committed in one statement (path="one_statement"), or decided again from the database (path="full") and why: memory behind the database, a refusal, a threshold not met, files missing',
    labelNames: ['path', 'reason'] as const,
    registers: [registry],
  });
  new client.Gauge({
    name: 'tuf_role_version',
    help: 'Current version of each top-level role',
    labelNames: ['role'] as const,
    registers: [registry],
    collect() {
      this.reset();
      for (const role of TOP_LEVEL_ROLES) {
        const head = cache.head(role);
        if (head) this.set({ role }, head.version);
      }
    },
  });
  new client.Gauge({
    name: 'tuf_role_expires_in_seconds',
    help: 'Seconds until the current version of each top-level role expires (negative once expired)',
    labelNames: ['role'] as const,
    registers: [registry],
    collect() {
      this.reset();
      const now = clock.now().getTime();
      for (const role of TOP_LEVEL_ROLES) {
        const head = cache.head(role);
        if (head) this.set({ role }, Math.round((head.expires.getTime() - now) / 1000));
      }
    },
  });
  const snapshotBuild = new client.Histogram({
    name: 'tuf_snapshot_build_seconds',
    help: 'Time to build, sign and store one snapshot (and so the delay it adds to a publication)',
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [registry],
  });
  const snapshotBytes = new client.Gauge({
    name: 'tuf_snapshot_bytes',
    help: 'Size of the last snapshot this process signed',
    registers: [registry],
  });
  const snapshotEntries = new client.Gauge({
    name: 'tuf_snapshot_entries',
    help: 'Roles listed by the last snapshot this process signed',
    registers: [registry],
  });
  return { registry, httpRequests, httpDuration, uploads, uploadPaths, snapshotBuild, snapshotBytes, snapshotEntries };
}
