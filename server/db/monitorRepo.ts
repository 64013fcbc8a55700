// The transparency monitor's tables (migrations/20261216120000_transparency_monitor.ts).
import type { Db } from './knex.ts';
import type {
  MetadataVersionRow,
  MonitorCandidateRow,
  MonitorFindingRow,
  MonitorSignatureRow,
  MonitorStateRow,
  PendingUploadRow,
  RegistrationRow,
} from './rows.ts';

export async function getMonitorState(db: Db, logUrl: string): Promise<MonitorStateRow | undefined> {
  return db<MonitorStateRow>('monitor_state').where({ log_url: logUrl }).first();
}

/** Takes (or renews) the right to poll `logUrl` until `until`; false while another process holds it. */
export async function takeMonitorLease(db: Db, logUrl: string, holder: string, now: Date, until: Date): Promise<boolean> {
  await db('monitor_state').insert({ log_url: logUrl }).onConflict('log_url').ignore();
  const n = await db('monitor_state')
    .where({ log_url: logUrl })
    .andWhere((q) => q.whereNull('lease_until').orWhere('lease_until', '<', now).orWhere('lease_holder', holder))
    .update({ lease_holder: holder, lease_until: until });
  return n === 1;
}

export async function releaseMonitorLease(db: Db, logUrl: string, holder: string): Promise<void> {
  await db('monitor_state').where({ log_url: logUrl, lease_holder: holder }).update({ lease_holder: null, lease_until: null });
}

export async function updateMonitorState(db: Db, logUrl: string, patch: Partial<Omit<MonitorStateRow, 'log_url'>>): Promise<void> {
  await db('monitor_state').where({ log_url: logUrl }).update(patch);
}

export async function addEntriesRead(db: Db, logUrl: string, next: number, read: number): Promise<void> {
  await db('monitor_state')
    .where({ log_url: logUrl })
    .update({ next_log_index: next, entries_read: db.raw('entries_read + ?', [read]) });
}

export interface MonitorCursor {
  metadata_id: string;
  registration_id: string;
  pending_updated_at: Date;
}

export async function getMonitorCursor(db: Db): Promise<MonitorCursor> {
  const row = await db<MonitorCursor & { id: number }>('monitor_cursor').where({ id: 1 }).first();
  return row ?? { metadata_id: '0', registration_id: '0', pending_updated_at: new Date(0) };
}

export async function setMonitorCursor(db: Db, patch: Partial<MonitorCursor>): Promise<void> {
  await db('monitor_cursor').where({ id: 1 }).update(patch);
}

/** Stored versions of delegated roles after `afterId` (top-level roles and bins are signed with keys, not identities). */
export async function delegatedVersionsAfter(
  db: Db,
  afterId: string,
  limit: number,
): Promise<Pick<MetadataVersionRow, 'id' | 'role' | 'version' | 'bytes' | 'created_at'>[]> {
  return db<MetadataVersionRow>('metadata_versions')
    .where('id', '>', afterId)
    .whereNotIn('role', ['root', 'targets', 'snapshot', 'timestamp'])
    .andWhere('role', 'not like', 'bin-%')
    .orderBy('id', 'asc')
    .limit(limit)
    .select('id', 'role', 'version', 'bytes', 'created_at');
}

export async function registrationsAfter(db: Db, afterId: string, limit: number): Promise<RegistrationRow[]> {
  return db<RegistrationRow>('registrations').where('id', '>', afterId).orderBy('id', 'asc').limit(limit);
}

/** Pending versions changed at or after `since` (co-signatures are merged in place). */
export async function pendingChangedSince(db: Db, since: Date, limit: number): Promise<PendingUploadRow[]> {
  return db<PendingUploadRow>('pending_uploads').where('updated_at', '>=', since).orderBy('updated_at', 'asc').limit(limit);
}

export type NewMonitorSignature = Omit<MonitorSignatureRow, 'id' | 'log_check' | 'log_checked_at'>;

export async function insertMonitorSignatures(db: Db, rows: NewMonitorSignature[]): Promise<void> {
  if (rows.length === 0) return;
  await db('monitor_signatures').insert(rows).onConflict(['source', 'role', 'signed_sha256', 'identity', 'issuer', 'log_index']).ignore();
}

/** Whether the repository received a signature by this identity over this digest (in any form). */
export async function receivedDigest(db: Db, digest: string, identity: string, issuer: string): Promise<boolean> {
  const row = await db('monitor_signatures').where({ signed_sha256: digest, identity, issuer }).first('id');
  return row !== undefined;
}

export async function uncheckedPublished(db: Db, limit: number): Promise<MonitorSignatureRow[]> {
  return db<MonitorSignatureRow>('monitor_signatures')
    .where({ source: 'published' })
    .whereNull('log_check')
    .orderBy('id', 'asc')
    .limit(limit);
}

export async function markLogCheck(db: Db, id: string, result: NonNullable<MonitorSignatureRow['log_check']>, at: Date): Promise<void> {
  await db('monitor_signatures').where({ id }).update({ log_check: result, log_checked_at: at });
}

export async function publishedLogChecks(db: Db): Promise<{ checked: number; unchecked: number }> {
  const rows = (await db('monitor_signatures')
    .where({ source: 'published' })
    .select(db.raw('count(log_check) as checked'), db.raw('count(*) - count(log_check) as unchecked'))) as {
    checked: string;
    unchecked: string;
  }[];
  return { checked: Number(rows[0]?.checked ?? 0), unchecked: Number(rows[0]?.unchecked ?? 0) };
}

export async function addCandidate(db: Db, row: MonitorCandidateRow): Promise<void> {
  await db('monitor_candidates').insert(row).onConflict(['log_url', 'uuid']).ignore();
}

export async function listCandidates(db: Db, logUrl: string): Promise<MonitorCandidateRow[]> {
  return db<MonitorCandidateRow>('monitor_candidates').where({ log_url: logUrl }).orderBy('log_index', 'asc');
}

export async function removeCandidate(db: Db, logUrl: string, uuid: string): Promise<void> {
  await db('monitor_candidates').where({ log_url: logUrl, uuid }).delete();
}

export async function examinedAmong(db: Db, logUrl: string, uuids: string[]): Promise<Set<string>> {
  if (uuids.length === 0) return new Set();
  const rows = await db('monitor_examined').where({ log_url: logUrl }).whereIn('uuid', uuids).select('uuid');
  return new Set(rows.map((r: { uuid: string }) => r.uuid));
}

export async function markExamined(db: Db, logUrl: string, uuids: string[]): Promise<void> {
  if (uuids.length === 0) return;
  await db('monitor_examined')
    .insert(uuids.map((uuid) => ({ log_url: logUrl, uuid })))
    .onConflict(['log_url', 'uuid'])
    .ignore();
}

export type NewMonitorFinding = Omit<MonitorFindingRow, 'id' | 'detected_at'>;

/** Records a finding once (by its dedupe key); true when it is new. */
export async function insertFinding(db: Db, f: NewMonitorFinding): Promise<boolean> {
  const rows = await db('monitor_findings')
    .insert({ ...f, projects: JSON.stringify(f.projects) })
    .onConflict('dedupe_key')
    .ignore()
    .returning('id');
  return rows.length === 1;
}

export async function listFindings(
  db: Db,
  filter: { identity?: string; issuer?: string; beforeId?: number; limit: number },
): Promise<MonitorFindingRow[]> {
  const q = db<MonitorFindingRow>('monitor_findings').orderBy('id', 'desc').limit(filter.limit);
  if (filter.identity !== undefined) q.where({ identity: filter.identity });
  if (filter.issuer !== undefined) q.where({ issuer: filter.issuer });
  if (filter.beforeId !== undefined) q.where('id', '<', filter.beforeId);
  return q;
}

export async function countFindings(db: Db): Promise<number> {
  const [row] = await db('monitor_findings').count({ n: '*' });
  return Number(row?.n ?? 0);
}

export async function receivedBy(db: Db, identity: string, issuer: string, limit: number): Promise<MonitorSignatureRow[]> {
  return db<MonitorSignatureRow>('monitor_signatures').where({ identity, issuer }).orderBy('id', 'desc').limit(limit);
}
