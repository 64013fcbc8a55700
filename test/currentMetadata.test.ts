// The parsed root, top-level targets and bins the write side works from, on a real PostgreSQL:
// bins are kept up to PARSED_BINS_CACHED, least recently used out, root and targets always; an
// evicted bin is read and parsed again, and a new head is never answered from the cache.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { Knex } from 'knex';
import { buildTargetsSigned, servedBytes } from '../core/metadata.ts';
import { createKnex, migrateLatest } from '../server/db/knex.ts';
import { insertMetadataVersion } from '../server/db/metadataRepo.ts';
import { CurrentMetadata } from '../server/publication/currentMetadata.ts';
import { createTestDatabase } from './helpers/db.ts';

let db: { url: string; drop(): Promise<void> };
let knex: Knex;
const expires = '2031-01-01T00:00:00Z';

async function store(role: string, version: number): Promise<void> {
  const bytes = servedBytes({ signed: buildTargetsSigned({ version, expires, targets: {} }), signatures: [] });
  await insertMetadataVersion(knex, { role, version, bytes, expires: new Date(expires) });
}

before(async () => {
  db = await createTestDatabase();
  knex = createKnex(db.url, 4);
  await migrateLatest(knex);
  await store('targets', 1);
  for (const bin of ['bin-0', 'bin-1', 'bin-2', 'bin-3']) await store(bin, 1);
});

after(async () => {
  await knex.destroy();
  await db.drop();
});

test('bins stay parsed up to the limit, least recently used out; top-level targets always', async () => {
  const current = new CurrentMetadata(knex, 2);
  const targets = await current.targets();
  const first = await current.delegated(knex, 'bin-0');
  const second = await current.delegated(knex, 'bin-1');
  assert.equal(await current.delegated(knex, 'bin-0'), first, 'a kept bin is not parsed again');
  await current.delegated(knex, 'bin-2'); // bin-1 is now the least recently used: out
  assert.equal(await current.delegated(knex, 'bin-0'), first);
  const again = await current.delegated(knex, 'bin-1');
  assert.notEqual(again, second, 'an evicted bin is parsed again');
  assert.equal(again?.version, 1);
  for (const bin of ['bin-3', 'bin-2', 'bin-0', 'bin-3']) await current.delegated(knex, bin);
  assert.equal(await current.targets(), targets, 'top-level targets is never evicted');
});

test('a new head is read from the database, whatever is kept', async () => {
  const current = new CurrentMetadata(knex, 2);
  assert.equal((await current.delegated(knex, 'bin-3'))?.version, 1);
  await store('bin-3', 2);
  assert.equal((await current.delegated(knex, 'bin-3'))?.version, 2);
  assert.equal(await current.delegated(knex, 'bin-nothing'), null);
});
