// The transparency monitor: reads a Rekor log for entries whose certificates name an identity
// delegated any project, and compares them with the signatures the repository received.
//
// - An authentic entry (the log's promise verifies, the certificate chains to the trusted Fulcio)
//   by a delegated identity over a digest the repository never received is flagged once it is
//   older than the grace period (a maintainer signs first, then uploads): `unknown_signature`.
// - Each published identity signature's own log entry is read back: missing, or a different body
//   or signer, is flagged: `publication_not_in_log`.
// A flag is a row in monitor_findings, an audit entry, a metric and a log line. When the log cannot
// be read the poll fails, the status turns stale, and nothing is concluded: absence is only ever
// read from a log that answered. One process polls at a time (a lease in monitor_state).
import type { Knex } from 'knex';
import type { Logger } from 'pino';
import type client from 'prom-client';
import { sha256Hex } from '../../core/canonical.ts';
import type { Clock } from '../../core/clock.ts';
import { certificateIdentity, LogEntryVerifier, readHashedRekord, type LogEntry } from '../../core/rekorEntry.ts';
import { RekorClient, RekorUnavailable } from '../../transparency/rekorClient.ts';
import { appendAudit } from '../db/auditRepo.ts';
import * as repo from '../db/monitorRepo.ts';
import type { MonitorSignatureRow } from '../db/rows.ts';
import type { DelegationIndex } from '../serving/delegationIndex.ts';
import { delegatedIdentities, identityKeyOf, type WatchedIdentity } from './delegatedIdentities.ts';
import type { MonitorConfig } from './monitorConfig.ts';
import { monitorMetrics, type MonitorMetrics } from './monitorMetrics.ts';
import { indexRepositorySignatures } from './signatureIndex.ts';
import type { MonitorFindingJson, MonitorIdentityJson, MonitorStatusJson } from '../../core/monitorApi.ts';
import { findingView, statusView } from './views.ts';

export interface MonitorDeps {
  knex: Knex;
  delegations: DelegationIndex;
  clock: Clock;
  log: Logger;
  /** The Sigstore trusted root the repository verifies signatures with. */
  trustedRoot: unknown;
  config: MonitorConfig;
  rekorUrl: string;
  registry: client.Registry;
  /** Names this process in the lease. */
  holder: string;
}

export interface PollResult {
  outcome: 'ok' | 'failed' | 'skipped';
  entriesRead: number;
  flagged: number;
  error?: string;
}

/** Entries read per step before the position is saved. */
const STEP = 100;
/** Published signatures checked against the log per poll. */
const PUBLISHED_PER_POLL = 500;
/** Entries found by e-mail search fetched per poll. */
const SEARCHED_PER_POLL = 500;

export class TransparencyMonitor {
  readonly rekor: RekorClient;
  private readonly verifier: LogEntryVerifier;
  private readonly metrics: MonitorMetrics;
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<PollResult> | null = null;
  private stopped = false;

  constructor(private readonly deps: MonitorDeps) {
    this.rekor = new RekorClient({ baseUrl: deps.rekorUrl, requestsPerSecond: deps.config.requestsPerSecond });
    this.verifier = new LogEntryVerifier(deps.trustedRoot);
    this.metrics = monitorMetrics(deps.registry);
  }

  get logUrl(): string {
    return this.rekor.baseUrl;
  }

  /** Polls every interval (sooner when an entry's grace period ends first), until stop(). */
  start(): void {
    const schedule = (ms: number) => {
      if (this.stopped) return;
      this.timer = setTimeout(() => {
        void this.pollOnce().then(async () => schedule(await this.nextDelayMs()));
      }, ms);
      this.timer.unref();
    };
    // Not at once: in development the log is served by this very server, which is not listening yet.
    schedule(Math.min(this.deps.config.intervalSeconds * 1000, 5000));
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    await this.running;
    await repo.releaseMonitorLease(this.deps.knex, this.logUrl, this.deps.holder).catch(() => {});
  }

  private async nextDelayMs(): Promise<number> {
    const interval = this.deps.config.intervalSeconds * 1000;
    const due = await repo.listCandidates(this.deps.knex, this.logUrl).catch(() => []);
    const now = this.deps.clock.now().getTime();
    const soonest = Math.min(...due.map((c) => c.integrated_at.getTime() + this.deps.config.graceSeconds * 1000 - now + 50));
    return Math.max(50, Math.min(interval, soonest));
  }

  /** One poll; concurrent callers share the one running. */
  pollOnce(): Promise<PollResult> {
    if (!this.running) {
      this.running = this.poll()
        .catch((err): PollResult => {
          this.deps.log.error({ err: String(err) }, 'monitor poll failed');
          return { outcome: 'failed', entriesRead: 0, flagged: 0, error: String(err) };
        })
        .finally(() => {
          this.running = null;
        });
    }
    return this.running;
  }

  private async poll(): Promise<PollResult> {
    const { knex, clock, config } = this.deps;
    const now = clock.now();
    const leaseMs = Math.max(60_000, config.intervalSeconds * 3000);
    if (!(await repo.takeMonitorLease(knex, this.logUrl, this.deps.holder, now, new Date(now.getTime() + leaseMs)))) {
      this.metrics.polls.inc({ outcome: 'skipped' });
      return { outcome: 'skipped', entriesRead: 0, flagged: 0 };
    }
    await repo.updateMonitorState(knex, this.logUrl, { last_poll_at: now });
    await indexRepositorySignatures(knex);
    const watched = await delegatedIdentities(this.deps.delegations);
    let entriesRead = 0;
    let flagged = 0;
    let error: string | undefined;
    try {
      const info = await this.rekor.logInfo();
      entriesRead = await this.readLog(info.treeSize, watched);
      if (config.searchByEmail) await this.searchEmails(watched);
      flagged += await this.checkPublished(info.treeSize);
      await repo.updateMonitorState(knex, this.logUrl, {
        tree_size: String(info.treeSize),
        last_success_at: clock.now(),
        last_error: null,
      });
      this.metrics.lastSuccess.set(clock.now().getTime() / 1000);
    } catch (err) {
      if (!(err instanceof RekorUnavailable)) throw err;
      error = err.message;
      await repo.updateMonitorState(knex, this.logUrl, { last_error: err.message, last_error_at: clock.now() });
      this.deps.log.warn({ err: err.message }, 'transparency log unreachable: the monitor is stale until it answers');
    }
    // Entries already read and authenticated are decided whether or not the log answered this time.
    flagged += await this.decideCandidates(watched);
    this.metrics.polls.inc({ outcome: error ? 'failed' : 'ok' });
    return { outcome: error ? 'failed' : 'ok', entriesRead, flagged, ...(error ? { error } : {}) };
  }

  /** Reads entries from the saved position toward the tree size, saving the position after each step. */
  private async readLog(treeSize: number, watched: Map<string, WatchedIdentity>): Promise<number> {
    const { knex, config } = this.deps;
    const state = await repo.getMonitorState(knex, this.logUrl);
    let next = state?.next_log_index !== null && state?.next_log_index !== undefined ? Number(state.next_log_index) : null;
    if (next === null) {
      next = config.start === 'beginning' ? 0 : config.start === 'now' ? treeSize : config.start;
      await repo.updateMonitorState(knex, this.logUrl, { next_log_index: String(next) });
    }
    if (treeSize < next) {
      throw new RekorUnavailable(`the log reports ${treeSize} entries, fewer than the ${next} already read: a different or reset log`);
    }
    const end = Math.min(treeSize, next + config.maxEntriesPerPoll);
    this.metrics.lag.set(treeSize - next);
    let read = 0;
    for (let from = next; from < end; from += STEP) {
      const indexes = Array.from({ length: Math.min(STEP, end - from) }, (_, i) => from + i);
      const entries = await this.rekor.entriesAt(indexes);
      const missing = indexes.filter((i) => !entries.has(i));
      // Below the tree size every index holds an entry: a gap is the log failing, never "nothing there".
      if (missing.length > 0) throw new RekorUnavailable(`the log returned no entry at index ${missing[0]} (tree size ${treeSize})`);
      for (const i of indexes) await this.examine(entries.get(i)!, watched);
      await repo.addEntriesRead(knex, this.logUrl, from + indexes.length, indexes.length);
      read += indexes.length;
      this.metrics.entries.inc(indexes.length);
      this.metrics.lag.set(treeSize - from - indexes.length);
    }
    return read;
  }

  /** E-mail identities' entries through the log's index: their history before the monitor's start too. */
  private async searchEmails(watched: Map<string, WatchedIdentity>): Promise<void> {
    let budget = SEARCHED_PER_POLL;
    for (const w of watched.values()) {
      if (!/^[^\s@/]+@[^\s@/]+$/.test(w.identity) || budget <= 0) continue;
      const uuids = await this.rekor.searchEmail(w.identity);
      const seen = await repo.examinedAmong(this.deps.knex, this.logUrl, uuids);
      for (const uuid of uuids.filter((u) => !seen.has(u)).slice(0, budget)) {
        budget -= 1;
        const entry = await this.rekor.entryByUuid(uuid);
        if (entry) await this.examine(entry, watched);
        await repo.markExamined(this.deps.knex, this.logUrl, [uuid]); // also when it names no one watched
      }
    }
  }

  /** An entry by a watched identity over a digest the repository has not received becomes a candidate. */
  private async examine(entry: LogEntry, watched: Map<string, WatchedIdentity>): Promise<void> {
    const claim = readHashedRekord(entry.body);
    if (!claim) return; // DSSE, in-toto, keys without certificates: not a TUF metadata signature
    const named = certificateIdentity(claim.certificate);
    if (!named || !watched.has(identityKeyOf(named.identity, named.issuer))) return;
    // Read once: the e-mail search finds this entry again and skips it.
    await repo.markExamined(this.deps.knex, this.logUrl, [entry.uuid]);
    const verdict = this.verifier.verify(entry, claim);
    if (!verdict.ok) {
      // Anyone can log a certificate naming anyone; only what the trusted Sigstore vouches for counts.
      this.metrics.unauthentic.inc();
      this.deps.log.info(
        { logIndex: entry.logIndex, reason: verdict.reason },
        'log entry naming a delegated identity is not authentic: ignored',
      );
      return;
    }
    if (await repo.receivedDigest(this.deps.knex, claim.digest, verdict.identity, verdict.issuer)) return;
    await repo.addCandidate(this.deps.knex, {
      log_url: this.logUrl,
      uuid: entry.uuid,
      log_index: entry.logIndex,
      identity: verdict.identity,
      issuer: verdict.issuer,
      digest: claim.digest,
      integrated_at: new Date(entry.integratedTime * 1000),
    });
  }

  /** Candidates past their grace period: received since (fine), or flagged. */
  private async decideCandidates(watched: Map<string, WatchedIdentity>): Promise<number> {
    const { knex, clock, config } = this.deps;
    const candidates = await repo.listCandidates(knex, this.logUrl);
    const now = clock.now().getTime();
    const due = candidates.filter((c) => c.integrated_at.getTime() + config.graceSeconds * 1000 <= now);
    if (due.length === 0) return 0;
    await indexRepositorySignatures(knex); // what arrived during this poll counts as received
    let flagged = 0;
    for (const c of due) {
      if (!(await repo.receivedDigest(knex, c.digest, c.identity, c.issuer))) {
        const projects = watched.get(identityKeyOf(c.identity, c.issuer))?.projects ?? [];
        const created = await this.flag({
          dedupe_key: `unknown_signature:${this.logUrl}:${c.uuid}`,
          kind: 'unknown_signature',
          log_url: this.logUrl,
          identity: c.identity,
          issuer: c.issuer,
          projects,
          log_index: String(c.log_index),
          uuid: c.uuid,
          digest: c.digest,
          version: null,
          detail: `log entry ${c.log_index} is a signature by ${c.identity} (delegated ${projects.join(', ') || 'no project now'}) over sha256 ${c.digest}, which the repository never received`,
        });
        if (created) flagged += 1;
      }
      await repo.removeCandidate(knex, this.logUrl, c.uuid);
    }
    return flagged;
  }

  /** Each published identity signature's log entry, read back once. */
  private async checkPublished(treeSize: number): Promise<number> {
    const { knex, clock } = this.deps;
    const rows = await repo.uncheckedPublished(knex, PUBLISHED_PER_POLL);
    if (rows.length === 0 || treeSize === 0) return 0;
    const thisLog = (await this.rekor.entriesAt([treeSize - 1])).get(treeSize - 1)?.logID;
    if (!thisLog) throw new RekorUnavailable(`the log returned no entry at index ${treeSize - 1}`);
    const here = rows.filter((r) => r.log_id === thisLog && r.log_index !== null && Number(r.log_index) < treeSize);
    for (const r of rows) if (r.log_id !== thisLog && r.log_index !== null) await repo.markLogCheck(knex, r.id, 'other_log', clock.now());
    const entries = await this.rekor.entriesAt(here.map((r) => Number(r.log_index)));
    let flagged = 0;
    for (const r of rows.filter((x) => x.log_index === null)) {
      await repo.markLogCheck(knex, r.id, 'missing', clock.now());
      if (await this.flagPublication(r, 'its signature carries no transparency-log entry')) flagged += 1;
    }
    for (const r of here) {
      const entry = entries.get(Number(r.log_index));
      const problem = entry ? this.mismatch(r, entry) : `the log has no entry ${r.log_index} (tree size ${treeSize})`;
      await repo.markLogCheck(knex, r.id, problem === null ? 'found' : entry ? 'mismatch' : 'missing', clock.now());
      if (problem !== null && (await this.flagPublication(r, problem))) flagged += 1;
    }
    return flagged;
  }

  /** Why the log's entry is not the published signature's, or null when it is. */
  private mismatch(r: MonitorSignatureRow, entry: LogEntry): string | null {
    const claim = readHashedRekord(entry.body);
    if (!claim) return `log entry ${r.log_index} is not a hashedrekord`;
    const named = certificateIdentity(claim.certificate);
    if (claim.digest !== r.signed_sha256)
      return `log entry ${r.log_index} signs sha256 ${claim.digest}, not the published ${r.signed_sha256}`;
    if (!named || named.identity !== r.identity || named.issuer !== r.issuer) {
      return `log entry ${r.log_index} names ${named ? `${named.identity} at ${named.issuer}` : 'no identity'}, not ${r.identity}`;
    }
    if (r.body_sha256 !== null && r.body_sha256 !== sha256Hex(entry.body))
      return `log entry ${r.log_index} differs from the one in the signature's bundle`;
    return null;
  }

  private flagPublication(r: MonitorSignatureRow, problem: string): Promise<boolean> {
    return this.flag({
      dedupe_key: `publication_not_in_log:${r.role}:${r.version}:${r.identity}:${r.issuer}:${r.log_index}`,
      kind: 'publication_not_in_log',
      log_url: this.logUrl,
      identity: r.identity,
      issuer: r.issuer,
      projects: [r.role],
      log_index: r.log_index,
      uuid: null,
      digest: r.signed_sha256,
      version: r.version,
      detail: `${r.role} v${r.version} was published with a signature by ${r.identity}, but ${problem}`,
    });
  }

  private async flag(f: repo.NewMonitorFinding): Promise<boolean> {
    const created = await this.deps.knex.transaction(async (trx) => {
      if (!(await repo.insertFinding(trx, f))) return false;
      await appendAudit(trx, {
        actor: 'monitor',
        action: `monitor.${f.kind}`,
        ...(f.projects.length === 1 ? { role: f.projects[0]! } : {}),
        ...(f.version !== null ? { version: f.version } : {}),
        details: {
          identity: f.identity,
          issuer: f.issuer,
          projects: f.projects,
          logUrl: f.log_url,
          logIndex: f.log_index,
          digest: f.digest,
          detail: f.detail,
        },
      });
      return true;
    });
    if (created) {
      this.metrics.findings.inc({ kind: f.kind });
      this.deps.log.warn({ kind: f.kind, identity: f.identity, logIndex: f.log_index }, `transparency monitor: ${f.detail}`);
    }
    return created;
  }

  async status(): Promise<MonitorStatusJson> {
    const { knex, config, clock } = this.deps;
    const [state, watched, candidates, published, findings, recent] = await Promise.all([
      repo.getMonitorState(knex, this.logUrl),
      delegatedIdentities(this.deps.delegations),
      repo.listCandidates(knex, this.logUrl),
      repo.publishedLogChecks(knex),
      repo.countFindings(knex),
      repo.listFindings(knex, { limit: 20 }),
    ]);
    return statusView({
      config,
      logUrl: this.logUrl,
      now: clock.now(),
      state,
      watched: watched.size,
      candidates: candidates.length,
      published,
      findings,
      recent,
    });
  }

  async findings(filter: { identity?: string; issuer?: string; beforeId?: number; limit: number }): Promise<MonitorFindingJson[]> {
    return (await repo.listFindings(this.deps.knex, filter)).map(findingView);
  }

  /** What the repository received from one identity, as far as the last poll indexed it. */
  async received(identity: string, issuer: string): Promise<MonitorIdentityJson['received']> {
    return (await repo.receivedBy(this.deps.knex, identity, issuer, 1000)).map((r) => ({
      source: r.source,
      project: r.role,
      version: r.version,
      digest: r.signed_sha256,
      logIndex: r.log_index === null ? null : Number(r.log_index),
    }));
  }

  /** The identities watched now (public: every delegation is in published metadata). */
  watched(): Promise<Map<string, WatchedIdentity>> {
    return delegatedIdentities(this.deps.delegations);
  }
}
