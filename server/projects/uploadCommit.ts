// The last step of an upload or of a file's arrival: under the role's lock, publish the version or
// keep it pending. Both paths end here so that whichever request completes a version (the last
// signature or the last file) publishes it, and only once.
import { sha256Hex } from '../../core/canonical.ts';
import { unionSignatures, validSignaturesOnly } from '../../core/delegations.ts';
import { TufError } from '../../core/errors.ts';
import type { Envelope, ParsedMetadata } from '../../core/metadata.ts';
import type { MemoizedVerifier } from '../../core/verify.ts';
import { appendAudit } from '../db/auditRepo.ts';
import type { Db } from '../db/knex.ts';
import { commitSynchronously, lockRoleForAsyncCommit } from '../db/locks.ts';
import { getHead } from '../db/metadataRepo.ts';
import { clearResignNeeded, closePending, listPending, pendingBySignedSha256, upsertPending } from '../db/projectsRepo.ts';
import { heldBlobs } from '../db/targetsRepo.ts';
import { storeTargetsVersion } from '../roles/storeRole.ts';
import { waitUntilCovered, type MissingFile, type ProjectDeps, type UploadResult } from './projectTypes.ts';
import { decide } from './uploadChecks.ts';
import { verifyListedAttestations } from './provenanceChecks.ts';

/** Listed files the repository does not hold yet, in the metadata's order. */
async function missingFiles(db: Db, candidate: ParsedMetadata<'targets'>): Promise<MissingFile[]> {
  const entries = Object.entries(candidate.model.targets);
  const held = await heldBlobs(
    db,
    entries.map(([, f]) => f.hashes.sha256!),
  );
  return entries.filter(([, f]) => !held.has(f.hashes.sha256!)).map(([path, f]) => ({ path, length: f.length, sha256: f.hashes.sha256! }));
}

/** The answer for a version already published (by another request that brought the last file). */
export async function alreadyPublished(deps: ProjectDeps, project: string, version: number): Promise<UploadResult> {
  const head = await getHead(deps.knex, project);
  const covering = head ? await waitUntilCovered(deps, String(head.change_seq), `${project} v${version}`) : [];
  return { status: 'published', version, published: [{ role: project, version }, ...covering] };
}

/**
 * Under the role's lock: merges `incoming` (null when only files arrived) with the signatures
 * collected for the same bytes, decides again against the current delegation and version, and
 * publishes when the threshold is met and every listed file is held; otherwise keeps (or leaves)
 * the version pending and says what it waits for.
 */
export async function commitOrHold(
  deps: ProjectDeps,
  project: string,
  candidate: ParsedMetadata<'targets'>,
  incoming: Envelope | null,
  verifier: MemoizedVerifier,
): Promise<UploadResult> {
  const signedSha256 = sha256Hex(candidate.signedBytes);
  // The role commit holds the publishing lock shared (many commit at once) and the role's own
  // lock; snapshot and timestamp follow in a publication round that covers every commit made
  // meanwhile (db/locks.ts explains why the answer is durable).
  const committed = await deps.publication.transaction('shared', async (tx) => {
    await lockRoleForAsyncCommit(tx.db, project);
    // Under the locks: merge with signatures collected earlier for the same bytes, re-verify
    // against the current delegation and version (another process may have moved them on).
    const open = await listPending(tx.db, project);
    const pending = open.find((p) => p.signed_sha256 === signedSha256);
    if (!pending && incoming === null) return { status: 'closed' } as const;
    const merged = pending
      ? unionSignatures(pending.envelope as unknown as Envelope, incoming ?? (pending.envelope as unknown as Envelope))
      : incoming!;
    const { decision, actor, delegation } = await decide(deps, tx.db, project, candidate, merged, verifier);
    const kept = validSignaturesOnly(merged, decision.validKeyids);
    const missing = await missingFiles(tx.db, candidate);
    const tooLarge = missing.find((f) => f.length > deps.maxTargetBytes);
    if (tooLarge)
      throw new TufError('target_too_large', `file ${tooLarge.path}: ${tooLarge.length} bytes, over the limit of ${deps.maxTargetBytes}`);
    if (!decision.publish || missing.length > 0) {
      const held = {
        status: decision.publish ? 'awaiting_files' : 'pending',
        version: candidate.version,
        signatures: decision.validKeyids.length,
        threshold: decision.threshold,
        signedSha256,
        missingFiles: missing,
      } as const;
      if (incoming === null) return held; // a file arrived, nothing else changed
      // Answered without a snapshot: this commit must be durable on its own.
      await commitSynchronously(tx.db);
      await upsertPending(tx.db, project, candidate.version, signedSha256, kept);
      await appendAudit(tx.db, {
        actor,
        action: 'project.pending',
        role: project,
        version: candidate.version,
        details: { signedBy: decision.validKeyids, threshold: decision.threshold, missingFiles: missing.map((f) => f.path) },
      });
      return held;
    }
    // Every attestation, against the delegation in force under the lock (core/provenance.ts).
    await verifyListedAttestations(deps, candidate, delegation);
    const stored = await storeTargetsVersion(tx.db, project, candidate, kept);
    // Under the role lock nobody else adds pending versions of this role: none open, none to close.
    const dropped = open.length > 0 ? await closePending(tx.db, project, candidate.version, signedSha256) : 0;
    await clearResignNeeded(tx.db, project);
    await appendAudit(tx.db, {
      actor,
      action: 'project.published',
      role: project,
      version: candidate.version,
      details: { signedBy: decision.validKeyids, targets: stored.records.length, droppedPending: dropped },
    });
    // The bytes go to this process's cache as they are, without a read back.
    return { status: 'committed', published: tx.announce(stored.published), changeSeq: stored.changeSeq } as const;
  });
  if (committed.status === 'closed') {
    // Published or dropped by another request meanwhile.
    const row = await pendingBySignedSha256(deps.knex, project, signedSha256);
    if (row?.status === 'published') return alreadyPublished(deps, project, candidate.version);
    throw new TufError('upload_not_found', `${project} v${candidate.version} is no longer open${row?.reason ? `: ${row.reason}` : ''}`);
  }
  if (committed.status !== 'committed') return committed;
  // Answered only once a snapshot and timestamp include it (here or by a concurrent publisher).
  const covering = await waitUntilCovered(deps, committed.changeSeq, `${project} v${candidate.version}`);
  return { status: 'published', version: candidate.version, published: [...committed.published, ...covering] };
}
