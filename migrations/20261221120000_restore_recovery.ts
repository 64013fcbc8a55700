// Restoring from a backup (docs/runbooks.md, "Restoring from a backup"). A backup is older than
// what clients have seen: snapshot and timestamp must continue above the highest versions ever
// published, not above what the restored database holds. These tables record the recovery.
import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('recovery_required', (t) => {
    t.comment(
      'At most one row: the database was restored (tuf-server restore), so servers refuse to serve or sign until the highest snapshot and timestamp versions ever published are established (server/recovery/recovery.ts); the recovery publication deletes it',
    );
    t.boolean('one').primary().defaultTo(true).comment('Always true: keeps the table to a single row');
    t.text('reason').notNullable();
    t.timestamp('since', { useTz: true }).notNullable().defaultTo(knex.fn.now());
  });
  await knex.raw('alter table recovery_required add constraint recovery_required_one check (one)');
  await knex.schema.createTable('version_jumps', (t) => {
    t.comment(
      'Versions of snapshot or timestamp that were skipped on purpose: after a restore, or after a publication whose commit was lost, the next version is signed above the published mark. `tuf-server audit verify` accepts exactly these gaps',
    );
    t.bigIncrements('id').primary();
    t.string('role', 255).notNullable();
    t.integer('from_version').notNullable().comment('The head before the jump (0 when none)');
    t.integer('to_version').notNullable().comment('The version signed next; from_version+1 .. to_version-1 were never stored here');
    t.text('reason').notNullable();
    t.jsonb('sources').notNullable().defaultTo('{}').comment('Where the highest published versions came from: mark file, mirror, operator');
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.unique(['role', 'to_version']);
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('version_jumps');
  await knex.schema.dropTable('recovery_required');
}
