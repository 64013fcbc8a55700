// A Rekor v1 client for monitors: log info, entries by index (batched) and by UUID, index search.
// Every request waits its turn under one rate limit, so a monitor never sends a public log more
// than `requestsPerSecond`. An unreachable or failing log is an error of its own (`log_unavailable`),
// never an empty answer: a monitor must report itself stale then, not conclude that entries are missing.
import { parseLogEntries, type LogEntry } from '../core/rekorEntry.ts';

/** Entries asked for in one batch retrieval (Rekor's default limit per request). */
export const RETRIEVE_BATCH = 10;

export class RekorUnavailable extends Error {
  readonly code = 'log_unavailable' as const;
}

export interface RekorClientOptions {
  /** e.g. https://rekor.sigstore.dev (no trailing /api/v1). */
  baseUrl: string;
  requestsPerSecond: number;
  timeoutMs?: number;
}

export interface LogInfo {
  /** Entries in the whole log, every shard counted. */
  treeSize: number;
  rootHash: string;
  treeID: string | null;
}

export class RekorClient {
  private readonly base: string;
  private nextSlot = 0;
  /** Requests sent, for metrics and tests. */
  requests = 0;

  constructor(private readonly opts: RekorClientOptions) {
    if (!(opts.requestsPerSecond > 0)) throw new Error('requestsPerSecond must be positive');
    this.base = opts.baseUrl.replace(/\/+$/, '');
  }

  get baseUrl(): string {
    return this.base;
  }

  /** Waits for this request's slot: one every 1/requestsPerSecond seconds, in call order. */
  private async turn(): Promise<void> {
    const now = Date.now();
    const slot = Math.max(now, this.nextSlot);
    this.nextSlot = slot + 1000 / this.opts.requestsPerSecond;
    if (slot > now) await new Promise((r) => setTimeout(r, slot - now));
  }

  /** JSON from the log; null for a 404 (the log answered: no such thing). Anything else that fails is RekorUnavailable. */
  private async call(method: 'GET' | 'POST', path: string, body?: unknown): Promise<unknown | null> {
    await this.turn();
    this.requests += 1;
    let res: Response;
    try {
      res = await fetch(`${this.base}${path}`, {
        method,
        headers: { accept: 'application/json', ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
        ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
        signal: AbortSignal.timeout(this.opts.timeoutMs ?? 20_000),
      });
    } catch (err) {
      // undici says "fetch failed" and keeps the reason (ECONNREFUSED, ENOTFOUND, a timeout) in its cause.
      const cause = (err as { cause?: { code?: string; message?: string } }).cause;
      const reason = cause?.code ?? cause?.message ?? (err as Error).message;
      throw new RekorUnavailable(`${method} ${this.base}${path}: ${reason}`);
    }
    if (res.status === 404) {
      await res.body?.cancel();
      return null;
    }
    if (!res.ok) {
      await res.body?.cancel();
      throw new RekorUnavailable(`${method} ${this.base}${path}: HTTP ${res.status}`);
    }
    try {
      return await res.json();
    } catch {
      throw new RekorUnavailable(`${method} ${this.base}${path}: the answer is not JSON`);
    }
  }

  /**
   * The log's size in the index space entries are numbered in. A sharded Rekor reports the active
   * shard's tree size and lists the frozen shards before it (`inactiveShards`); entries carry
   * "virtual" indexes counted across all of them, so the size is their sum.
   */
  async logInfo(): Promise<LogInfo> {
    const info = (await this.call('GET', '/api/v1/log')) as {
      treeSize?: unknown;
      rootHash?: unknown;
      treeID?: unknown;
      inactiveShards?: { treeSize?: unknown }[];
    } | null;
    if (!info || !Number.isSafeInteger(info.treeSize) || typeof info.rootHash !== 'string') {
      throw new RekorUnavailable(`GET ${this.base}/api/v1/log: no tree size in the answer`);
    }
    let treeSize = info.treeSize as number;
    for (const shard of Array.isArray(info.inactiveShards) ? info.inactiveShards : []) {
      if (!Number.isSafeInteger(shard?.treeSize))
        throw new RekorUnavailable(`GET ${this.base}/api/v1/log: an inactive shard without a tree size`);
      treeSize += shard.treeSize as number;
    }
    return { treeSize, rootHash: info.rootHash, treeID: typeof info.treeID === 'string' ? info.treeID : null };
  }

  /** The entries at these indexes that the log holds (fetched RETRIEVE_BATCH at a time), by index. */
  async entriesAt(indexes: number[]): Promise<Map<number, LogEntry>> {
    const out = new Map<number, LogEntry>();
    for (let i = 0; i < indexes.length; i += RETRIEVE_BATCH) {
      const batch = indexes.slice(i, i + RETRIEVE_BATCH);
      const answer = await this.call('POST', '/api/v1/log/entries/retrieve', { logIndexes: batch });
      if (!Array.isArray(answer)) throw new RekorUnavailable(`POST ${this.base}/api/v1/log/entries/retrieve: not a list`);
      for (const item of answer) for (const e of this.entries(item)) if (batch.includes(e.logIndex)) out.set(e.logIndex, e);
    }
    return out;
  }

  async entryByUuid(uuid: string): Promise<LogEntry | null> {
    const answer = await this.call('GET', `/api/v1/log/entries/${encodeURIComponent(uuid)}`);
    return answer === null ? null : (this.entries(answer)[0] ?? null);
  }

  /** UUIDs of the entries whose certificate names this e-mail (Rekor indexes certificate subjects). */
  async searchEmail(email: string): Promise<string[]> {
    return this.search({ email });
  }

  /** UUIDs of the entries over this artifact digest. */
  async searchHash(sha256: string): Promise<string[]> {
    return this.search({ hash: `sha256:${sha256}` });
  }

  private async search(query: Record<string, string>): Promise<string[]> {
    const answer = await this.call('POST', '/api/v1/index/retrieve', query);
    if (answer === null) return [];
    if (!Array.isArray(answer) || !answer.every((u) => typeof u === 'string')) {
      throw new RekorUnavailable(`POST ${this.base}/api/v1/index/retrieve: not a list of UUIDs`);
    }
    return answer as string[];
  }

  private entries(json: unknown): LogEntry[] {
    try {
      return parseLogEntries(json);
    } catch (err) {
      throw new RekorUnavailable(`${this.base}: an entry in the answer is malformed (${(err as Error).message})`);
    }
  }
}
