import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { createKnex, migrateLatest, migrateRollbackAll } from '../server/db/knex.ts';
import { createTestDatabase } from './helpers/db.ts';

const tables = [
  'metadata_versions',
  'role_heads',
  'target_records',
  'target_blobs',
  'audit_log',
  'admin_tokens',
  'registrations',
  'pending_uploads',
  'listed_blobs',
  'development_state',
  'target_blob_chunks',
  'snapshot_checkpoints',
  'object_cleanup',
  'publish_mirror',
  'publish_outbox',
];

test('every migration runs up, down and up again on a real PostgreSQL', async () => {
  const db = await createTestDatabase();
  const knex = createKnex(db.url, 2);
  try {
    const files = fs.readdirSync(path.resolve(import.meta.dirname, '..', 'migrations')).filter((f) => f.endsWith('.ts'));
    for (const f of files) assert.match(f, /^\d{14}_[a-z0-9_]+\.ts$/, `timestamped name: ${f}`);
    const applied = await migrateLatest(knex);
    assert.equal(applied.length, files.length);
    for (const t of tables) assert.ok(await knex.schema.hasTable(t), t);
    // Tables carry comments for whoever reads the schema.
    const comments = await knex.raw(`select c.relname, obj_description(c.oid) as comment from pg_class c where relname = any(?)`, [tables]);
    for (const row of comments.rows) assert.ok(row.comment, `comment on ${row.relname}`);
    // The columns added to resign_needed later (which role's change, and its version) are described too.
    for (const column of ['delegator', 'delegator_version', 'targets_version']) {
      const res = await knex.raw(
        `select col_description('resign_needed'::regclass, a.attnum) as comment from pg_attribute a where a.attrelid = 'resign_needed'::regclass and a.attname = ?`,
        [column],
      );
      assert.ok(res.rows[0]?.comment, `comment on resign_needed.${column}`);
    }
    const delta = await knex.raw(
      `select col_description('metadata_versions'::regclass, a.attnum) as comment from pg_attribute a where a.attrelid = 'metadata_versions'::regclass and a.attname = 'snapshot_delta'`,
    );
    assert.ok(delta.rows[0]?.comment, 'comment on metadata_versions.snapshot_delta');
    assert.deepEqual(await migrateLatest(knex), [], 'idempotent');
    const reverted = await migrateRollbackAll(knex);
    assert.equal(reverted.length, files.length);
    for (const t of tables) assert.equal(await knex.schema.hasTable(t), false, t);
    assert.equal((await migrateLatest(knex)).length, files.length);
  } finally {
    await knex.destroy();
    await db.drop();
  }
});
