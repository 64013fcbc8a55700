// Garbage collection: nothing a stranger or a forgetful maintainer leaves behind stays forever.
// One run (`tuf-server gc`, or every GC_INTERVAL_SECONDS in each process, see runtime.ts):
// 1. pending project versions older than PENDING_VERSION_MAX_AGE_SECONDS are removed (audited),
//    and closed ones (published or dropped) once as old;
// 2. rejected registrations older than REJECTED_REGISTRATION_RETENTION_SECONDS, and pending ones
//    nobody decided on within PENDING_REGISTRATION_MAX_AGE_SECONDS, are removed;
// 3. files that no stored metadata version and no pending version lists are removed once their
//    last upload is older than BLOB_GC_GRACE_SECONDS. `dryRun` lists all of it and removes nothing.
//
// Why step 3 never removes a file that a published or pending version lists:
// - Every stored version's files are in `listed_blobs`, written in the transaction that stores
//   the version (db/targetsRepo.ts replaceTargetRecords), and stored versions are never deleted.
// - Every transaction that stores metadata listing files holds the publishing lock (shared for a
//   project role, exclusive for admin metadata) from the moment it checks that each file is held
//   (roles/storeRole.ts targetRecordsWithFiles) until it commits. Files are deleted in
//   transactions that hold the publishing lock *exclusively*, and the DELETE re-checks every
//   condition itself: a storing transaction has either committed before (its files are in
//   listed_blobs, visible to the DELETE, and kept) or takes the lock after the delete (its check
//   finds the file missing: `target_file_missing`, nothing is published that lists it).
// - Pending versions are not checked that way (a co-signer sends no files), so they rest on the
//   grace period instead: an upload stores or re-sends its files (which moves `touched_at` on,
//   server/blobs/ for every stored file) moments before its pending
//   version commits or after it (then the pending version lists them already), and a request lasts
//   seconds, far less than the grace (a day by default). Once committed, the pending version's
//   listing is visible to the DELETE and keeps its files until the version expires. Times are
//   compared in the database's own clock (touched_at) against the run's `now`; keep the
//   server's clock within a small fraction of the grace period of the database's.
// - A run killed midway (SIGKILL) leaves whole transactions behind: each step and each batch of
//   deletions commits on its own, and every condition is evaluated again by the next run.
// - A file held in object storage loses its row in the same transaction that records its object
//   for deletion (object_cleanup); step 4 deletes such objects (server/blobs/objectCleaner.ts).
import type { Knex } from 'knex';
import type { Clock } from '../../core/clock.ts';
import { appendAudit } from '../db/auditRepo.ts';
import {
  collectableBlobs,
  deleteUnneededBlobs,
  expirePendingVersions,
  removeClosedPending,
  removeExpiredSuperseded,
  removeOldRegistrations,
  tryGcLock,
  type CollectableBlob,
  type ExpiredPending,
  type RemovedRegistration,
} from '../db/gcRepo.ts';
import { takePublishLock } from '../db/locks.ts';
import { queueObjectCleanup } from '../db/blobRepo.ts';

/** Deletes objects of object storage nobody names any more (server/blobs/objectCleaner.ts). */
export interface ObjectCleanup {
  run(now: Date, opts: { dryRun?: boolean }): Promise<{ removed: string[]; failed: { location: string; error: string }[]; due: number }>;
}

export interface GcSettings {
  pendingVersionMaxAgeSeconds: number;
  rejectedRegistrationRetentionSeconds: number;
  pendingRegistrationMaxAgeSeconds: number;
  blobGcGraceSeconds: number;
  supersededTargetGraceSeconds: number;
}

export interface GcReport {
  dryRun: boolean;
  /** False when another process was collecting at the same moment (this run did nothing). */
  ran: boolean;
  pendingExpired: { role: string; version: number; signedSha256: string; createdAt: string }[];
  closedPendingRemoved: number;
  /** Files a newer version dropped whose grace period is over: no longer downloadable, their rows removed. */
  supersededRemoved: number;
  registrationsRemoved: { id: number; project: string; identity: string; issuer: string; status: string }[];
  blobsRemoved: { sha256: string; length: number; touchedAt: string }[];
  /** Objects deleted from object storage (with --dry-run: how many are due). */
  objectsRemoved: number;
  /** Objects whose deletion failed this time (tried again by the next run). */
  objectsFailed: { location: string; error: string }[];
}

const BATCH = 500;

export class GarbageCollector {
  constructor(
    private readonly knex: Knex,
    private readonly clock: Clock,
    private readonly settings: GcSettings,
    private readonly objects: ObjectCleanup | null = null,
  ) {}

  async run(opts: { dryRun?: boolean; actor?: string } = {}): Promise<GcReport> {
    const dryRun = opts.dryRun === true;
    const actor = opts.actor ?? 'gc';
    const now = this.clock.now().getTime();
    const ago = (seconds: number) => new Date(now - seconds * 1000);
    const pendingSince = ago(this.settings.pendingVersionMaxAgeSeconds);
    const touchedBefore = ago(this.settings.blobGcGraceSeconds);
    const report: GcReport = {
      dryRun,
      ran: true,
      pendingExpired: [],
      closedPendingRemoved: 0,
      supersededRemoved: 0,
      registrationsRemoved: [],
      blobsRemoved: [],
      objectsRemoved: 0,
      objectsFailed: [],
    };

    // 1 and 2: pending versions and registrations, in one transaction under the exclusive
    // publishing lock (no upload is merging into a pending version meanwhile).
    const first = await this.knex.transaction(async (trx) => {
      if (!(await tryGcLock(trx))) return null;
      if (!dryRun) await takePublishLock(trx, 'exclusive');
      const expired: ExpiredPending[] = await expirePendingVersions(trx, pendingSince, dryRun);
      const closed = await removeClosedPending(trx, pendingSince, dryRun);
      const superseded = await removeExpiredSuperseded(trx, ago(this.settings.supersededTargetGraceSeconds), dryRun);
      const registrations: RemovedRegistration[] = await removeOldRegistrations(
        trx,
        {
          rejectedBefore: ago(this.settings.rejectedRegistrationRetentionSeconds),
          pendingBefore: ago(this.settings.pendingRegistrationMaxAgeSeconds),
        },
        dryRun,
      );
      if (!dryRun) {
        for (const p of expired) {
          await appendAudit(trx, {
            actor,
            action: 'project.pending_expired',
            role: p.role,
            version: p.version,
            details: { signedSha256: p.signed_sha256, createdAt: p.created_at.toISOString() },
          });
        }
        if (registrations.length > 0) {
          await appendAudit(trx, {
            actor,
            action: 'registrations.removed',
            details: { registrations: registrations.map((r) => ({ id: Number(r.id), project: r.project, status: r.status })) },
          });
        }
      }
      return { expired, closed, superseded, registrations };
    });
    if (!first) return { ...report, ran: false };
    report.pendingExpired = first.expired.map((p) => ({
      role: p.role,
      version: p.version,
      signedSha256: p.signed_sha256,
      createdAt: p.created_at.toISOString(),
    }));
    report.closedPendingRemoved = first.closed;
    report.supersededRemoved = first.superseded;
    report.registrationsRemoved = first.registrations.map((r) => ({
      id: Number(r.id),
      project: r.project,
      identity: r.identity,
      issuer: r.issuer,
      status: r.status,
    }));

    // 3: files, a batch per transaction so uploads wait at most one batch for the lock.
    let after = '';
    for (;;) {
      const step = await this.knex.transaction(async (trx) => {
        if (!(await tryGcLock(trx))) return null;
        const candidates = await collectableBlobs(trx, { touchedBefore, pendingSince, afterSha256: after, limit: BATCH });
        if (dryRun || candidates.length === 0) return { candidates, removed: candidates };
        await takePublishLock(trx, 'exclusive');
        // Checked again inside the DELETE, now under the lock: a file listed meanwhile stays.
        const removed = await deleteUnneededBlobs(
          trx,
          candidates.map((c) => c.sha256),
          { touchedBefore, pendingSince },
        );
        for (const b of removed) if (b.location) await queueObjectCleanup(trx, b.location, new Date(now), 'removed');
        if (removed.length > 0) {
          await appendAudit(trx, {
            actor,
            action: 'blobs.removed',
            details: { blobs: removed.map((b) => ({ sha256: b.sha256, length: Number(b.length) })) },
          });
        }
        return { candidates, removed };
      });
      if (step === null) break;
      report.blobsRemoved.push(
        ...step.removed.map((b: CollectableBlob) => ({
          sha256: b.sha256,
          length: Number(b.length),
          touchedAt: new Date(b.touched_at).toISOString(),
        })),
      );
      if (step.candidates.length < BATCH) break;
      after = step.candidates[step.candidates.length - 1]!.sha256;
    }
    // 4: objects of object storage no row names any more.
    if (this.objects) {
      const cleaned = await this.objects.run(new Date(now), { dryRun });
      report.objectsRemoved = dryRun ? cleaned.due : cleaned.removed.length;
      report.objectsFailed = cleaned.failed;
    }
    return report;
  }
}

/** Lines for `tuf-server gc`: what was (or, with --dry-run, would be) removed. */
export function describeGcReport(r: GcReport): string[] {
  if (!r.ran) return ['another process is collecting right now; nothing done'];
  const verb = r.dryRun ? 'would remove' : 'removed';
  const lines: string[] = [];
  for (const p of r.pendingExpired)
    lines.push(`${verb} pending version ${p.role} v${p.version} (${p.signedSha256.slice(0, 16)}, since ${p.createdAt})`);
  if (r.closedPendingRemoved > 0) lines.push(`${verb} ${r.closedPendingRemoved} closed pending version row(s)`);
  if (r.supersededRemoved > 0) lines.push(`${verb} ${r.supersededRemoved} superseded file row(s) past SUPERSEDED_TARGET_GRACE_SECONDS`);
  for (const g of r.registrationsRemoved)
    lines.push(`${verb} ${g.status} registration ${g.id}: ${g.project} by ${g.identity} at ${g.issuer}`);
  for (const b of r.blobsRemoved) lines.push(`${verb} file ${b.sha256} (${b.length} bytes, last uploaded ${b.touchedAt})`);
  for (const f of r.objectsFailed) lines.push(`could not remove object ${f.location} (tried again next run): ${f.error}`);
  lines.push(
    `${r.dryRun ? 'dry run: ' : ''}${r.pendingExpired.length} pending version(s), ${r.registrationsRemoved.length} registration(s), ${r.blobsRemoved.length} file(s) (${r.blobsRemoved.reduce((n, b) => n + b.length, 0)} bytes)` +
      (r.objectsRemoved > 0 || r.objectsFailed.length > 0 ? `, ${r.objectsRemoved} object(s) of object storage` : ''),
  );
  return lines;
}
