// The checks of an upload against its project's delegation, none of which stores anything: cheap
// ones a stranger can trigger (signedByDelegate), core's full decision (decide), and the inline
// files against the metadata (checkFiles). The order is what keeps a stranger's upload cheap.
import { sha256Hex, sha512Hex } from '../../core/canonical.ts';
import type { Delegation } from '../../core/delegate.ts';
import { assertTargetCount, verifyProjectUpload, type UploadDecision } from '../../core/delegations.ts';
import { TufError } from '../../core/errors.ts';
import type { Envelope, ParsedMetadata, SignedDocument } from '../../core/metadata.ts';
import { assertDelegatedRoleName } from '../../core/names.ts';
import { checkTargetEntries } from '../../core/updates.ts';
import { checkThreshold, signaturesToVerify, type MemoizedVerifier } from '../../core/verify.ts';
import type { Db } from '../db/knex.ts';
import { getHead } from '../db/metadataRepo.ts';
import { checkAttestationLengths } from './provenanceChecks.ts';
import type { Preverified, ProjectDeps } from './projectTypes.ts';

/** The project's delegation in `db`'s view of top-level targets; refused when there is none. */
export async function delegationFor(deps: ProjectDeps, db: Db, project: string): Promise<Delegation> {
  assertDelegatedRoleName(project);
  const found = await deps.current.delegationOf(db, project);
  if (!found) throw new TufError('not_bootstrapped', 'the repository is not bootstrapped yet');
  const { delegation } = found;
  if (!delegation)
    throw new TufError(
      'not_delegated',
      `project ${project} is not delegated to any maintainer; register first and wait for an admin's approval`,
    );
  return delegation;
}

/** Checks uploaded files against the metadata, before anything is stored. */
export function checkFiles(candidate: ParsedMetadata<'targets'>, files: Map<string, Buffer>): void {
  const listed = candidate.model.targets;
  for (const [path, bytes] of files) {
    const entry = Object.prototype.hasOwnProperty.call(listed, path) ? listed[path] : undefined;
    if (!entry) throw new TufError('target_hash_mismatch', `file ${path} is not listed in the metadata`);
    if (bytes.length !== entry.length)
      throw new TufError('target_hash_mismatch', `file ${path}: ${bytes.length} bytes, metadata says ${entry.length}`);
    if (sha256Hex(bytes) !== entry.hashes.sha256)
      throw new TufError('target_hash_mismatch', `file ${path}: sha256 differs from the metadata`);
    if (entry.hashes.sha512 !== undefined && sha512Hex(bytes) !== entry.hashes.sha512) {
      throw new TufError('target_hash_mismatch', `file ${path}: sha512 differs from the metadata`);
    }
  }
}

/** Records a worker's verdicts, keyed by the keys it verified against (a changed delegation misses them). */
export function rememberVerdicts(verifier: MemoizedVerifier, candidate: SignedDocument<'targets'>, pre: Preverified): void {
  const valid = new Set(pre.validKeyids);
  const invalid = new Set(pre.invalidKeyids);
  for (const signature of candidate.envelope.signatures) {
    const key = Object.prototype.hasOwnProperty.call(pre.authority.keys, signature.keyid) ? pre.authority.keys[signature.keyid] : undefined;
    if (!key || !(valid.has(signature.keyid) || invalid.has(signature.keyid))) continue;
    verifier.remember(key, signature, candidate.signedBytes, valid.has(signature.keyid));
  }
}

/** Verdicts for the signatures a threshold check will look at, reached on worker threads. */
export async function verifyAhead(
  deps: ProjectDeps,
  verifier: MemoizedVerifier,
  envelope: Envelope,
  signedBytes: Buffer,
  delegation: Delegation,
): Promise<void> {
  const pool = deps.verifierPool;
  if (!pool) return;
  const unknown = signaturesToVerify(envelope.signatures, delegation.keys, delegation.role).filter(
    ({ key, signature }) => !verifier.knows(key, signature, signedBytes),
  );
  await Promise.all(
    unknown.map(async ({ key, signature }) => {
      const verdict = await pool.verify(key, signature, signedBytes);
      if (verdict !== null) verifier.remember(key, signature, signedBytes, verdict);
    }),
  );
}

/** Core's decision on `envelope` (the candidate's signed bytes) against the delegation and version in `db`. */
export async function decide(
  deps: ProjectDeps,
  db: Db,
  project: string,
  candidate: ParsedMetadata<'targets'>,
  envelope: Envelope,
  verifier: MemoizedVerifier,
): Promise<{ decision: UploadDecision; actor: string; delegation: Delegation }> {
  const delegation = await delegationFor(deps, db, project);
  const head = await getHead(db, project);
  // A merged envelope has the candidate's signed bytes (unionSignatures checks): no re-parse.
  const parsed = envelope === candidate.envelope ? candidate : { ...candidate, envelope };
  await verifyAhead(deps, verifier, envelope, candidate.signedBytes, delegation);
  const decision = verifyProjectUpload({
    candidate: parsed,
    delegation,
    currentVersion: head?.version ?? null,
    now: deps.clock.now(),
    verifier,
    maxExpirySeconds: deps.projectMaxExpirySeconds,
  });
  checkAttestationLengths(parsed);
  const signers = decision.validKeyids.map((k) => {
    const key = Object.prototype.hasOwnProperty.call(delegation.keys, k) ? delegation.keys[k] : undefined;
    return String(key?.keyval.identity ?? k);
  });
  return { decision, actor: `identity:${signers.join(',')}`, delegation };
}

/**
 * What a stranger can make the server do, kept cheap: core's checks that need no tuf-js (target
 * entries, no nested delegation, the number of targets) and at least one valid signature by a
 * delegated identity, refused in the order `verifyProjectUpload` refuses. tuf-js reads a
 * role's targets in quadratic time, so it runs only past this point.
 */
export async function signedByDelegate(
  deps: ProjectDeps,
  project: string,
  head: SignedDocument<'targets'>,
  verifier: MemoizedVerifier,
): Promise<void> {
  checkTargetEntries(head);
  if (head.envelope.signed.delegations !== undefined) throw new TufError('nested_delegation', `${project} may not delegate further`);
  assertTargetCount(project, head.envelope.signed.targets, deps.maxTargetsPerProjectRole);
  const delegation = await delegationFor(deps, deps.knex, project);
  await verifyAhead(deps, verifier, head.envelope, head.signedBytes, delegation);
  const result = checkThreshold(head.envelope.signatures, head.signedBytes, delegation.keys, delegation.role, verifier);
  if (result.validKeyids.length === 0) {
    throw new TufError('threshold_not_met', `${project} v${head.version}: no valid signature by an identity delegated for ${project}`, {
      verdicts: result.verdicts,
    });
  }
}
