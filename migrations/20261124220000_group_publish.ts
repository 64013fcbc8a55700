import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.raw(`create sequence role_change_seq`);
  await knex.raw(`alter table role_heads add column change_seq bigint not null default nextval('role_change_seq')`);
  await knex.raw(
    `comment on column role_heads.change_seq is 'Taken from role_change_seq at every head change: what snapshot has not yet covered is change_seq > its covers_seq'`,
  );
  await knex.raw(`create index role_heads_change_seq on role_heads (change_seq)`);
  await knex.raw(`alter table metadata_versions add column covers_seq bigint null`);
  await knex.raw(
    `comment on column metadata_versions.covers_seq is 'Snapshot rows only: the highest role_heads.change_seq the snapshot includes'`,
  );
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw(`alter table metadata_versions drop column covers_seq`);
  await knex.raw(`drop index role_heads_change_seq`);
  await knex.raw(`alter table role_heads drop column change_seq`);
  await knex.raw(`drop sequence role_change_seq`);
}
