// Publication: the only writer of snapshot and timestamp. Every change that clients will see goes
// through `transaction`, which holds the publishing lock (db/locks.ts, where the durability
// argument is written out), announces what it published to the other processes (NOTIFY, on
// commit) and to this process's read side (before returning). Uploads then wait until a snapshot
// covers their commit; one loop per process publishes those snapshots in rounds (group.ts).
import type { Knex } from 'knex';
import type { Root } from '@tufjs/models';
import type { Clock } from '../../core/clock.ts';
import { TufError } from '../../core/errors.ts';
import type { Db } from '../db/knex.ts';
import { takePublishLock, waitWhilePublishing } from '../db/locks.ts';
import { getHead, insertSnapshotCheckpoint, listHeads, maxSnapshotChangeSeq, snapshotHeadInfo } from '../db/metadataRepo.ts';
import { notifyPublished } from '../db/notifications.ts';
import { enqueuePublication } from '../db/mirrorRepo.ts';
import { rolesAndVersions, type PublishedFile, type PublishedRole } from '../serving/published.ts';
import type { CurrentMetadata } from './currentMetadata.ts';
import { PublicationGroup, type RoundOutcome } from './group.ts';
import type { OnlineSigners } from './onlineSigners.ts';
import type { TreeBuilder } from '../treeBuilder.ts';
import { signSnapshotAndTimestamp, signTimestampOnly, type SigningContext, type SnapshotCost } from './signing.ts';
import { SnapshotMeta, type SnapshotState } from './snapshotMeta.ts';
import { MarkGuard } from './markGuard.ts';
import type { PublishedMark } from './publishedMark.ts';

export interface PublicationDeps {
  knex: Knex;
  /** Tags this instance's announcements, so that its own cache skips them. */
  origin: string;
  clock: Clock;
  signers: OnlineSigners;
  current: CurrentMetadata;
  snapshotExpirySeconds: number;
  timestampExpirySeconds: number;
  /** Re-sign snapshot or timestamp once less than this fraction of its lifetime is left. */
  resignRemainingFraction: number;
  /** Snapshot entries of delegated roles carry their version only (no length, no hash). */
  snapshotVersionOnly: boolean;
  /** Publish a TAP 16 snapshot Merkle tree: its root in each timestamp (proofs are served by the read side). */
  snapshotMerkleTrees: boolean;
  /** Snapshot versions are stored as deltas; one whole file is kept at least every this many versions. */
  snapshotCheckpointVersions: number;
  /** Builds a whole TAP 16 tree (after a start) off the event loop. */
  treeBuilder: TreeBuilder;
  /** Told of a failure in work done after a commit (a checkpoint write); nothing committed is lost by it. */
  onBackgroundError?: (what: string, err: unknown) => void;
  /** Restore safety: raised before each commit that signs, and the floor of every new version (publishedMark.ts). */
  mark?: PublishedMark;
  /** Observes each snapshot built (metrics). */
  onSnapshot?: (seconds: number, bytes: number, entries: number, cost: SnapshotCost) => void;
  /**
   * Called after commit with what was published; awaited, so that once a write is answered this
   * process already serves it. Must not throw (the change is committed either way).
   */
  onPublished?: (published: PublishedFile[]) => Promise<void>;
}

/** What a unit of work may do inside a publication transaction. */
export interface PublicationTx {
  db: Knex.Transaction;
  /** Records files this transaction stored, to be announced when it commits. */
  announce(...published: PublishedFile[]): PublishedRole[];
  /**
   * Signs a snapshot over every role's current version and a timestamp over it (announced).
   * `root` is the root whose online keys sign: the candidate when a new root is being stored.
   */
  signSnapshotAndTimestamp(reason: string, root?: Root): Promise<PublishedRole[]>;
}

/** Retries of the publishing lock before a round waits in line for it. */
const TRY_LOCK_ATTEMPTS = 25;

type LockMode = 'exclusive' | 'shared';

export class Publication {
  private readonly snapshotMeta: SnapshotMeta;
  private readonly markGuard: MarkGuard | null;
  private readonly group = new PublicationGroup<PublishedRole[]>((target, reasons) => this.publishCovering(target, reasons));

  constructor(private readonly deps: PublicationDeps) {
    this.snapshotMeta = new SnapshotMeta({
      versionOnly: deps.snapshotVersionOnly,
      merkleTrees: deps.snapshotMerkleTrees,
      checkpointVersions: deps.snapshotCheckpointVersions,
      treeBuilder: deps.treeBuilder,
    });
    this.markGuard = deps.mark ? new MarkGuard(deps.mark) : null;
  }

  get signers(): OnlineSigners {
    return this.deps.signers;
  }

  /**
   * Runs `work` in a transaction holding the publishing lock and returns its value. Exclusive for
   * changes of top-level metadata and for signing; shared for project role commits (which may not
   * sign). What the work announced is notified with the commit and applied here after it.
   */
  async transaction<T>(mode: LockMode, work: (tx: PublicationTx) => Promise<T>): Promise<T> {
    const outcome = await this.run(mode, work);
    if (!outcome.acquired) throw new Error('unreachable: a waiting lock was not acquired');
    return outcome.value;
  }

  private async run<T>(
    mode: LockMode | 'try-exclusive',
    work: (tx: PublicationTx) => Promise<T>,
  ): Promise<{ acquired: false } | { acquired: true; value: T }> {
    const announced: PublishedFile[] = [];
    const outcome = await this.deps.knex.transaction(async (trx) => {
      if (!(await takePublishLock(trx, mode))) return { acquired: false as const };
      const tx: PublicationTx = {
        db: trx,
        announce: (...published) => {
          announced.push(...published);
          return rolesAndVersions(published);
        },
        signSnapshotAndTimestamp: async (reason, root) => {
          if (mode === 'shared') throw new Error('signing needs the publishing lock held exclusively');
          return tx.announce(...(await signSnapshotAndTimestamp(await this.signingContext(trx, reason, root))));
        },
      };
      const value = await work(tx);
      // Restore safety: the mark is raised before the commit, so before any answer or NOTIFY.
      if (this.markGuard && announced.length > 0) await this.markGuard.record(trx, announced);
      if (announced.length > 0) {
        await notifyPublished(trx, this.deps.origin, announced);
        // The copy to a bucket (PUBLISH_TO, server/mirror/): its outbox row commits with the publication, or not at all.
        await enqueuePublication(trx, announced);
      }
      return { acquired: true as const, value };
    });
    if (outcome.acquired && announced.length > 0) {
      this.writeCheckpoints(announced);
      await this.deps.onPublished?.(announced);
    }
    return outcome;
  }

  /**
   * Keeps whole files of snapshot versions stored as deltas, after the commit and off the path of
   * the answer: storing 3.4 MB (100,000 roles) took most of a publication. Lost on a crash, the
   * next publication finds one due again.
   */
  private writeCheckpoints(announced: PublishedFile[]): void {
    for (const p of announced) {
      if (!p.snapshot?.checkpointDue || !p.file) continue;
      const { version } = p;
      insertSnapshotCheckpoint(this.deps.knex, version, p.file.bytes).then(
        () => this.snapshotMeta.checkpointWritten(version),
        (err) => this.deps.onBackgroundError?.(`snapshot v${version} checkpoint`, err),
      );
    }
  }

  private async signingContext(db: Db, reason: string, root?: Root): Promise<SigningContext> {
    const trusted = root ?? (await this.deps.current.root(db))?.model;
    if (!trusted) throw new TufError('not_bootstrapped', 'the repository is not bootstrapped yet');
    const floor = this.markGuard ? await this.markGuard.floor(db) : {};
    return {
      versionFloor: floor,
      db,
      root: trusted,
      signers: this.deps.signers,
      clock: this.deps.clock,
      snapshotExpirySeconds: this.deps.snapshotExpirySeconds,
      timestampExpirySeconds: this.deps.timestampExpirySeconds,
      actor: 'server',
      reason,
      snapshotMeta: this.snapshotMeta,
      ...(this.deps.onSnapshot ? { onSnapshot: this.deps.onSnapshot } : {}),
    };
  }

  /**
   * Resolves once a snapshot covering role change `seq` is committed and served by this process,
   * by a round of this process's publication group that may cover many other uploads too.
   */
  waitUntilCovered(seq: string, reason: string): Promise<PublishedRole[]> {
    return this.group.waitFor(BigInt(seq), reason);
  }

  /**
   * Recovery after a restore (recovery.ts): under the exclusive lock, runs `before` (which may
   * refuse), then signs a snapshot and timestamp above `floor` and the published mark, recording
   * the skipped versions with the sources they came from.
   */
  async publishAbove(
    floor: Partial<Record<'snapshot' | 'timestamp', number>>,
    jump: { reason: string; sources: Record<string, unknown> },
    before?: (db: Knex.Transaction) => Promise<void>,
  ): Promise<PublishedRole[]> {
    return this.transaction('exclusive', async (tx) => {
      await before?.(tx.db);
      const ctx = await this.signingContext(tx.db, jump.reason);
      const merged = {
        snapshot: Math.max(floor.snapshot ?? 0, ctx.versionFloor?.snapshot ?? 0),
        timestamp: Math.max(floor.timestamp ?? 0, ctx.versionFloor?.timestamp ?? 0),
      };
      return tx.announce(...(await signSnapshotAndTimestamp({ ...ctx, versionFloor: merged, jump })));
    });
  }

  /** Publishes a snapshot (and timestamp) covering every role change committed so far, if the current one does not. */
  async publishChanges(reason: string): Promise<PublishedRole[]> {
    return this.transaction('exclusive', async (tx) => (await this.publishUncovered(tx, reason))?.published ?? []);
  }

  /** Under the lock: snapshot and timestamp over every committed change, unless already covered. Null before bootstrap. */
  private async publishUncovered(tx: PublicationTx, reason: string): Promise<{ covers: bigint; published: PublishedRole[] } | null> {
    const upto = await maxSnapshotChangeSeq(tx.db);
    const head = await snapshotHeadInfo(tx.db);
    if (head && head.covers_seq !== null && BigInt(upto) <= BigInt(head.covers_seq))
      return { covers: BigInt(head.covers_seq), published: [] };
    if (!(await this.deps.current.isBootstrapped(tx.db))) return null;
    const known: SnapshotState = { upto, head };
    const signed = await signSnapshotAndTimestamp(await this.signingContext(tx.db, reason), known);
    return { covers: BigInt(upto), published: tx.announce(...signed) };
  }

  /** One round of the publication group: returns once the served snapshot covers change `target`. */
  private async publishCovering(target: bigint, reasons: string[]): Promise<RoundOutcome<PublishedRole[]>> {
    const reason = reasons.length <= 3 ? reasons.join(', ') : `${reasons.slice(0, 3).join(', ')} and ${reasons.length - 3} more`;
    for (let attempt = 0; ; attempt++) {
      // Try to publish first: in the common case (one process) nobody else did. While another
      // process publishes, do not queue behind it (a queued exclusive request also holds up every
      // role commit): see whether it covers the change, and try again shortly.
      const outcome = await this.run(attempt < TRY_LOCK_ATTEMPTS ? 'try-exclusive' : 'exclusive', async (tx) => {
        const published = await this.publishUncovered(tx, reason);
        if (!published) throw new TufError('not_bootstrapped', 'the repository is not bootstrapped yet');
        return published;
      });
      if (outcome.acquired && outcome.value.published.length > 0) return { covers: outcome.value.covers, result: outcome.value.published };
      // Nothing published here: another process covered the change already, or is doing so.
      const head = await snapshotHeadInfo(this.deps.knex);
      if (head && head.covers_seq !== null && BigInt(head.covers_seq) >= target) {
        // Make sure this process serves it before answering.
        const ts = await getHead(this.deps.knex, 'timestamp');
        const announced = [{ role: 'snapshot', version: head.version }, ...(ts ? [{ role: 'timestamp', version: ts.version }] : [])];
        await this.deps.onPublished?.(announced);
        return { covers: BigInt(head.covers_seq), result: announced };
      }
      // (issue 14) Wait for the round another process runs rather than poll it; when only role
      // commits held the lock (no wait), pause briefly before trying again.
      const waitStarted = performance.now();
      await waitWhilePublishing(this.deps.knex);
      if (performance.now() - waitStarted < 1) await new Promise((r) => setTimeout(r, 2));
    }
  }

  private dueForResign(expires: Date, lifetimeSeconds: number, now: Date): boolean {
    return expires.getTime() - now.getTime() <= lifetimeSeconds * 1000 * this.deps.resignRemainingFraction;
  }

  private async dueRole(db: Db): Promise<'snapshot' | 'timestamp' | null> {
    const now = this.deps.clock.now();
    const heads = await listHeads(db, ['snapshot', 'timestamp']);
    const snapshot = heads.find((h) => h.role === 'snapshot');
    const timestamp = heads.find((h) => h.role === 'timestamp');
    if (!snapshot || !timestamp) return null;
    if (this.dueForResign(snapshot.expires, this.deps.snapshotExpirySeconds, now)) return 'snapshot';
    if (this.dueForResign(timestamp.expires, this.deps.timestampExpirySeconds, now)) return 'timestamp';
    return null;
  }

  /**
   * Re-signs snapshot (and so timestamp) or timestamp alone once less than the configured fraction
   * of their lifetime is left, after publishing role changes a crashed process committed but did
   * not publish. Safe to call from every process: the lock and a re-check inside it make exactly
   * one of them sign.
   */
  async refreshExpiring(): Promise<PublishedRole[]> {
    const pending = await this.publishChanges('changes left unpublished');
    if (pending.length > 0) return pending;
    if ((await this.dueRole(this.deps.knex)) === null) return [];
    return this.transaction('exclusive', async (tx) => {
      const which = await this.dueRole(tx.db);
      if (!which || !(await this.deps.current.isBootstrapped(tx.db))) return [];
      const reason = 'scheduled re-sign before expiry';
      if (which === 'snapshot') return tx.signSnapshotAndTimestamp(reason);
      return tx.announce(...(await signTimestampOnly(await this.signingContext(tx.db, reason))));
    });
  }
}
