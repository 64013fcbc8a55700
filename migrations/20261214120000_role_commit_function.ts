// A project role version committed in one statement (issue 14): the checks and writes of
// projects/uploadCommit.ts's commit, for the common case (no pending version, every file held or
// sent inline), as one function call instead of about fifteen round trips. The caller decided on
// the upload from what it holds in memory (the delegating documents, the role's head); the function
// takes the same locks as the commit it replaces and commits only if those are still what the
// database holds, else it answers why not and writes nothing (the caller then takes the full path).
import type { Knex } from 'knex';

/** The publishing lock's key ("tuf_pub", server/db/locks.ts) and the role lock's first key. */
const PUBLISH_LOCK_KEY = '32780179846755682';
const ROLE_LOCK_CLASS = 7_302_005;

export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    create function tuf_commit_role(
      p_role text,
      p_version integer,
      p_prev_version integer,
      p_bytes bytea,
      p_sha256 text,
      p_expires timestamptz,
      p_basis jsonb,
      p_records jsonb,
      p_blob_sha256 text[],
      p_blob_content bytea[],
      p_actor text,
      p_details jsonb,
      p_announcement text
    ) returns table (outcome text, change_seq bigint)
    language plpgsql as $$
    declare
      v_head integer;
      v_seq bigint;
    begin
      -- The locks and commit mode of a role commit (server/db/locks.ts, steps 1 and 2).
      perform pg_advisory_xact_lock_shared(${PUBLISH_LOCK_KEY}::bigint);
      perform pg_advisory_xact_lock(${ROLE_LOCK_CLASS}, hashtext(p_role));
      perform set_config('synchronous_commit', 'off', true);
      -- Every document the decision rested on is still the head, byte for byte.
      if exists (
        select 1 from jsonb_to_recordset(p_basis) as b(role text, version integer, sha256 text)
        left join role_heads h on h.role = b.role
        left join metadata_versions m on m.role = h.role and m.version = h.version
        where h.version is distinct from b.version or m.sha256 is distinct from b.sha256
      ) then
        return query select 'delegation_changed'::text, null::bigint;
        return;
      end if;
      select h.version into v_head from role_heads h where h.role = p_role;
      if v_head is distinct from p_prev_version then
        return query select 'head_changed'::text, null::bigint;
        return;
      end if;
      if exists (select 1 from pending_uploads where role = p_role and status = 'pending') then
        return query select 'pending_open'::text, null::bigint;
        return;
      end if;
      -- Every listed file is held or comes with this call (checked under the publishing lock,
      -- which garbage collection takes exclusively to delete files: admin/gc.ts).
      if exists (
        select 1 from jsonb_to_recordset(p_records) as r(hashes jsonb)
        where not ((r.hashes->>'sha256') = any(p_blob_sha256))
          and not exists (select 1 from target_blobs b where b.sha256 = r.hashes->>'sha256')
      ) then
        return query select 'files_missing'::text, null::bigint;
        return;
      end if;
      insert into target_blobs (sha256, length, content)
        select s, length(c), c from unnest(p_blob_sha256, p_blob_content) as u(s, c)
        on conflict (sha256) do update set touched_at = now();
      insert into metadata_versions (role, version, bytes, sha256, length, expires)
        values (p_role, p_version, p_bytes, p_sha256, length(p_bytes), p_expires);
      insert into role_heads (role, version, expires) values (p_role, p_version, p_expires)
        on conflict (role) do update
          set version = excluded.version, expires = excluded.expires, updated_at = now(),
              change_seq = nextval('role_change_seq')
        returning role_heads.change_seq into v_seq;
      delete from target_records where role = p_role;
      insert into target_records (role, path, length, hashes, custom, role_version)
        select p_role, r.path, r.length, r.hashes, r.custom, p_version
        from jsonb_to_recordset(p_records) as r(path text, length bigint, hashes jsonb, custom jsonb);
      insert into listed_blobs (sha256)
        select distinct r.hashes->>'sha256' from jsonb_to_recordset(p_records) as r(hashes jsonb)
        where r.hashes->>'sha256' is not null
        on conflict (sha256) do nothing;
      delete from resign_needed where role = p_role;
      insert into audit_log (actor, action, role, version, details)
        values (p_actor, 'project.published', p_role, p_version, p_details);
      perform pg_notify('tuf_metadata', p_announcement);
      return query select 'committed'::text, v_seq;
    end $$
  `);
  await knex.raw(
    `comment on function tuf_commit_role is 'One project role version in one statement: locks, checks that the delegating documents, the role head and the files are as the caller decided against, then stores the version, its target records and inline files, audits and notifies (projects/fastCommit.ts)'`,
  );
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('drop function tuf_commit_role');
}
