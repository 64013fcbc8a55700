import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('resign_needed', (t) => {
    t.comment(
      'Project roles whose current metadata no longer meets their delegation (maintainers or threshold changed); cleared by a re-signed upload',
    );
    t.text('role').primary();
    t.integer('role_version').notNullable().comment('The published version that no longer verifies');
    t.integer('targets_version').notNullable().comment('The top-level targets version whose delegation it fails');
    t.text('reason').notNullable();
    t.timestamp('detected_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('resign_needed');
}
