import type { Db } from './knex.ts';
import type { AdminTokenRow } from './rows.ts';

export async function insertAdminToken(db: Db, name: string, tokenSha256: string, development = false): Promise<AdminTokenRow> {
  const [row] = await db<AdminTokenRow>('admin_tokens').insert({ name, token_sha256: tokenSha256, development }).returning('*');
  return row!;
}

export async function findActiveAdminToken(db: Db, tokenSha256: string): Promise<AdminTokenRow | undefined> {
  return db<AdminTokenRow>('admin_tokens').where({ token_sha256: tokenSha256 }).whereNull('revoked_at').first();
}

export async function revokeAdminToken(db: Db, name: string): Promise<boolean> {
  const n = await db<AdminTokenRow>('admin_tokens')
    .where({ name })
    .whereNull('revoked_at')
    .update({ revoked_at: db.fn.now() as never });
  return n > 0;
}

export async function listAdminTokens(db: Db): Promise<Omit<AdminTokenRow, 'token_sha256'>[]> {
  return db<AdminTokenRow>('admin_tokens').select('id', 'name', 'created_at', 'revoked_at', 'development').orderBy('id');
}
