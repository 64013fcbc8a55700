// Snapshot versions stored as deltas (core/snapshotDelta.ts). A snapshot lists every targets role;
// storing each version whole wrote the whole list at every publication (3.4 MB at 100,000 roles,
// most of a publication's time) and grew the database by as much. A version is now stored as
// what changed since the version before it, and the served file is rebuilt from the nearest whole
// version (a row with bytes, or a checkpoint) and the deltas after it, then checked against the
// recorded SHA-256.
import type { Knex } from 'knex';
import { applySnapshotDelta, decodeSnapshotDelta, snapshotFromFile, type RebuiltSnapshot } from '../core/snapshotDelta.ts';
import { sha256Hex } from '../core/canonical.ts';

export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('metadata_versions', (t) => {
    t.binary('bytes').nullable().alter();
    t.text('snapshot_delta')
      .nullable()
      .comment(
        'Snapshot versions only: what changed since the previous version (entry texts, expiry, signatures) as JSON, when bytes is null; the served file is rebuilt from it (core/snapshotDelta.ts) and checked against sha256',
      );
  });
  await knex.raw(
    `alter table metadata_versions add constraint metadata_versions_bytes_or_delta check (bytes is not null or (role = 'snapshot' and snapshot_delta is not null))`,
  );
  await knex.raw(
    `comment on column metadata_versions.bytes is 'The served file, byte for byte; hashes in snapshot/timestamp are over these. Null only for a snapshot version stored as a delta (snapshot_delta)'`,
  );
  await knex.schema.createTable('snapshot_checkpoints', (t) => {
    t.comment(
      'Whole files of some snapshot versions stored as deltas, written after they were published, so that rebuilding any version reads a bounded number of deltas. Derived data: may be deleted; rebuilt versions are checked against metadata_versions.sha256',
    );
    t.integer('version').primary().comment('The snapshot version this is the whole file of');
    t.binary('bytes').notNullable();
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
  });
}

/** Writes every snapshot version stored as a delta back whole, then drops the delta column. */
export async function down(knex: Knex): Promise<void> {
  let previous: RebuiltSnapshot | null = null;
  let afterVersion = 0;
  for (;;) {
    const rows = await knex('metadata_versions')
      .where({ role: 'snapshot' })
      .andWhere('version', '>', afterVersion)
      .orderBy('version')
      .limit(200)
      .select('version', 'bytes', 'snapshot_delta', 'sha256');
    if (rows.length === 0) break;
    for (const row of rows) {
      afterVersion = row.version;
      if (row.bytes) {
        previous = snapshotFromFile(row.bytes, row.version);
        continue;
      }
      if (!previous) throw new Error(`snapshot v${row.version} is a delta with no whole version before it`);
      previous = applySnapshotDelta(previous, row.version, decodeSnapshotDelta(row.snapshot_delta, row.version));
      if (sha256Hex(previous.bytes) !== row.sha256) throw new Error(`snapshot v${row.version} rebuilt does not match its sha256`);
      await knex('metadata_versions').where({ role: 'snapshot', version: row.version }).update({ bytes: previous.bytes });
    }
  }
  await knex.schema.dropTable('snapshot_checkpoints');
  await knex.raw('alter table metadata_versions drop constraint metadata_versions_bytes_or_delta');
  await knex.schema.alterTable('metadata_versions', (t) => {
    t.dropColumn('snapshot_delta');
    t.binary('bytes').notNullable().alter();
  });
  await knex.raw(
    `comment on column metadata_versions.bytes is 'The served file, byte for byte; hashes in snapshot/timestamp are over these'`,
  );
}
