// `tuf-server audit verify --mirror URL`: the roles a mirror serves above the database, one line
// each, read-only (nothing is signed).
import type { Knex } from 'knex';
import { CurrentMetadata } from '../publication/currentMetadata.ts';
import { readMirror } from './mirror.ts';
import { describeLost, lostRoles } from './recovery.ts';

export async function mirrorLostRoles(knex: Knex, url: string): Promise<string[]> {
  const root = await new CurrentMetadata(knex).root();
  if (!root) return [];
  const mirror = await readMirror(url, root.model);
  return describeLost(await lostRoles(knex, mirror));
}
