// Which role's delegation a project role fails (issue: "since targets v3" when bin-2a8-2ab v3
// changed it). resign_needed recorded one version, called targets_version, that was the version of
// whichever role delegated the project: top-level targets in the flat layout, the project's bin in
// the layered one. The delegator and its version get columns of their own; targets_version stays
// (the API keeps `targetsVersion`) and holds the top-level targets version in force from now on.
import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('resign_needed', (t) => {
    t.text('delegator')
      .nullable()
      .comment(
        "The role whose changed delegation the project role fails: 'targets' or a bin (bin-2a8-2ab); null for rows recorded before this column",
      );
    t.integer('delegator_version').nullable().comment('The version of that role which changed the delegation');
  });
  // Rows from before: their targets_version was the delegator's version, whichever role that was.
  await knex.raw('update resign_needed set delegator_version = targets_version');
  await knex.raw(
    `comment on column resign_needed.targets_version is 'The top-level targets version in force when the change was found (for a project in a bin, not the version that changed it: see delegator_version; rows recorded before delegator_version hold the delegator''s version here)'`,
  );
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('resign_needed', (t) => {
    t.dropColumn('delegator');
    t.dropColumn('delegator_version');
  });
  await knex.raw(`comment on column resign_needed.targets_version is 'The top-level targets version whose delegation it fails'`);
}
