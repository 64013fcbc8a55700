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

export async function listAudit(db: Db, opts: { afterId?: number; limit: number }): Promise<AuditLogRow[]> {
  const q = db<AuditLogRow>('audit_log').orderBy('id', 'asc').limit(opts.limit);
  if (opts.afterId !== undefined) q.where('id', '>', opts.afterId);
  return q;
}
