import client from 'prom-client';
import type { Clock } from '../core/clock.ts';
import { TOP_LEVEL_ROLES } from '../core/names.ts';
import type { MetadataCache } from './serving/metadataCache.ts';
import { RequestStats } from './requestStats.ts';

export interface Metrics {
  registry: client.Registry;
  /** The exposition /metrics answers: this registry's, or in a cluster worker every worker's, aggregated. */
  text(): Promise<string>;
  /** http_requests_total and http_request_duration_seconds, recorded without allocation. */
  requests: RequestStats;
  uploads: client.Counter<'kind' | 'result' | 'reason'>;
  /** Uploads committed in one statement, or decided again from the database and why (projects/fastCommit.ts). */
  uploadPaths: client.Counter<'path' | 'reason'>;
  snapshotBuild: client.Histogram;
  snapshotBytes: client.Gauge;
  snapshotEntries: client.Gauge;
  snapshotTree: client.Histogram;
  snapshotStoredBytes: client.Histogram;
}

/** One registry per app (no global default registry), so several apps can live in one process. */
export function createMetrics(cache: MetadataCache, clock: Clock): Metrics {
  const registry = new client.Registry();
  client.collectDefaultMetrics({ register: registry });
  const requests = new RequestStats();
  requests.registerWith(registry);
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
    // Several workers: the newest any of them serves.
    aggregator: 'max',
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
    // Several workers: the one closest to expiry (a worker that lags is what to alert on).
    aggregator: 'min',
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
    help: 'Size of the last snapshot this process signed (several workers: the largest)',
    registers: [registry],
    aggregator: 'max',
  });
  const snapshotEntries = new client.Gauge({
    name: 'tuf_snapshot_entries',
    help: 'Roles listed by the last snapshot this process signed (several workers: the most)',
    registers: [registry],
    aggregator: 'max',
  });
  const snapshotTree = new client.Histogram({
    name: 'tuf_snapshot_tree_seconds',
    help: 'Time to update (or, after a start, build) the TAP 16 Merkle tree of one snapshot: part of tuf_snapshot_build_seconds',
    buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05, 0.25, 1, 5, 20],
    registers: [registry],
  });
  const snapshotStoredBytes = new client.Histogram({
    name: 'tuf_snapshot_stored_bytes',
    help: 'Bytes stored in PostgreSQL per snapshot version: its delta, or the whole file (first version, after a start)',
    buckets: [256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864],
    registers: [registry],
  });
  // Memory the server holds on purpose: without it, the soak's RSS growth could not be told from a leak.
  new client.Gauge({
    name: 'tuf_metadata_cache_bytes',
    help: 'Bytes of versioned metadata files this process keeps in memory (at most METADATA_CACHE_BYTES)',
    registers: [registry],
    collect() {
      this.set(cache.cachedBytes);
    },
  });
  return {
    registry,
    text: () => registry.metrics(),
    requests,
    uploads,
    uploadPaths,
    snapshotBuild,
    snapshotBytes,
    snapshotEntries,
    snapshotTree,
    snapshotStoredBytes,
  };
}
