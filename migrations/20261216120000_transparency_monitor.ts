// The transparency monitor (server/monitor/): its position in each Rekor log, the identity
// signatures the repository received (indexed once from stored metadata, pending versions and
// registrations), log entries waiting out their grace period, and what it flagged.
import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('monitor_state', (t) => {
    t.comment('Where the transparency monitor stands in one Rekor log, and whether its last poll succeeded');
    t.text('log_url').primary();
    t.bigInteger('next_log_index').nullable().comment('First log index not read yet; null before the first poll chose a start');
    t.bigInteger('tree_size').nullable().comment('Tree size the log reported at the last successful poll');
    t.timestamp('last_poll_at', { useTz: true }).nullable();
    t.timestamp('last_success_at', { useTz: true }).nullable().comment('End of the last poll that read the log to its tree size');
    t.text('last_error').nullable().comment('Why the last poll failed (the log unreachable, ...); cleared by a success');
    t.timestamp('last_error_at', { useTz: true }).nullable();
    t.bigInteger('entries_read').notNullable().defaultTo(0);
    t.text('lease_holder').nullable().comment('The server process polling now: one process polls a log at a time');
    t.timestamp('lease_until', { useTz: true }).nullable();
  });

  await knex.schema.createTable('monitor_cursor', (t) => {
    t.comment('How far the monitor has indexed the repository side (one row)');
    t.integer('id').primary();
    t.bigInteger('metadata_id').notNullable().defaultTo(0).comment('metadata_versions.id read up to');
    t.bigInteger('registration_id').notNullable().defaultTo(0).comment('registrations.id read up to');
    t.timestamp('pending_updated_at', { useTz: true })
      .notNullable()
      .defaultTo('1970-01-01T00:00:00Z')
      .comment('pending_uploads.updated_at read from');
  });
  await knex('monitor_cursor').insert({ id: 1 });

  await knex.schema.createTable('monitor_signatures', (t) => {
    t.comment('Every identity signature the repository received: what the log entries of delegated identities are compared with');
    t.bigIncrements('id');
    t.text('source').notNullable().comment('published (a stored metadata version) | pending (a pending version) | registration');
    t.text('role').notNullable().comment('The project role, or the project a registration asks for');
    t.integer('version').nullable();
    t.string('signed_sha256', 64).notNullable().comment('SHA-256 of the signed bytes: the artifact digest of the log entry');
    t.text('identity').notNullable().comment("The signing certificate's identity (SAN)");
    t.text('issuer').notNullable();
    t.bigInteger('log_index').nullable().comment("The bundle's transparency-log entry");
    t.text('log_id').nullable().comment('Which log (hex key ID) the entry is in');
    t.string('body_sha256', 64).nullable().comment("SHA-256 of the bundle's canonicalized entry body, compared with the log's");
    t.timestamp('received_at', { useTz: true }).notNullable();
    t.text('log_check').nullable().comment('Published signatures, once checked against the log: found | missing | mismatch | other_log');
    t.timestamp('log_checked_at', { useTz: true }).nullable();
    t.unique(['source', 'role', 'signed_sha256', 'identity', 'issuer', 'log_index'], { indexName: 'monitor_signatures_once' });
    t.index(['signed_sha256'], 'monitor_signatures_digest');
  });

  await knex.schema.createTable('monitor_candidates', (t) => {
    t.comment('Log entries by delegated identities over digests the repository has not received (yet): flagged after the grace period');
    t.text('log_url').notNullable();
    t.text('uuid').notNullable();
    t.bigInteger('log_index').notNullable();
    t.text('identity').notNullable();
    t.text('issuer').notNullable();
    t.string('digest', 64).notNullable();
    t.timestamp('integrated_at', { useTz: true }).notNullable();
    t.primary(['log_url', 'uuid']);
  });

  await knex.schema.createTable('monitor_examined', (t) => {
    t.comment('Entries found by index search (e-mail) that were already examined, so a search does not fetch them again');
    t.text('log_url').notNullable();
    t.text('uuid').notNullable();
    t.primary(['log_url', 'uuid']);
  });

  await knex.schema.createTable('monitor_findings', (t) => {
    t.comment('What the monitor flagged; each is also an audit entry and a metric');
    t.bigIncrements('id');
    t.text('dedupe_key').notNullable().unique().comment('One finding per entry (or per published signature) and kind');
    t.text('kind').notNullable().comment('unknown_signature (an entry the repository never received) | publication_not_in_log');
    t.text('log_url').notNullable();
    t.text('identity').notNullable();
    t.text('issuer').notNullable();
    t.jsonb('projects').notNullable().comment('Projects delegated to the identity when flagged (unknown_signature), or the one published');
    t.bigInteger('log_index').nullable();
    t.text('uuid').nullable();
    t.string('digest', 64).nullable();
    t.integer('version').nullable();
    t.text('detail').notNullable();
    t.timestamp('detected_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.index(['identity', 'issuer'], 'monitor_findings_identity');
  });
}

export async function down(knex: Knex): Promise<void> {
  for (const table of [
    'monitor_findings',
    'monitor_examined',
    'monitor_candidates',
    'monitor_signatures',
    'monitor_cursor',
    'monitor_state',
  ]) {
    await knex.schema.dropTable(table);
  }
}
