// What issue 19 (parts 2-5) needs from the schema: which files any stored version lists (so
// garbage collection never removes them), when a file was last uploaded (its grace period),
// PEP 503 name lookups, the indexes the expiry sweeps use, and marks on what the development
// ceremony created (production refuses it).
import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('listed_blobs', (t) => {
    t.comment(
      'SHA-256 of every target file that some stored metadata version lists (any version, not only the current one). Rows are never deleted: stored versions never are. Garbage collection keeps these files.',
    );
    t.string('sha256', 64).primary();
    t.timestamp('first_listed_at', { useTz: true }).notNullable().defaultTo(knex.fn.now()).comment('When a stored version first listed it');
  });
  // Backfill from the stored history. Parsed here rather than in SQL: a document may hold strings
  // (a \u0000 in a custom field) that jsonb refuses.
  let afterId = '0';
  for (;;) {
    const rows: { id: string; bytes: Buffer }[] = await knex('metadata_versions')
      .whereNotIn('role', ['root', 'snapshot', 'timestamp'])
      .where('id', '>', afterId)
      .orderBy('id')
      .limit(200)
      .select('id', 'bytes');
    if (rows.length === 0) break;
    afterId = rows[rows.length - 1]!.id;
    const digests = new Set<string>();
    for (const row of rows) {
      const targets = (
        JSON.parse(row.bytes.toString('utf8')) as { signed?: { targets?: Record<string, { hashes?: { sha256?: unknown } }> } }
      ).signed?.targets;
      for (const entry of Object.values(targets ?? {})) if (typeof entry?.hashes?.sha256 === 'string') digests.add(entry.hashes.sha256);
    }
    const list = [...digests].map((sha256) => ({ sha256 }));
    for (let i = 0; i < list.length; i += 1000)
      await knex('listed_blobs')
        .insert(list.slice(i, i + 1000))
        .onConflict('sha256')
        .ignore();
  }

  // Existing rows take the migration's time: every file held so far gets a full grace period.
  await knex.raw(`alter table target_blobs add column touched_at timestamptz not null default now()`);
  await knex.raw(
    `comment on column target_blobs.touched_at is 'Last time an upload stored or re-sent this file. Garbage collection removes a file no version lists only once this is older than BLOB_GC_GRACE_SECONDS: an upload in flight has touched its files moments before committing the metadata that lists them'`,
  );
  await knex.raw(`create index target_blobs_touched_at on target_blobs (touched_at)`);

  await knex.raw(
    `create function project_name_normalized(name text) returns text language sql immutable parallel safe as $$ select regexp_replace(lower(name), '[-_.]+', '-', 'g') $$`,
  );
  await knex.raw(
    `comment on function project_name_normalized(text) is 'PEP 503 normalization (lowercase, runs of - _ . become one -), as core/projectNames.ts does it: look-alike project names compare equal'`,
  );
  await knex.raw(`create index registrations_normalized on registrations (project_name_normalized(project))`);
  await knex.raw(`create index registrations_pending_identity on registrations (identity, issuer) where status = 'pending'`);
  await knex.raw(`create index registrations_status_decided on registrations (status, decided_at)`);
  await knex.raw(`create index role_heads_normalized on role_heads (project_name_normalized(role))`);
  await knex.raw(`create index pending_uploads_status_created on pending_uploads (status, created_at)`);

  await knex.schema.createTable('development_state', (t) => {
    t.comment(
      'Marks a database the development ceremony set up (throwaway keys kept on the server). Production mode refuses to start on a database with a row here.',
    );
    t.increments('id');
    t.timestamp('marked_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.text('reason')
      .notNullable()
      .comment('What development mode created, e.g. "development ceremony: root v1 and targets v1 with throwaway keys"');
  });
  await knex.raw(
    `insert into development_state (reason) select 'development ceremony (found in the audit log)' where exists (select 1 from audit_log where actor = 'dev-ceremony')`,
  );

  await knex.raw(`alter table admin_tokens add column development boolean not null default false`);
  await knex.raw(
    `comment on column admin_tokens.development is 'Created by development mode (DEV_DIR/admin-token): never authenticates in production mode'`,
  );
  await knex.raw(`update admin_tokens set development = true where name ~ '^dev-[0-9]+$'`);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw(`alter table admin_tokens drop column development`);
  await knex.schema.dropTable('development_state');
  await knex.raw(`drop index pending_uploads_status_created`);
  await knex.raw(`drop index role_heads_normalized`);
  await knex.raw(`drop index registrations_status_decided`);
  await knex.raw(`drop index registrations_pending_identity`);
  await knex.raw(`drop index registrations_normalized`);
  await knex.raw(`drop function project_name_normalized(text)`);
  await knex.raw(`drop index target_blobs_touched_at`);
  await knex.raw(`alter table target_blobs drop column touched_at`);
  await knex.schema.dropTable('listed_blobs');
}
