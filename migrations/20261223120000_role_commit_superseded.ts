// The one-statement role commit (tuf_commit_role, migration 20261214120000) records what a new
// version drops in superseded_targets (migration 20261222120000), as replaceTargetRecords does on
// the full path: a client that read the previous version a moment ago still downloads its files
// for SUPERSEDED_TARGET_GRACE_SECONDS. The function is edited in place (its one statement that
// clears the role's target records), so the rest of its body stays as that migration wrote it;
// both directions refuse if the statement is not found.
import type { Knex } from 'knex';

const CLEAR = 'delete from target_records where role = p_role;';
const CLEAR_AND_KEEP = `with gone as (
        delete from target_records where role = p_role returning path, hashes->>'sha256' as sha256, role_version
      )
      insert into superseded_targets (path, sha256, role, role_version, superseded_at)
        select g.path, g.sha256, p_role, g.role_version, now() from gone g
        where g.sha256 is not null
          and not exists (
            select 1 from jsonb_to_recordset(p_records) as r(path text, hashes jsonb)
            where r.path = g.path and r.hashes->>'sha256' = g.sha256
          )
        on conflict (path, sha256) do update
          set role = excluded.role, role_version = excluded.role_version, superseded_at = excluded.superseded_at;`;

async function replaceInFunction(knex: Knex, from: string, to: string): Promise<void> {
  const res = await knex.raw(`select pg_get_functiondef('tuf_commit_role'::regproc) as def`);
  const def = (res.rows[0] as { def: string }).def;
  if (def.split(from).length !== 2) throw new Error('tuf_commit_role: the statement to replace was not found exactly once');
  // pg_get_functiondef gives a complete CREATE OR REPLACE FUNCTION statement.
  await knex.raw(def.replace(from, () => to));
}

export async function up(knex: Knex): Promise<void> {
  await replaceInFunction(knex, CLEAR, CLEAR_AND_KEEP);
}

export async function down(knex: Knex): Promise<void> {
  await replaceInFunction(knex, CLEAR_AND_KEEP, CLEAR);
}
