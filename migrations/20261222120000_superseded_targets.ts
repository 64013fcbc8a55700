// Target files a newer version of their role no longer lists. target_records holds what the
// current versions list; a client that read the version before (its timestamp still valid, or
// simply a moment before the new version was published) downloads by the hash that version gave
// and must not find the file gone. This table keeps such files downloadable for
// SUPERSEDED_TARGET_GRACE_SECONDS after the version that dropped them (server/serving/targetFiles.ts).
import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('superseded_targets', (t) => {
    t.comment(
      'Targets listed by an earlier version of a role and dropped by a later one: still served for SUPERSEDED_TARGET_GRACE_SECONDS after they were dropped, so that clients that read the earlier version can download them',
    );
    t.text('path').notNullable();
    t.string('sha256', 64).notNullable();
    t.text('role').notNullable().comment('The role whose new version stopped listing it');
    t.integer('role_version').notNullable().comment('The last version of the role that listed it');
    t.timestamp('superseded_at', { useTz: true })
      .notNullable()
      .defaultTo(knex.fn.now())
      .comment('When that version was replaced (the transaction time of the new one); the grace period runs from here');
    t.primary(['path', 'sha256']);
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('superseded_targets');
}
