// Reads for the console's history pages: stored (published) versions of one role, newest first.
import type { Db } from './knex.ts';
import type { MetadataVersionRow } from './rows.ts';

export async function roleVersionsBefore(
  db: Db,
  role: string,
  beforeVersion: number | null,
  limit: number,
): Promise<Pick<MetadataVersionRow, 'version' | 'bytes' | 'expires' | 'created_at'>[]> {
  const q = db<MetadataVersionRow>('metadata_versions').where({ role }).orderBy('version', 'desc').limit(limit);
  if (beforeVersion !== null) q.where('version', '<', beforeVersion);
  return q.select('version', 'bytes', 'expires', 'created_at');
}
