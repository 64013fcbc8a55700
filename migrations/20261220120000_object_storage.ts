// Object storage (issue 20): target files may live in an S3-compatible store instead of PostgreSQL
// (target_blobs.location), objects nobody references any more are removed later (object_cleanup),
// and each publication is copied to a bucket for a static host or CDN in order, through an outbox
// written by the publishing transaction itself (publish_outbox, publish_mirror).
import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.raw(`alter table target_blobs add column location text null`);
  await knex.raw(
    `comment on column target_blobs.location is 'Where the bytes are: null for PostgreSQL (content, or target_blob_chunks); s3://BUCKET/KEY for an object in object storage, written once under a key never used again'`,
  );
  await knex.raw(`alter table target_blobs add constraint target_blobs_one_place check (location is null or content is null)`);

  await knex.schema.createTable('object_cleanup', (t) => {
    t.comment(
      'Objects in object storage that no row may name any more, or not yet: uploads in flight (claimed by the target_blobs row that names them), files removed by garbage collection, copies replaced by a migration. Garbage collection deletes each object once past not_before and its row is not claimed',
    );
    t.text('location').primary().comment('s3://BUCKET/KEY');
    t.timestamp('not_before', { useTz: true })
      .notNullable()
      .comment('Not deleted before: an upload in flight may still claim the object until then');
    t.text('reason').notNullable().comment('upload | removed | replaced | failed');
    t.boolean('deleting')
      .notNullable()
      .defaultTo(false)
      .comment('Garbage collection is deleting the object: an upload in flight may no longer claim it');
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
  });

  await knex.schema.createTable('publish_mirror', (t) => {
    t.comment('The bucket the repository is copied to (PUBLISH_TO): one row while one is set, written by the node that copies');
    t.integer('id').primary().comment('Always 1: one published copy at a time');
    t.text('url').notNullable().comment('s3://BUCKET[/PREFIX]');
    t.bigInteger('sync_snapshot_version')
      .notNullable()
      .comment('The snapshot version current when this bucket was set: the first copy takes every role from the version it lists onwards');
    t.integer('sync_timestamp_version')
      .notNullable()
      .comment('The timestamp version current when this bucket was set: the first copy ends by writing it as timestamp.json');
    t.boolean('synced').notNullable().defaultTo(false).comment('Whether the first copy of the repository as it stood is done');
    t.text('sync_cursor').nullable().comment('The first copy: the last role name copied (roles go in name order), so a restart resumes');
    t.integer('timestamp_version')
      .notNullable()
      .defaultTo(0)
      .comment('The newest timestamp.json written: an older one is never written after it');
    t.text('lease_holder').nullable().comment('The server process copying now: one at a time');
    t.timestamp('lease_until', { useTz: true }).nullable();
    t.timestamp('last_success_at', { useTz: true }).nullable();
    t.text('last_error').nullable().comment('Why the last attempt failed (the store unreachable, ...); cleared by a success');
    t.timestamp('last_error_at', { useTz: true }).nullable();
    t.bigInteger('objects_written').notNullable().defaultTo(0);
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
  });
  await knex.raw(`alter table publish_mirror add constraint publish_mirror_one check (id = 1)`);

  await knex.schema.createTable('publish_outbox', (t) => {
    t.comment(
      'Publications not yet copied to the bucket of publish_mirror: one row per publishing transaction, inserted by that transaction (so none is lost or seen before it commits), removed once copied. Written only while publish_mirror has a row',
    );
    t.bigIncrements('id');
    t.jsonb('published')
      .notNullable()
      .comment('[{role, version}]: the metadata files that transaction stored (their target files follow from them)');
    t.timestamp('created_at', { useTz: true })
      .notNullable()
      .defaultTo(knex.fn.now())
      .comment('Commit time, near enough: how far behind the copy is');
  });
}

export async function down(knex: Knex): Promise<void> {
  const held = await knex.raw(`select count(*)::int as n from target_blobs where location is not null`);
  if (held.rows[0].n > 0)
    throw new Error(
      `${held.rows[0].n} target files are held in object storage: move them back first (tuf-server blobs migrate --to postgres)`,
    );
  await knex.schema.dropTable('publish_outbox');
  await knex.schema.dropTable('publish_mirror');
  await knex.schema.dropTable('object_cleanup');
  await knex.raw(`alter table target_blobs drop constraint target_blobs_one_place`);
  await knex.raw(`alter table target_blobs drop column location`);
}
