import type { Envelope } from '../../core/metadata.ts';
import type { Db } from './knex.ts';
import type { PendingUploadRow, RegistrationRow, ResignNeededRow } from './rows.ts';

export interface NewRegistration {
  project: string;
  identity: string;
  issuer: string;
  requestedAt: Date;
  requestSha256: string;
  signature: Record<string, unknown>;
}

/** Inserts a registration; an identical signed request already stored is returned instead. */
export async function insertRegistration(db: Db, r: NewRegistration): Promise<{ row: RegistrationRow; created: boolean }> {
  const inserted = await db<RegistrationRow>('registrations')
    .insert({
      project: r.project,
      identity: r.identity,
      issuer: r.issuer,
      requested_at: r.requestedAt,
      request_sha256: r.requestSha256,
      signature: r.signature,
    } as never)
    .onConflict('request_sha256')
    .ignore()
    .returning('*');
  if (inserted[0]) return { row: inserted[0] as RegistrationRow, created: true };
  const existing = await db<RegistrationRow>('registrations').where({ request_sha256: r.requestSha256 }).first();
  return { row: existing!, created: false };
}

export async function listRegistrations(db: Db, filter: { status?: string; project?: string }): Promise<RegistrationRow[]> {
  const q = db<RegistrationRow>('registrations').orderBy('id');
  if (filter.status) q.where({ status: filter.status as RegistrationRow['status'] });
  if (filter.project) q.where({ project: filter.project });
  return q;
}

export async function decideRegistrations(db: Db, ids: string[], status: 'approved' | 'rejected'): Promise<number> {
  if (ids.length === 0) return 0;
  return db<RegistrationRow>('registrations')
    .whereIn('id', ids)
    .where({ status: 'pending' })
    .update({ status, decided_at: db.fn.now() as never });
}

export async function listPending(db: Db, role: string): Promise<PendingUploadRow[]> {
  return db<PendingUploadRow>('pending_uploads').where({ role, status: 'pending' }).orderBy('id');
}

export async function upsertPending(db: Db, role: string, version: number, signedSha256: string, envelope: Envelope): Promise<void> {
  await db<PendingUploadRow>('pending_uploads')
    .insert({ role, version, signed_sha256: signedSha256, envelope: envelope as never, status: 'pending' })
    .onConflict(['role', 'signed_sha256'])
    .merge({ envelope: envelope as never, updated_at: db.fn.now() as never });
}

/** Closes every pending version of `role` at or below `version`: the published one, and the overtaken. */
export async function closePending(db: Db, role: string, version: number, publishedSha256: string): Promise<number> {
  await db<PendingUploadRow>('pending_uploads')
    .where({ role, status: 'pending', signed_sha256: publishedSha256 })
    .update({ status: 'published', updated_at: db.fn.now() as never });
  return db<PendingUploadRow>('pending_uploads')
    .where({ role, status: 'pending' })
    .where('version', '<=', version)
    .update({
      status: 'dropped',
      reason: `overtaken: version ${version} of ${role} was published with other content`,
      updated_at: db.fn.now() as never,
    });
}

export async function markResignNeeded(db: Db, row: Omit<ResignNeededRow, 'detected_at'>): Promise<void> {
  await db<ResignNeededRow>('resign_needed')
    .insert(row)
    .onConflict('role')
    .merge(['role_version', 'targets_version', 'delegator', 'delegator_version', 'reason']);
}

export async function clearResignNeeded(db: Db, role: string | readonly string[]): Promise<void> {
  const roles = typeof role === 'string' ? [role] : role;
  for (let i = 0; i < roles.length; i += 1000)
    await db<ResignNeededRow>('resign_needed')
      .whereIn('role', roles.slice(i, i + 1000))
      .delete();
}

export async function listResignNeeded(db: Db, role?: string): Promise<ResignNeededRow[]> {
  const q = db<ResignNeededRow>('resign_needed').orderBy('role');
  if (role) q.where({ role });
  return q;
}

/** Key of the advisory lock that serializes registrations ("tuf_reg"), so the pending limits hold across processes. */
const REGISTRATION_LOCK_KEY = 0x7475665f726567n;

export async function lockRegistrations(trx: Db): Promise<void> {
  await trx.raw('select pg_advisory_xact_lock(?::bigint)', [REGISTRATION_LOCK_KEY.toString()]);
}

/** Pending registrations by one identity (identity and issuer). */
export async function countPendingByIdentity(db: Db, identity: string, issuer: string): Promise<number> {
  const row = await db<RegistrationRow>('registrations').where({ identity, issuer, status: 'pending' }).count({ n: '*' }).first();
  return Number(row?.n ?? 0);
}

/** Pending registrations whose project normalizes (PEP 503) like `project`, oldest first. */
export async function pendingRegistrationsLike(db: Db, project: string): Promise<RegistrationRow[]> {
  return db<RegistrationRow>('registrations')
    .where({ status: 'pending' })
    .whereRaw('project_name_normalized(project) = project_name_normalized(?)', [project])
    .orderBy('id');
}

/** Every pending registration, oldest first (contests are computed over all of them). */
export async function allPendingRegistrations(db: Db): Promise<RegistrationRow[]> {
  return db<RegistrationRow>('registrations').where({ status: 'pending' }).orderBy('id');
}

/** Names of stored roles and of approved registrations that normalize like `project` (projects the server knows). */
export async function knownProjectsLike(db: Db, project: string): Promise<string[]> {
  return knownProjectsLikeAny(db, [project]);
}

/** Names of stored roles and approved registrations that normalize like any of `names`. */
export async function knownProjectsLikeAny(db: Db, names: string[]): Promise<string[]> {
  if (names.length === 0) return [];
  const res = await db.raw(
    `with wanted as (select distinct project_name_normalized(n) as n from unnest(?::text[]) as n)
     select role as name from role_heads where project_name_normalized(role) in (select n from wanted)
     union select project from registrations where status = 'approved' and project_name_normalized(project) in (select n from wanted)`,
    [names],
  );
  return (res.rows as { name: string }[]).map((r) => r.name);
}

/** Projects of pending registrations that normalize like any of `names`. */
export async function pendingProjectsLikeAny(db: Db, names: string[]): Promise<string[]> {
  if (names.length === 0) return [];
  const res = await db.raw(
    `select distinct project from registrations where status = 'pending'
     and project_name_normalized(project) in (select project_name_normalized(n) from unnest(?::text[]) as n)`,
    [names],
  );
  return (res.rows as { project: string }[]).map((r) => r.project);
}

/** The upload of `role` with these signed bytes, whatever its status (pending, published or dropped). */
export async function pendingBySignedSha256(db: Db, role: string, signedSha256: string): Promise<PendingUploadRow | undefined> {
  return db<PendingUploadRow>('pending_uploads').where({ role, signed_sha256: signedSha256 }).first();
}
