// The common upload in one round trip to PostgreSQL (issue 14): a version signed by enough
// delegated identities, whose files are all held or sent inline, of a role with no pending version.
// Everything is decided from what this process holds in memory: the delegation (found in the
// parsed top-level targets and bins, publication/currentMetadata.ts knownDelegation) and the role's
// current version (the read side's heads). Memory may be behind the database; the one statement
// that commits (db/roleCommit.ts) therefore checks, under the same locks as the full commit, that
// every document the decision rested on and the role's head are still what the database holds,
// and writes nothing otherwise. Whenever anything differs, is refused here, or needs the database
// to tell, this answers null and the caller takes the full path (projectService.ts), which decides
// again from the database: a refusal is only ever given by that path, so a stale memory can cost
// a second look, never a wrong answer. A version listing build-provenance attestations takes the
// full path too (their bytes are verified under the role lock there).
import { sha256Hex } from '../../core/canonical.ts';
import type { Delegation } from '../../core/delegate.ts';
import { assertTargetCount, validSignaturesOnly, verifyProjectUpload } from '../../core/delegations.ts';
import { parseMetadata, servedBytes, type SignedDocument } from '../../core/metadata.ts';
import { checkTargetEntries } from '../../core/updates.ts';
import { checkThreshold, type MemoizedVerifier } from '../../core/verify.ts';
import { isAttestationPath } from '../../core/provenance.ts';
import { encodeAnnouncement } from '../db/notifications.ts';
import { commitRoleInOneStatement, type CommitRefusal } from '../db/roleCommit.ts';
import type { TargetRecord } from '../db/targetsRepo.ts';
import { waitUntilCovered, type ProjectDeps, type UploadResult } from './projectTypes.ts';
import { checkFiles, verifyAhead } from './uploadChecks.ts';

/** What the one-statement path needs beyond the project service's dependencies. */
export interface FastCommitDeps {
  /** Tags NOTIFY payloads (the publication's origin): this process skips its own. */
  origin: string;
  /** The current version of a role as this process serves it (undefined: none known). */
  knownHead(role: string): number | undefined;
  /** Hands a committed file to this process's read side before the answer, as publications do. */
  onCommitted(published: { role: string; version: number; file: { bytes: Buffer; sha256: string; expires: Date } }): Promise<void>;
  /** Counts which path each upload took, and why it left the one statement (metrics). */
  onPath?(
    path: 'one_statement' | 'full',
    reason: CommitRefusal | 'not_in_memory' | 'refused_in_memory' | 'not_met' | 'provenance' | '',
  ): void;
}

/**
 * Publishes `head` in one statement when memory says it may be, or answers null. Does not throw
 * for a refusal: the full path gives those, from the database.
 */
export async function tryFastUpload(
  deps: ProjectDeps,
  fast: FastCommitDeps,
  project: string,
  head: SignedDocument<'targets'>,
  metadata: unknown,
  files: Map<string, Buffer>,
  verifier: MemoizedVerifier,
  roundTripChecked: boolean,
): Promise<UploadResult | null> {
  const known = await deps.current.knownDelegation(project);
  if (!known || !known.delegation) {
    fast.onPath?.('full', 'not_in_memory');
    return null;
  }
  const delegation: Delegation = known.delegation;
  let decided;
  try {
    // The cheap checks first, as signedByDelegate orders them: tuf-js only after a valid signature.
    checkTargetEntries(head);
    if (head.envelope.signed.delegations !== undefined) throw new Error('nested delegation: the full path refuses it');
    assertTargetCount(project, head.envelope.signed.targets, deps.maxTargetsPerProjectRole);
    await verifyAhead(deps, verifier, head.envelope, head.signedBytes, delegation);
    if (checkThreshold(head.envelope.signatures, head.signedBytes, delegation.keys, delegation.role, verifier).validKeyids.length === 0) {
      fast.onPath?.('full', 'refused_in_memory');
      return null;
    }
    const candidate = parseMetadata(metadata, 'targets', project, { roundTripChecked });
    const previousVersion = fast.knownHead(project) ?? null;
    const decision = verifyProjectUpload({
      candidate,
      delegation,
      currentVersion: previousVersion,
      now: deps.clock.now(),
      verifier,
      maxExpirySeconds: deps.projectMaxExpirySeconds,
    });
    checkFiles(candidate, files);
    decided = { candidate, decision, previousVersion };
  } catch {
    fast.onPath?.('full', 'refused_in_memory');
    return null;
  }
  const { candidate, decision, previousVersion } = decided;
  if (!decision.publish) {
    fast.onPath?.('full', 'not_met');
    return null;
  }
  // Attestations are verified against their bytes, inline or held since an earlier version, under
  // the role lock (provenanceChecks.ts): the full path does that.
  if (Object.keys(candidate.model.targets).some(isAttestationPath)) {
    fast.onPath?.('full', 'provenance');
    return null;
  }
  const kept = validSignaturesOnly(candidate.envelope, decision.validKeyids);
  const bytes = servedBytes(kept);
  const sha256 = sha256Hex(bytes);
  const records: TargetRecord[] = Object.entries(candidate.model.targets).map(([path, file]) => {
    const custom = file.unrecognizedFields.custom as Record<string, unknown> | undefined;
    return { path, length: file.length, hashes: file.hashes, ...(custom ? { custom } : {}) };
  });
  const signers = decision.validKeyids.map((k) =>
    String((Object.hasOwn(delegation.keys, k) ? delegation.keys[k] : undefined)?.keyval.identity ?? k),
  );
  // Inline files go into the statement when files are kept in PostgreSQL; elsewhere (a bucket,
  // BLOB_STORE_URL) they are stored first, as the full path stores them, and the statement only
  // finds them held.
  const inline = [...files.values()];
  const inStatement = deps.blobs.storesInDatabase;
  if (!inStatement) for (const content of inline) await deps.blobs.put(content);
  const outcome = await commitRoleInOneStatement(deps.knex, {
    role: project,
    version: candidate.version,
    previousVersion,
    bytes,
    sha256,
    expires: candidate.expires,
    basis: known.basis,
    records,
    inlineFiles: inStatement ? inline.map((content) => ({ sha256: sha256Hex(content), content })) : [],
    actor: `identity:${signers.join(',')}`,
    auditDetails: { signedBy: decision.validKeyids, targets: records.length, droppedPending: 0 },
    announcement: encodeAnnouncement(fast.origin, [{ role: project, version: candidate.version, expires: candidate.expires }]),
  });
  if (!outcome.committed) {
    fast.onPath?.('full', outcome.reason);
    return null;
  }
  fast.onPath?.('one_statement', '');
  const file = { bytes, sha256, expires: candidate.expires };
  await fast.onCommitted({ role: project, version: candidate.version, file });
  // Answered only once a snapshot and timestamp include it (db/locks.ts, step 3).
  const covering = await waitUntilCovered(deps, outcome.changeSeq, `${project} v${candidate.version}`);
  return { status: 'published', version: candidate.version, published: [{ role: project, version: candidate.version }, ...covering] };
}
