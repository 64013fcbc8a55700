// Admin API tokens: bearer tokens whose SHA-256 is stored; the token itself never is. Used by the
// HTTP guard, the `tuf-server admin-token` commands and the development ceremony.
import { createHash, randomBytes } from 'node:crypto';
import type { Db } from '../db/knex.ts';
import { findActiveAdminToken, insertAdminToken, listAdminTokens, revokeAdminToken } from '../db/adminTokensRepo.ts';
import type { AdminTokenRow } from '../db/rows.ts';

const NAME = /^[A-Za-z0-9._@-]{1,64}$/;
/** What a bearer token may look like at all; anything else is refused before any lookup. */
export const TOKEN_SHAPE = /^[A-Za-z0-9_-]{16,200}$/;

export function hashToken(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

export class AdminTokens {
  /**
   * `production`: tokens that development mode created (DEV_DIR/admin-token, marked at creation)
   * never authenticate, even on a database a development server once ran against.
   */
  constructor(
    private readonly db: Db,
    private readonly opts: { production?: boolean } = {},
  ) {}

  /** Creates a token, stores its hash, and returns the token: the only time anyone sees it. */
  async create(name: string, opts: { development?: boolean } = {}): Promise<string> {
    if (!NAME.test(name)) throw new Error('token name: 1 to 64 letters, digits or . _ @ -');
    const token = `tufadm_${randomBytes(32).toString('base64url')}`;
    await insertAdminToken(this.db, name, hashToken(token), opts.development === true);
    return token;
  }

  /** The actor name for an active token, or null. */
  async authenticate(token: string): Promise<string | null> {
    if (!TOKEN_SHAPE.test(token)) return null;
    const row = await findActiveAdminToken(this.db, hashToken(token));
    if (!row || (row.development && this.opts.production === true)) return null;
    return `admin-token:${row.name}`;
  }

  list(): Promise<Omit<AdminTokenRow, 'token_sha256'>[]> {
    return listAdminTokens(this.db);
  }

  revoke(name: string): Promise<boolean> {
    return revokeAdminToken(this.db, name);
  }
}
