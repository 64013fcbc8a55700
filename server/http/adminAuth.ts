// Admin API authentication: a bearer token whose SHA-256 is stored; the token itself never is.
import { createHash, randomBytes } from 'node:crypto';
import type { RequestHandler } from 'express';
import type { Knex } from 'knex';
import { findActiveAdminToken, insertAdminToken } from '../db/adminTokensRepo.ts';
import { HttpError } from './errors.ts';

export function hashToken(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

/** Creates a token, stores its hash, and returns the token: the only time anyone sees it. */
export async function createAdminToken(knex: Knex, name: string): Promise<string> {
  if (!/^[A-Za-z0-9._@-]{1,64}$/.test(name)) throw new Error('token name: 1 to 64 letters, digits or . _ @ -');
  const token = `tufadm_${randomBytes(32).toString('base64url')}`;
  await insertAdminToken(knex, name, hashToken(token));
  return token;
}

export function requireAdmin(knex: Knex): RequestHandler {
  return async (req, res, next) => {
    const header = req.get('authorization') ?? '';
    const m = /^Bearer ([A-Za-z0-9_-]{16,200})$/.exec(header);
    if (!m) return next(new HttpError(401, 'unauthorized', 'admin endpoints need "Authorization: Bearer <admin token>"'));
    const row = await findActiveAdminToken(knex, hashToken(m[1]!));
    if (!row) return next(new HttpError(401, 'unauthorized', 'unknown or revoked admin token'));
    res.locals.actor = `admin-token:${row.name}`;
    next();
  };
}
