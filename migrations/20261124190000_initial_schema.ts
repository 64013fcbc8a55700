import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('metadata_versions', (t) => {
    t.comment('Every metadata version ever published, as the exact bytes served. Never updated or deleted.');
    t.bigIncrements('id');
    t.text('role').notNullable().comment('Role name: root, targets, snapshot, timestamp or a delegated role');
    t.integer('version').notNullable();
    t.binary('bytes').notNullable().comment('The served file, byte for byte; hashes in snapshot/timestamp are over these');
    t.string('sha256', 64).notNullable();
    t.integer('length').notNullable();
    t.timestamp('expires', { useTz: true }).notNullable();
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.unique(['role', 'version'], { indexName: 'metadata_versions_role_version' });
  });

  await knex.schema.createTable('role_heads', (t) => {
    t.comment('The current (newest published) version of each role; changed only in publishing transactions.');
    t.text('role').primary();
    t.integer('version').notNullable();
    t.timestamp('expires', { useTz: true }).notNullable().comment('Copied from the head version, for expiry checks without reading bytes');
    t.timestamp('updated_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
  });

  await knex.schema.createTable('target_records', (t) => {
    t.comment('Targets listed by the current version of each targets role (top-level or delegated)');
    t.text('role').notNullable().comment('The targets role whose current metadata lists this path');
    t.text('path').notNullable();
    t.bigInteger('length').notNullable();
    t.jsonb('hashes').notNullable();
    t.jsonb('custom').nullable();
    t.integer('role_version').notNullable().comment('Version of the role that last listed the entry as it is now');
    t.primary(['role', 'path']);
    t.index(['path'], 'target_records_path');
  });

  await knex.schema.createTable('target_blobs', (t) => {
    t.comment('Target file contents the repository holds, addressed by SHA-256; served only while a target record names them');
    t.string('sha256', 64).primary();
    t.bigInteger('length').notNullable();
    t.binary('content').notNullable();
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
  });

  await knex.schema.createTable('audit_log', (t) => {
    t.comment('Append-only history of every change; a trigger refuses UPDATE and DELETE');
    t.bigIncrements('id');
    t.timestamp('at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.text('actor').notNullable().comment('Who acted: "admin-token:<name>", "keyid:<id>", "server" for online signing');
    t.text('action').notNullable().comment('e.g. bootstrap, root.accepted, targets.accepted, snapshot.signed, timestamp.signed');
    t.text('role').nullable();
    t.integer('version').nullable();
    t.jsonb('details').nullable();
    t.index(['role', 'version'], 'audit_log_role_version');
  });
  await knex.raw(`
    create function audit_log_append_only() returns trigger language plpgsql as $$
    begin
      raise exception 'audit_log is append-only';
    end $$;
    create trigger audit_log_no_update before update or delete or truncate on audit_log
      for each statement execute function audit_log_append_only();
  `);

  await knex.schema.createTable('admin_tokens', (t) => {
    t.comment('Bearer tokens for the admin API, stored as SHA-256 of the token; the token itself is shown once');
    t.increments('id');
    t.text('name').notNullable().unique();
    t.string('token_sha256', 64).notNullable().unique();
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.timestamp('revoked_at', { useTz: true }).nullable().comment('Set when revoked; a revoked token never authenticates again');
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('admin_tokens');
  await knex.raw('drop trigger audit_log_no_update on audit_log; drop function audit_log_append_only();');
  await knex.schema.dropTable('audit_log');
  await knex.schema.dropTable('target_blobs');
  await knex.schema.dropTable('target_records');
  await knex.schema.dropTable('role_heads');
  await knex.schema.dropTable('metadata_versions');
}
