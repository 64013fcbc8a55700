import type { Db } from './knex.ts';
import type { AuditLogRow } from './rows.ts';

export interface AuditEntry {
  actor: string;
  action: string;
  role?: string;
  version?: number;
  details?: Record<string, unknown>;
}

export async function appendAudit(db: Db, entry: AuditEntry): Promise<void> {
  await db<AuditLogRow>('audit_log').insert({
    actor: entry.actor,
    action: entry.action,
    role: entry.role ?? null,
    version: entry.version ?? null,
    details: entry.details ?? null,
  } as never);
}

export interface AuditQuery {
  limit: number;
  afterId?: number;
  beforeId?: number;
  order?: 'asc' | 'desc';
  /** An action, or the prefix of a family of them (`monitor` matches `monitor.unknown_signature`). */
  action?: string;
  actor?: string;
  role?: string;
}

export async function listAudit(db: Db, opts: AuditQuery): Promise<AuditLogRow[]> {
  const q = db<AuditLogRow>('audit_log')
    .orderBy('id', opts.order ?? 'asc')
    .limit(opts.limit);
  if (opts.afterId !== undefined) q.where('id', '>', opts.afterId);
  if (opts.beforeId !== undefined) q.where('id', '<', opts.beforeId);
  if (opts.actor !== undefined) q.where({ actor: opts.actor });
  if (opts.role !== undefined) q.where({ role: opts.role });
  const action = opts.action;
  if (action !== undefined) {
    const prefix = `${action.replace(/[\\%_]/g, (c) => `\\${c}`)}.%`;
    q.where((w) => w.where({ action }).orWhere('action', 'like', prefix));
  }
  return q;
}
