// Accepting admin-signed metadata and keeping snapshot/timestamp fresh. Verification is core's;
// this service decides what to load, holds the publishing lock, and stores in one transaction.
import type { Knex } from 'knex';
import type { Root } from '@tufjs/models';
import type { Clock } from '../../core/clock.ts';
import { TufError } from '../../core/errors.ts';
import { parseMetadata, servedBytes, type ParsedMetadata } from '../../core/metadata.ts';
import { sha256Hex } from '../../core/canonical.ts';
import { checkOnlineKeys, rootKeys, rootRole, sameRoleDelegation, verifyRootUpdate, verifyTargetsUpdate } from '../../core/updates.ts';
import { checkThreshold } from '../../core/verify.ts';
import { changedDelegations, delegationMaintainers, findDelegation, resignReason } from '../../core/delegations.ts';
import type { SignatureVerifier } from '../../core/verify.ts';
import { clearResignNeeded, decideRegistrations, listRegistrations, markResignNeeded } from '../db/projectsRepo.ts';
import { appendAudit } from '../db/auditRepo.ts';
import type { Db } from '../db/knex.ts';
import { getHead, getHeadDigest, getMetadataVersion, insertMetadataVersion, listHeads, maxSnapshotChangeSeq, snapshotHeadInfo } from '../db/metadataRepo.ts';
import { blobExists, replaceTargetRecords, type TargetRecord } from '../db/targetsRepo.ts';
import { heldOnlinePublicKeys, type OnlineKeyStore } from '../onlineKeys.ts';
import {
  OnlineSigners,
  SnapshotMeta,
  publishSnapshotAndTimestamp,
  publishTimestamp,
  takePublishLock,
  tryPublishLock,
  type PublishContext,
  type Published,
  type PublishedRole,
} from './publisher.ts';
import { PublicationGroup, type RoundOutcome } from './publicationGroup.ts';
import { encodeAnnouncement, NOTIFY_CHANNEL } from './announcements.ts';

/** The publishing lock was taken; the caller decides whether to wait. */
class LockBusy extends Error {}

/** The target records of a targets document; every listed file must already be held. */
export async function targetRecordsWithFiles(db: Db, targets: ParsedMetadata<'targets'>): Promise<TargetRecord[]> {
  const records: TargetRecord[] = [];
  for (const [path, file] of Object.entries(targets.model.targets)) {
    const sha256 = file.hashes.sha256!;
    // Every listed target is downloadable: its bytes must already be uploaded.
    if (!(await blobExists(db, sha256))) {
      throw new TufError('target_file_missing', `target ${path}: upload its file (sha256 ${sha256}) with or before the metadata`, { path, sha256 });
    }
    const custom = file.unrecognizedFields.custom as Record<string, unknown> | undefined;
    records.push({ path, length: file.length, hashes: file.hashes, ...(custom ? { custom } : {}) });
  }
  return records;
}

export interface RepositoryDeps {
  knex: Knex;
  /** Tags this instance's announcements, so that its own cache skips them (see announcements.ts). */
  origin: string;
  clock: Clock;
  keyStore: OnlineKeyStore;
  snapshotExpirySeconds: number;
  timestampExpirySeconds: number;
  resignRemainingFraction: number;
  /** Verifies signatures of submitted metadata: ordinary keys, and identity keys (TAP 18). */
  verifier: SignatureVerifier;
  /** Observes each snapshot built (metrics). */
  onSnapshot?: (seconds: number, bytes: number, entries: number) => void;
  /**
   * Called after commit with what was published; awaited, so that once a write is answered this
   * process already serves it. Must not throw (the change is committed either way).
   */
  onPublished?: (published: Published[]) => Promise<void>;
}

export interface SubmitResult {
  published: PublishedRole[];
}

/** Retries of the publishing lock before a round waits in line for it. */
const TRY_LOCK_ATTEMPTS = 25;

export class RepositoryService {
  readonly signers: OnlineSigners;
  private readonly snapshotMeta = new SnapshotMeta();
  private readonly parsed = new Map<string, { version: number; sha256: string; doc: ParsedMetadata<'root' | 'targets'> }>();
  private readonly group = new PublicationGroup<PublishedRole[]>((target, reasons) => this.publishCovering(target, reasons));

  constructor(private readonly deps: RepositoryDeps) {
    this.signers = new OnlineSigners(deps.keyStore);
  }

  async init(): Promise<void> {
    await this.signers.load();
  }

  /**
   * The current version of a top-level role, parsed. Memoized by version and digest: a version
   * parsed inside a transaction that rolled back must never be mistaken for a committed one.
   */
  private async loadCurrent<T extends 'root' | 'targets'>(db: Db, role: T): Promise<ParsedMetadata<T> | null> {
    const head = await getHeadDigest(db, role);
    if (!head) return null;
    const cached = this.parsed.get(role);
    if (cached && cached.version === head.version && cached.sha256 === head.sha256) return cached.doc as ParsedMetadata<T>;
    const row = await getMetadataVersion(db, role, head.version);
    if (!row) throw new Error(`${role} head v${head.version} has no stored bytes`);
    const doc = parseMetadata(JSON.parse(row.bytes.toString('utf8')), role, `stored ${role} v${head.version}`);
    this.parsed.set(role, { version: head.version, sha256: row.sha256, doc });
    return doc;
  }

  /** The current root, parsed. */
  async trustedRoot(db: Db = this.deps.knex): Promise<ParsedMetadata<'root'> | null> {
    return this.loadCurrent(db, 'root');
  }

  /** The current top-level targets, parsed. */
  async currentTargets(db: Db = this.deps.knex): Promise<ParsedMetadata<'targets'> | null> {
    return this.loadCurrent(db, 'targets');
  }

  async isBootstrapped(): Promise<boolean> {
    return (await getHead(this.deps.knex, 'root')) !== undefined;
  }

  /** Every online key held (re-read, so a key rotated by `tuf-server online-keys rotate` counts). */
  private async heldOnlineKeys() {
    await this.signers.load();
    const held = await heldOnlinePublicKeys(this.deps.keyStore);
    if (held.snapshot.length === 0 || held.timestamp.length === 0) {
      throw new TufError('not_bootstrapped', 'the server has no online keys yet (run: tuf-server online-keys create)');
    }
    return held;
  }

  publishContext(db: Db, root: Root, actor: string, reason: string): PublishContext {
    return {
      db,
      root,
      signers: this.signers,
      clock: this.deps.clock,
      snapshotExpirySeconds: this.deps.snapshotExpirySeconds,
      timestampExpirySeconds: this.deps.timestampExpirySeconds,
      actor,
      reason,
      snapshotMeta: this.snapshotMeta,
      ...(this.deps.onSnapshot ? { onSnapshot: this.deps.onSnapshot } : {}),
    };
  }

  /**
   * Runs `work` in a transaction holding the publishing lock (exclusive unless asked otherwise),
   * then announces what it published. Returns roles and versions only: the signed bytes some
   * entries carry are for this process's cache, never for a response.
   */
  async publishing(work: (trx: Knex.Transaction) => Promise<Published[]>, mode: 'exclusive' | 'shared' | 'try-exclusive' = 'exclusive'): Promise<PublishedRole[]> {
    const published = await this.deps.knex.transaction(async (trx) => {
      if (mode === 'try-exclusive') {
        if (!(await tryPublishLock(trx))) throw new LockBusy();
      } else {
        await takePublishLock(trx, mode);
      }
      const result = await work(trx);
      if (result.length > 0) {
        // Delivered to every listening server process when (and only if) the transaction commits.
        await trx.raw('select pg_notify(?, ?)', [NOTIFY_CHANNEL, encodeAnnouncement(this.deps.origin, result)]);
      }
      return result;
    });
    if (published.length > 0) await this.deps.onPublished?.(published);
    return published.map(({ role, version }) => ({ role, version }));
  }

  private async storeTargets(trx: Db, targets: ParsedMetadata<'targets'>, actor: string): Promise<void> {
    const previous = await this.currentTargets(trx);
    const records = await targetRecordsWithFiles(trx, targets);
    const bytes = servedBytes(targets.envelope);
    const sha256 = sha256Hex(bytes);
    await insertMetadataVersion(trx, { role: 'targets', version: targets.version, bytes, sha256, expires: targets.expires });
    // Parsed already: with thousands of delegations tuf-js takes seconds to read it again, and the
    // next upload would pay for it. Keyed by digest, so a rolled-back version is never taken.
    this.parsed.set('targets', { version: targets.version, sha256, doc: targets });
    await replaceTargetRecords(trx, 'targets', targets.version, records);
    await appendAudit(trx, {
      actor,
      action: 'targets.accepted',
      role: 'targets',
      version: targets.version,
      details: { signedBy: targets.envelope.signatures.map((s) => s.keyid), targets: records.length },
    });
    await this.approveDelegatedRegistrations(trx, targets);
    await this.reviewDelegations(trx, previous, targets);
  }

  /**
   * After maintainers or thresholds change, finds the project roles whose published metadata no
   * longer meets the delegation: clients refuse them until a maintainer re-signs. Only changed
   * delegations are checked.
   */
  private async reviewDelegations(trx: Db, previous: ParsedMetadata<'targets'> | null, next: ParsedMetadata<'targets'>): Promise<void> {
    for (const name of changedDelegations(previous?.model ?? null, next.model)) {
      const delegation = findDelegation(next.model, name);
      const head = await getHead(trx, name);
      if (!delegation || !head) {
        await clearResignNeeded(trx, name);
        continue;
      }
      const row = await getMetadataVersion(trx, name, head.version);
      const role = parseMetadata(JSON.parse(row!.bytes.toString('utf8')), 'targets', name);
      const reason = resignReason(role, delegation, this.deps.verifier);
      if (reason) {
        await markResignNeeded(trx, { role: name, role_version: head.version, targets_version: next.version, reason });
        await appendAudit(trx, { actor: 'server', action: 'project.resign_needed', role: name, version: head.version, details: { reason, targetsVersion: next.version } });
      } else {
        await clearResignNeeded(trx, name);
      }
    }
  }

  /** Pending registrations that this targets version delegates become approved. */
  private async approveDelegatedRegistrations(trx: Db, targets: ParsedMetadata<'targets'>): Promise<void> {
    const pending = await listRegistrations(trx, { status: 'pending' });
    const approved = pending.filter((r) => {
      const delegation = findDelegation(targets.model, r.project);
      return delegation !== null && delegationMaintainers(delegation).some((m) => m.identity === r.identity && m.issuer === r.issuer);
    });
    await decideRegistrations(trx, approved.map((r) => r.id), 'approved');
    for (const r of approved) {
      await appendAudit(trx, { actor: 'server', action: 'registration.approved', role: r.project, version: targets.version, details: { identity: r.identity, issuer: r.issuer } });
    }
  }

  /** Root v1 and targets v1 from the key ceremony; then snapshot v1 and timestamp v1. */
  async bootstrap(rootJson: unknown, targetsJson: unknown, actor: string): Promise<SubmitResult> {
    const root = parseMetadata(rootJson, 'root', 'root');
    const targets = parseMetadata(targetsJson, 'targets', 'targets');
    const online = await this.heldOnlineKeys();
    const published = await this.publishing(async (trx) => {
      if (await getHead(trx, 'root')) throw new TufError('already_bootstrapped', 'the repository is already bootstrapped; submit new versions instead');
      const now = this.deps.clock.now();
      verifyRootUpdate(root, null, now, this.deps.verifier);
      checkOnlineKeys(root.model, online);
      verifyTargetsUpdate(targets, root, null, now, this.deps.verifier);
      await insertMetadataVersion(trx, { role: 'root', version: 1, bytes: servedBytes(root.envelope), expires: root.expires });
      await appendAudit(trx, { actor, action: 'root.accepted', role: 'root', version: 1, details: { bootstrap: true, signedBy: root.envelope.signatures.map((s) => s.keyid) } });
      await this.storeTargets(trx, targets, actor);
      return [
        { role: 'root', version: 1 },
        { role: 'targets', version: targets.version },
        ...(await publishSnapshotAndTimestamp(this.publishContext(trx, root.model, 'server', 'bootstrap'))),
      ];
    });
    return { published };
  }

  /**
   * Root N+1, signed by the thresholds of root N and of itself, naming online keys the server
   * holds. When it changes the targets keys so that the current targets no longer verifies, the
   * re-signed targets N+1 must come with it; when it changes the online keys, snapshot and
   * timestamp are re-signed with the new ones. All in one transaction: no client ever sees a root
   * without metadata its keys verify.
   */
  async submitRoot(rootJson: unknown, actor: string, targetsJson?: unknown): Promise<SubmitResult> {
    const candidate = parseMetadata(rootJson, 'root', 'root');
    const targets = targetsJson === undefined ? null : parseMetadata(targetsJson, 'targets', 'targets');
    const online = await this.heldOnlineKeys();
    const published = await this.publishing(async (trx) => {
      const trusted = await this.trustedRoot(trx);
      if (!trusted) throw new TufError('not_bootstrapped', 'the repository is not bootstrapped yet');
      const now = this.deps.clock.now();
      verifyRootUpdate(candidate, trusted, now, this.deps.verifier);
      checkOnlineKeys(candidate.model, online);
      const currentTargets = await this.currentTargets(trx);
      if (targets) {
        verifyTargetsUpdate(targets, candidate, currentTargets?.version ?? null, now, this.deps.verifier);
      } else if (currentTargets && !sameRoleDelegation(trusted.model, candidate.model, 'targets')) {
        const still = checkThreshold(currentTargets.envelope.signatures, currentTargets.signedBytes, rootKeys(candidate.model), rootRole(candidate.model, 'targets'), this.deps.verifier);
        if (!still.met) {
          throw new TufError('targets_resign_required', `root v${candidate.version} changes the targets keys and targets v${currentTargets.version} does not verify under it: send targets v${currentTargets.version + 1} signed by the new keys together with this root`);
        }
      }
      await insertMetadataVersion(trx, { role: 'root', version: candidate.version, bytes: servedBytes(candidate.envelope), expires: candidate.expires });
      await appendAudit(trx, { actor, action: 'root.accepted', role: 'root', version: candidate.version, details: { signedBy: candidate.envelope.signatures.map((s) => s.keyid) } });
      const out: Published[] = [{ role: 'root', version: candidate.version }];
      if (targets) {
        await this.storeTargets(trx, targets, actor);
        out.push({ role: 'targets', version: targets.version });
      }
      const onlineChanged = !sameRoleDelegation(trusted.model, candidate.model, 'snapshot') || !sameRoleDelegation(trusted.model, candidate.model, 'timestamp');
      if (targets || onlineChanged) {
        const reason = onlineChanged ? `root v${candidate.version} changed the online keys` : `targets v${targets!.version}`;
        out.push(...(await publishSnapshotAndTimestamp(this.publishContext(trx, candidate.model, 'server', reason))));
      }
      return out;
    });
    return { published };
  }

  /** Top-level targets N+1, signed by root's targets threshold; publishes snapshot and timestamp with it. */
  async submitTargets(targetsJson: unknown, actor: string): Promise<SubmitResult> {
    const candidate = parseMetadata(targetsJson, 'targets', 'targets');
    const published = await this.publishing(async (trx) => {
      const root = await this.trustedRoot(trx);
      if (!root) throw new TufError('not_bootstrapped', 'the repository is not bootstrapped yet');
      const head = await getHead(trx, 'targets');
      verifyTargetsUpdate(candidate, root, head?.version ?? null, this.deps.clock.now(), this.deps.verifier);
      await this.storeTargets(trx, candidate, actor);
      return [
        { role: 'targets', version: candidate.version },
        ...(await publishSnapshotAndTimestamp(this.publishContext(trx, root.model, 'server', `targets v${candidate.version}`))),
      ];
    });
    return { published };
  }

  /**
   * Publishes a snapshot (and timestamp) covering every role change committed so far, if the
   * current one does not. With `untilSeq` (an upload waiting for its commit), joins this process's
   * publication group: the request is answered once a snapshot covering that change is served,
   * by a round that may cover many other uploads too.
   */
  async publishPendingChanges(reason: string, untilSeq?: string): Promise<PublishedRole[]> {
    if (untilSeq !== undefined) return this.group.waitFor(BigInt(untilSeq), reason);
    return this.publishing(async (trx) => (await this.publishChanges(trx, reason))?.published ?? []);
  }

  /** Under the lock: snapshot and timestamp over every committed change, unless already covered. Null before bootstrap. */
  private async publishChanges(trx: Knex.Transaction, reason: string): Promise<{ covers: bigint; published: Published[] } | null> {
    const upto = await maxSnapshotChangeSeq(trx);
    const head = await snapshotHeadInfo(trx);
    if (head && head.covers_seq !== null && BigInt(upto) <= BigInt(head.covers_seq)) return { covers: BigInt(head.covers_seq), published: [] };
    const root = await this.trustedRoot(trx);
    if (!root) return null;
    const published = await publishSnapshotAndTimestamp(this.publishContext(trx, root.model, 'server', reason), { upto, head });
    return { covers: BigInt(upto), published };
  }

  /** One round of the publication group: returns once the served snapshot covers change `target`. */
  private async publishCovering(target: bigint, reasons: string[]): Promise<RoundOutcome<PublishedRole[]>> {
    const reason = reasons.length <= 3 ? reasons.join(', ') : `${reasons.slice(0, 3).join(', ')} and ${reasons.length - 3} more`;
    for (let attempt = 0; ; attempt++) {
      // Try to publish first: in the common case (one process) nobody else did.
      let covers = -1n;
      try {
        const published = await this.publishing(async (trx) => {
          const outcome = await this.publishChanges(trx, reason);
          if (!outcome) throw new TufError('not_bootstrapped', 'the repository is not bootstrapped yet');
          covers = outcome.covers;
          return outcome.published;
        }, attempt < TRY_LOCK_ATTEMPTS ? 'try-exclusive' : 'exclusive');
        if (published.length > 0) return { covers, result: published };
        // Nothing to publish: another process covered the change already; announce its snapshot.
      } catch (err) {
        if (!(err instanceof LockBusy)) throw err;
        // While another process publishes, do not queue behind it (a queued exclusive request also
        // holds up every role commit): see whether it covers the change, and try again shortly.
      }
      const head = await snapshotHeadInfo(this.deps.knex);
      if (head && head.covers_seq !== null && BigInt(head.covers_seq) >= target) {
        // Make sure this process serves it before answering.
        const ts = await getHead(this.deps.knex, 'timestamp');
        const announced = [{ role: 'snapshot', version: head.version }, ...(ts ? [{ role: 'timestamp', version: ts.version }] : [])];
        await this.deps.onPublished?.(announced);
        return { covers: BigInt(head.covers_seq), result: announced };
      }
      await new Promise((r) => setTimeout(r, 2));
    }
  }

  private dueForResign(expires: Date, lifetimeSeconds: number, now: Date): boolean {
    return expires.getTime() - now.getTime() <= lifetimeSeconds * 1000 * this.deps.resignRemainingFraction;
  }

  /**
   * Re-signs snapshot (and so timestamp) or timestamp alone once less than the configured fraction
   * of their lifetime is left. Safe to call from every process: the lock and a re-check inside it
   * make exactly one of them sign.
   */
  async refreshExpiring(): Promise<PublishedRole[]> {
    const due = async (db: Db) => {
      const now = this.deps.clock.now();
      const heads = await listHeads(db, ['snapshot', 'timestamp']);
      const snapshot = heads.find((h) => h.role === 'snapshot');
      const timestamp = heads.find((h) => h.role === 'timestamp');
      if (!snapshot || !timestamp) return null;
      if (this.dueForResign(snapshot.expires, this.deps.snapshotExpirySeconds, now)) return 'snapshot' as const;
      if (this.dueForResign(timestamp.expires, this.deps.timestampExpirySeconds, now)) return 'timestamp' as const;
      return null;
    };
    // Role changes a crashed process committed but did not publish are published here.
    const pending = await this.publishPendingChanges('changes left unpublished');
    if (pending.length > 0) return pending;
    if ((await due(this.deps.knex)) === null) return [];
    return this.publishing(async (trx) => {
      const which = await due(trx);
      const root = await this.trustedRoot(trx);
      if (!which || !root) return [];
      const ctx = this.publishContext(trx, root.model, 'server', 'scheduled re-sign before expiry');
      return which === 'snapshot' ? publishSnapshotAndTimestamp(ctx) : publishTimestamp(ctx);
    });
  }
}
