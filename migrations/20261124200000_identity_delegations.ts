import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('registrations', (t) => {
    t.comment('Maintainer claims on a project, signed through Sigstore; admins turn approved ones into delegations offline');
    t.bigIncrements('id');
    t.text('project').notNullable();
    t.text('identity').notNullable().comment('OIDC identity (certificate SAN) that signed the request, compared exactly');
    t.text('issuer').notNullable().comment('OIDC issuer URL from the certificate');
    t.timestamp('requested_at', { useTz: true }).notNullable().comment('Time the maintainer put in the signed request (replay window)');
    t.string('request_sha256', 64).notNullable().unique().comment('SHA-256 of the signed request bytes: the same request is stored once');
    t.jsonb('signature').notNullable().comment('The Sigstore signature (bundle) over the request: evidence for the admins');
    t.text('status').notNullable().defaultTo('pending').comment('pending | approved (delegated by a targets version) | rejected');
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.timestamp('decided_at', { useTz: true }).nullable();
    t.index(['project', 'status'], 'registrations_project_status');
  });
  await knex.raw(
    `alter table registrations add constraint registrations_status_check check (status in ('pending', 'approved', 'rejected'))`,
  );

  await knex.schema.createTable('pending_uploads', (t) => {
    t.comment('Project role versions signed by fewer identities than the threshold; published once enough sign the same bytes');
    t.bigIncrements('id');
    t.text('role').notNullable();
    t.integer('version').notNullable();
    t.string('signed_sha256', 64).notNullable().comment('SHA-256 of the canonical signed bytes: co-signers sign exactly these');
    t.jsonb('envelope').notNullable().comment('The metadata with every valid signature collected so far');
    t.text('status').notNullable().defaultTo('pending').comment('pending | published | dropped');
    t.text('reason').nullable().comment('Why it was dropped (e.g. overtaken by a newer version)');
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.timestamp('updated_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.unique(['role', 'signed_sha256'], { indexName: 'pending_uploads_role_signed' });
    t.index(['role', 'status'], 'pending_uploads_role_status');
  });
  await knex.raw(
    `alter table pending_uploads add constraint pending_uploads_status_check check (status in ('pending', 'published', 'dropped'))`,
  );
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('pending_uploads');
  await knex.schema.dropTable('registrations');
}
