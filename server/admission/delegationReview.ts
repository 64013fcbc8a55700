// What a new top-level targets version means for the maintainers: registrations it delegates
// become approved, and project roles whose published version no longer meets their (changed)
// delegation are flagged for re-signing. Runs inside the transaction that stores targets.
import { delegationIn } from '../../core/delegate.ts';
import { changedDelegations, delegationMaintainers, resignReason } from '../../core/delegations.ts';
import { parseMetadata, type ParsedMetadata } from '../../core/metadata.ts';
import type { SignatureVerifier } from '../../core/verify.ts';
import { appendAudit } from '../db/auditRepo.ts';
import type { Db } from '../db/knex.ts';
import { getHeads, getMetadataVersion, wholeBytes } from '../db/metadataRepo.ts';
import { clearResignNeeded, decideRegistrations, listRegistrations, markResignNeeded } from '../db/projectsRepo.ts';

/**
 * After maintainers or thresholds change, finds the project roles whose published metadata no
 * longer meets the delegation: clients refuse them until a maintainer re-signs. Only changed
 * delegations are checked.
 */
export async function reviewDelegations(
  trx: Db,
  delegator: string,
  previous: ParsedMetadata<'targets'> | null,
  next: ParsedMetadata<'targets'>,
  verifier: SignatureVerifier,
  /** The top-level targets version in force; `next`'s own version when `delegator` is top-level targets. */
  topTargetsVersion: number = next.version,
): Promise<void> {
  const changed = changedDelegations(previous?.model ?? null, next.model);
  // Batched: approving a thousand registrations in one bin is a few queries, not thousands.
  const heads = await getHeads(trx, changed);
  const fine: string[] = [];
  for (const name of changed) {
    const delegation = delegationIn(delegator, next.model, name);
    const head = heads.get(name);
    if (!delegation || !head) {
      fine.push(name);
      continue;
    }
    const row = await getMetadataVersion(trx, name, head.version);
    const role = parseMetadata(JSON.parse(wholeBytes(row!).toString('utf8')), 'targets', name);
    const reason = resignReason(role, delegation, verifier, previous ? delegationIn(delegator, previous.model, name) : null);
    if (reason) {
      await markResignNeeded(trx, {
        role: name,
        role_version: head.version,
        targets_version: topTargetsVersion,
        delegator,
        delegator_version: next.version,
        reason,
      });
      await appendAudit(trx, {
        actor: 'server',
        action: 'project.resign_needed',
        role: name,
        version: head.version,
        details: { reason, targetsVersion: topTargetsVersion, delegator, delegatorVersion: next.version },
      });
    } else {
      fine.push(name);
    }
  }
  await clearResignNeeded(trx, fine);
}

/** Pending registrations that this targets version delegates become approved. */
export async function approveDelegatedRegistrations(trx: Db, delegator: string, targets: ParsedMetadata<'targets'>): Promise<void> {
  const pending = await listRegistrations(trx, { status: 'pending' });
  const approved = pending.filter((r) => {
    const delegation = delegationIn(delegator, targets.model, r.project);
    return delegation !== null && delegationMaintainers(delegation).some((m) => m.identity === r.identity && m.issuer === r.issuer);
  });
  await decideRegistrations(
    trx,
    approved.map((r) => r.id),
    'approved',
  );
  for (const r of approved) {
    await appendAudit(trx, {
      actor: 'server',
      action: 'registration.approved',
      role: r.project,
      version: targets.version,
      details: { identity: r.identity, issuer: r.issuer },
    });
  }
}
