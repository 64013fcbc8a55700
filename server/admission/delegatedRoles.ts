// Admission of the delegated roles admins sign offline: the bins of the layered layout, which
// top-level targets delegates to the bins keys and which delegate projects to identities. Each is
// checked against its delegator (the top-level targets being stored with it, or the current one),
// stored, and reviewed like top-level targets: registrations it delegates become approved, project
// roles whose delegation changed are flagged for re-signing.
import { delegationIn, verifyDelegate } from '../../core/delegate.ts';
import { IDENTITY_KEYTYPE } from '../../core/identity.ts';
import { TufError } from '../../core/errors.ts';
import { parseMetadata, type ParsedMetadata } from '../../core/metadata.ts';
import { checkDelegationNames, checkTargetEntries } from '../../core/updates.ts';
import type { SignatureVerifier } from '../../core/verify.ts';
import { appendAudit } from '../db/auditRepo.ts';
import { getHead } from '../db/metadataRepo.ts';
import type { CurrentMetadata } from '../publication/currentMetadata.ts';
import type { PublicationTx } from '../publication/publication.ts';
import { storeTargetsVersion } from '../roles/storeRole.ts';
import type { PublishedRole } from '../serving/published.ts';
import { approveDelegatedRegistrations, reviewDelegations } from './delegationReview.ts';
import { checkNewDelegationNames } from './projectNames.ts';

/** Role name -> its signed metadata, as an admin submits them. */
export type DelegatedSubmission = Map<string, unknown>;

export interface DelegatedRoleDeps {
  current: CurrentMetadata;
  verifier: SignatureVerifier;
  now: Date;
  /** RESERVED_PROJECT_NAMES: refused as project delegations (issue 19). */
  reservedProjectNames?: string[];
}

/** Parses a submission before any lock is taken (structure only). */
export function parseDelegated(submission: DelegatedSubmission): Map<string, ParsedMetadata<'targets'>> {
  const parsed = new Map<string, ParsedMetadata<'targets'>>();
  for (const [name, json] of submission) parsed.set(name, parseMetadata(json, 'targets', name));
  return parsed;
}

/**
 * Verifies and stores each role against `top` (the top-level targets in force once this
 * transaction commits) and returns what it stored. Refuses in a fixed order: a role top-level
 * targets does not delegate to offline keys, structure, then TUF 5.6.3-5.6.5 against the delegator.
 */
export async function admitDelegatedRoles(
  tx: PublicationTx,
  top: ParsedMetadata<'targets'>,
  roles: Map<string, ParsedMetadata<'targets'>>,
  actor: string,
  deps: DelegatedRoleDeps,
): Promise<PublishedRole[]> {
  const out: PublishedRole[] = [];
  for (const [name, candidate] of roles) {
    const delegation = delegationIn('targets', top.model, name);
    if (!delegation) throw new TufError('not_delegated', `top-level targets v${top.version} does not delegate ${name}`);
    if (Object.values(delegation.keys).some((k) => k.keytype === IDENTITY_KEYTYPE)) {
      throw new TufError('not_an_offline_role', `${name} is delegated to identities: its maintainers publish it, not the admins`);
    }
    checkTargetEntries(candidate);
    checkDelegationNames(candidate);
    const head = await getHead(tx.db, name);
    verifyDelegate({
      name,
      candidate,
      authorities: [
        { label: `${name} v${candidate.version} by its keys in targets v${top.version}`, keys: delegation.keys, role: delegation.role },
      ],
      currentVersion: head?.version ?? null,
      now: deps.now,
      verifier: deps.verifier,
    });
    const previous = await deps.current.delegated(tx.db, name);
    await checkNewDelegationNames(tx.db, previous, candidate, deps.reservedProjectNames ?? [], top, deps.current);
    const stored = await storeTargetsVersion(tx.db, name, candidate);
    deps.current.remember(name, candidate, stored.published.file!.sha256);
    await appendAudit(tx.db, {
      actor,
      action: 'delegated.accepted',
      role: name,
      version: candidate.version,
      details: {
        signedBy: candidate.envelope.signatures.map((s) => s.keyid),
        delegations: Object.keys(candidate.model.delegations?.roles ?? {}).length,
      },
    });
    await approveDelegatedRegistrations(tx.db, name, candidate);
    await reviewDelegations(tx.db, name, previous, candidate, deps.verifier, top.version);
    out.push(...tx.announce(stored.published));
  }
  return out;
}
