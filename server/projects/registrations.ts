// Maintainers asking for a project: signed registration requests, which admins then approve (by
// delegating the project in targets, see admission/) or reject.
import type { Clock } from '../../core/clock.ts';
import { verifyRegistration } from '../../core/delegations.ts';
import { TufError } from '../../core/errors.ts';
import type { IdentitySignatureVerifier } from '../../core/identity.ts';
import type { CompetingRegistrationJson, ProjectRegistrationsJson, RegistrationJson, RegistrationListJson } from '../../core/apiTypes.ts';
import {
  assertProjectNameAvailable,
  contestedProjects,
  isContested,
  normalizeProjectName,
  reservedProjectNames,
  separatorVariants,
  type KnownName,
  type PendingClaim,
} from '../../core/projectNames.ts';
import { assertDelegatedRoleName } from '../../core/names.ts';
import { appendAudit } from '../db/auditRepo.ts';
import type { Db } from '../db/knex.ts';
import {
  allPendingRegistrations,
  countPendingByIdentity,
  decideRegistrations,
  insertRegistration,
  knownProjectsLike,
  listRegistrations,
  lockRegistrations,
  pendingRegistrationsLike,
} from '../db/projectsRepo.ts';
import type { RegistrationRow } from '../db/rows.ts';
import type { CurrentMetadata } from '../publication/currentMetadata.ts';

export interface RegistrationDeps {
  db: Db;
  clock: Clock;
  current: CurrentMetadata;
  verifier: IdentitySignatureVerifier;
  registrationMaxSkewSeconds: number;
  /** Pending registrations one identity may hold (default 10): more answer 429. */
  maxPendingPerIdentity?: number;
  /** Pending registrations one project may have (default 5): more answer 409. */
  maxPendingPerProject?: number;
  /** RESERVED_PROJECT_NAMES, besides the folders top-level targets uses. */
  reservedProjectNames?: string[];
}

function claimOf(r: RegistrationRow): PendingClaim {
  return { id: Number(r.id), project: r.project, identity: r.identity, issuer: r.issuer, requestedAt: r.requested_at.toISOString() };
}

const competingView = (c: PendingClaim): CompetingRegistrationJson => ({
  id: c.id,
  project: c.project,
  identity: c.identity,
  issuer: c.issuer,
  requestedAt: c.requestedAt,
});

/** A registration as the API shows it; `pendingLike` are the pending registrations for the same (normalized) project. */
export function registrationView(r: RegistrationRow, pendingLike: RegistrationRow[] = []): RegistrationJson {
  const group = r.status === 'pending' ? pendingLike.map(claimOf) : [];
  const contested = r.status === 'pending' && isContested(group);
  return {
    id: Number(r.id),
    project: r.project,
    identity: r.identity,
    issuer: r.issuer,
    status: r.status,
    requestedAt: r.requested_at.toISOString(),
    createdAt: r.created_at.toISOString(),
    contested,
    competing: contested ? group.filter((c) => c.id !== Number(r.id)).map(competingView) : [],
  };
}

export class RegistrationService {
  constructor(private readonly deps: RegistrationDeps) {}

  /** Names no project may take: the folders of top-level targets' own files, and the configured ones (normalized). */
  async reservedNames(db: Db = this.deps.db): Promise<Set<string>> {
    const targets = await this.deps.current.targets(db);
    return reservedProjectNames(targets ? Object.keys(targets.model.targets) : [], this.deps.reservedProjectNames ?? []);
  }

  /**
   * Projects `project` could be mistaken for: delegated ones (top-level targets' own list, and each
   * other spelling looked up through the delegations, which finds projects delegated by bins),
   * stored project roles and approved registrations.
   */
  private async knownProjects(db: Db, project: string): Promise<KnownName[]> {
    const names = new Set<string>(await knownProjectsLike(db, project));
    const targets = await this.deps.current.targets(db);
    const normalized = normalizeProjectName(project);
    for (const name of Object.keys(targets?.model.delegations?.roles ?? {})) if (normalizeProjectName(name) === normalized) names.add(name);
    const variants = (separatorVariants(project, 80) ?? []).filter((v) => !names.has(v));
    for (const name of (await this.deps.current.delegationsOf(db, variants))?.keys() ?? []) names.add(name);
    return [...names].map((name) => ({ name, source: 'project' as const }));
  }

  async register(body: unknown): Promise<{ registration: RegistrationJson; created: boolean }> {
    const request = verifyRegistration(body, this.deps.clock.now(), this.deps.verifier, this.deps.registrationMaxSkewSeconds);
    if ((await this.deps.current.delegationOf(this.deps.db, request.project))?.delegation) {
      throw new TufError('already_delegated', `project ${request.project} already has maintainers; ask them or an admin to add you`);
    }
    const reserved = await this.reservedNames();
    assertProjectNameAvailable(request.project, { reserved, known: await this.knownProjects(this.deps.db, request.project) });
    const signature = (body as { signatures: Record<string, unknown>[] }).signatures[0]!;
    const maxPerIdentity = this.deps.maxPendingPerIdentity ?? 10;
    const maxPerProject = this.deps.maxPendingPerProject ?? 5;
    // Under one lock across processes: the limits and the look-alike check see every registration
    // committed before, and none can slip in between check and insert.
    const { row, created, pendingLike } = await this.deps.db.transaction(async (trx) => {
      await lockRegistrations(trx);
      const like = await pendingRegistrationsLike(trx, request.project);
      const mine = like.find((r) => r.project === request.project && r.identity === request.identity && r.issuer === request.issuer);
      if (mine) return { row: mine, created: false, pendingLike: like }; // asked already: the first request stands
      assertProjectNameAvailable(request.project, {
        reserved,
        known: like.map((r) => ({ name: r.project, source: 'registration' as const })),
      });
      const inserted = await insertRegistration(trx, { ...request, signature });
      if (!inserted.created) return { row: inserted.row, created: false, pendingLike: like };
      if ((await countPendingByIdentity(trx, request.identity, request.issuer)) > maxPerIdentity) {
        throw new TufError(
          'registration_limit_identity',
          `${request.identity} at ${request.issuer} already has ${maxPerIdentity} pending registrations; wait until the admins decide on them`,
          { limit: maxPerIdentity },
        );
      }
      if (like.length >= maxPerProject) {
        throw new TufError(
          'registration_limit_project',
          `project ${request.project} already has ${like.length} pending registrations, the most it may have; the admins must decide on them first`,
          { limit: maxPerProject },
        );
      }
      await appendAudit(trx, {
        actor: `identity:${request.identity}`,
        action: 'registration.requested',
        role: request.project,
        details: { issuer: request.issuer, id: Number(inserted.row.id) },
      });
      return { row: inserted.row, created: true, pendingLike: [...like, inserted.row] };
    });
    return { registration: registrationView(row, pendingLike), created };
  }

  /** Registrations (filtered), each with its contest, every contested project, and the reserved names. */
  async list(filter: { status?: RegistrationRow['status']; project?: string }): Promise<RegistrationListJson> {
    const rows = await listRegistrations(this.deps.db, filter);
    const pending = await allPendingRegistrations(this.deps.db);
    const byName = new Map<string, RegistrationRow[]>();
    for (const r of pending) {
      const key = normalizeProjectName(r.project);
      byName.set(key, [...(byName.get(key) ?? []), r]);
    }
    const contested = [...contestedProjects(pending.map(claimOf))].map(([, claims]) => ({
      project: claims[0]!.project,
      registrations: claims.map(competingView),
    }));
    return {
      registrations: rows.map((r) => registrationView(r, byName.get(normalizeProjectName(r.project)) ?? [])),
      contested,
      reservedNames: [...(await this.reservedNames())].sort(),
    };
  }

  /** The pending registrations for `project` (and its look-alikes): public, so every registrant sees a contest. */
  async forProject(project: string): Promise<ProjectRegistrationsJson> {
    assertDelegatedRoleName(project);
    const claims = (await pendingRegistrationsLike(this.deps.db, project)).map(claimOf);
    return { project, contested: isContested(claims), registrations: claims.map(competingView) };
  }

  /** Rejects a pending registration; false when there is no pending one with that id. */
  async reject(id: string, actor: string): Promise<boolean> {
    if ((await decideRegistrations(this.deps.db, [id], 'rejected')) === 0) return false;
    await appendAudit(this.deps.db, { actor, action: 'registration.rejected', details: { id: Number(id) } });
    return true;
  }
}
