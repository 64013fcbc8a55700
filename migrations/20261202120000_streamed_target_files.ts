// Target files stream into the database (issue 19): a file is staged in a temp file while it is
// received and hashed, then stored by one transaction as rows of at most 1 MiB in
// target_blob_chunks. Files stored whole before (and small ones still) keep target_blobs.content.
import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.raw(`alter table target_blobs alter column content drop not null`);
  await knex.raw(
    `comment on column target_blobs.content is 'The whole file, for files stored in one piece (small ones); null when the file is in target_blob_chunks'`,
  );
  await knex.schema.createTable('target_blob_chunks', (t) => {
    t.comment(
      'Contents of target files stored in pieces (streamed uploads): rows of at most 1 MiB in order of seq, written in the transaction that creates the target_blobs row, removed with it',
    );
    t.string('sha256', 64).notNullable().references('sha256').inTable('target_blobs').onDelete('CASCADE');
    t.integer('seq').notNullable().comment('0, 1, 2, ...: the place of the piece in the file');
    t.binary('data').notNullable();
    t.primary(['sha256', 'seq']);
  });
  // Release files are compressed already: storing them out of line without another compression
  // pass saves CPU on every write and read.
  await knex.raw(`alter table target_blob_chunks alter column data set storage external`);
}

export async function down(knex: Knex): Promise<void> {
  // Files held in pieces cannot go back into the one-piece layout without reading them whole.
  await knex.raw(`delete from target_blobs where content is null`);
  await knex.schema.dropTable('target_blob_chunks');
  await knex.raw(`alter table target_blobs alter column content set not null`);
}
