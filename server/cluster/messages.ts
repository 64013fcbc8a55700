// What a cluster's supervising process and its workers tell each other over node's IPC channel.
import type { MetricObjectWithValues, MetricValue } from 'prom-client';

export type MetricsJson = MetricObjectWithValues<MetricValue<string>>[];

/** Roles and versions that carry an upload (the covering snapshot and timestamp). */
export type Covering = { role: string; version: number }[];

/** Worker to supervisor. */
export type FromWorker =
  /** A connection handed over is this worker's now: the supervisor closes its own copy. */
  | { type: 'tuf:connection-taken'; id: number }
  /** Listening: the supervisor starts the next workers once the first one is. */
  | { type: 'tuf:ready' }
  /** /metrics was asked of this worker: the supervisor answers with every worker's, aggregated. */
  | { type: 'tuf:metrics-request'; id: number }
  /** This worker's own metrics, for a collection the supervisor asked for. */
  | { type: 'tuf:metrics'; id: number; metrics: MetricsJson }
  /** An upload of this worker waits for a snapshot covering change `seq`: for the publishing worker. */
  | { type: 'tuf:cover'; id: number; seq: string; reason: string }
  /** The publishing worker's answer to a relayed `tuf:cover` (`error`: it could not; the asker publishes itself). */
  | { type: 'tuf:covered'; id: number; covering?: Covering; error?: string };

/** Supervisor to worker. */
export type ToWorker =
  /** With a socket: a connection to serve (answer `tuf:connection-taken` with the id). */
  | { type: 'tuf:connection'; id: number }
  | { type: 'tuf:collect'; id: number }
  | { type: 'tuf:metrics-text'; id: number; text: string }
  /** Whether this worker is the one that publishes for all (the lowest-numbered one serving). */
  | { type: 'tuf:publisher'; publisher: boolean }
  /** To the publishing worker: cover `seq` (relayed; answer with `tuf:covered` and the same id). */
  | { type: 'tuf:cover'; id: number; seq: string; reason: string }
  /** To the asking worker: the answer to its `tuf:cover`. */
  | { type: 'tuf:covered'; id: number; covering?: Covering; error?: string };

export function isMessage<T extends { type: string }>(value: unknown): value is T {
  return typeof value === 'object' && value !== null && typeof (value as { type?: unknown }).type === 'string';
}

/** Environment a worker is started with (besides the supervisor's own). */
export const WORKER_ENV = {
  /** The database the supervisor opened (an embedded PostgreSQL it started, or DATABASE_URL). */
  databaseUrl: 'TUF_WORKER_DATABASE_URL',
  /** "1" for the first worker: it bootstraps a development repository and creates the admin token. */
  first: 'TUF_WORKER_FIRST',
  /** The worker's number, 1 to N, for its log lines. */
  index: 'TUF_WORKER_INDEX',
} as const;
