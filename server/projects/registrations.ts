// Maintainers asking for a project: signed registration requests, which admins then approve (by
// delegating the project in targets, see admission/) or reject.
import type { Clock } from '../../core/clock.ts';
import { verifyRegistration } from '../../core/delegations.ts';
import { TufError } from '../../core/errors.ts';
import type { IdentitySignatureVerifier } from '../../core/identity.ts';
import type { RegistrationJson } from '../../core/apiTypes.ts';
import { appendAudit } from '../db/auditRepo.ts';
import type { Db } from '../db/knex.ts';
import { decideRegistrations, insertRegistration, listRegistrations } from '../db/projectsRepo.ts';
import type { RegistrationRow } from '../db/rows.ts';
import type { CurrentMetadata } from '../publication/currentMetadata.ts';

export interface RegistrationDeps {
  db: Db;
  clock: Clock;
  current: CurrentMetadata;
  verifier: IdentitySignatureVerifier;
  registrationMaxSkewSeconds: number;
}

export function registrationView(r: RegistrationRow): RegistrationJson {
  return { id: Number(r.id), project: r.project, identity: r.identity, issuer: r.issuer, status: r.status, requestedAt: r.requested_at.toISOString(), createdAt: r.created_at.toISOString() };
}

export class RegistrationService {
  constructor(private readonly deps: RegistrationDeps) {}

  async register(body: unknown): Promise<{ registration: RegistrationJson; created: boolean }> {
    const request = verifyRegistration(body, this.deps.clock.now(), this.deps.verifier, this.deps.registrationMaxSkewSeconds);
    if ((await this.deps.current.delegationOf(this.deps.db, request.project))?.delegation) {
      throw new TufError('already_delegated', `project ${request.project} already has maintainers; ask them or an admin to add you`);
    }
    const signature = (body as { signatures: Record<string, unknown>[] }).signatures[0]!;
    const { row, created } = await insertRegistration(this.deps.db, { ...request, signature });
    if (created) {
      await appendAudit(this.deps.db, {
        actor: `identity:${request.identity}`,
        action: 'registration.requested',
        role: request.project,
        details: { issuer: request.issuer, id: Number(row.id) },
      });
    }
    return { registration: registrationView(row), created };
  }

  async list(filter: { status?: RegistrationRow['status']; project?: string }): Promise<RegistrationJson[]> {
    return (await listRegistrations(this.deps.db, filter)).map(registrationView);
  }

  /** Rejects a pending registration; false when there is no pending one with that id. */
  async reject(id: string, actor: string): Promise<boolean> {
    if ((await decideRegistrations(this.deps.db, [id], 'rejected')) === 0) return false;
    await appendAudit(this.deps.db, { actor, action: 'registration.rejected', details: { id: Number(id) } });
    return true;
  }
}
