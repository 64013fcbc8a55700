// A project role version committed in one statement: the function tuf_commit_role (migration
// 20261214120000) takes the locks of a role commit (locks.ts, steps 1 and 2: shared publishing
// lock, the role's lock, synchronous commit off), checks that what the caller decided against is
// still what the database holds, and stores the version as storeRole.ts and uploadCommit.ts do.
// The answer still waits for a covering snapshot (step 3), so the argument of locks.ts holds as is.
import type { Db } from './knex.ts';
import type { TargetRecord } from './targetsRepo.ts';

/** A parsed document a decision rested on, as it was: the commit happens only if it still is the head. */
export interface BasisDocument {
  role: string;
  version: number;
  sha256: string;
}

export interface OneStatementCommit {
  role: string;
  version: number;
  /** The head the decision was made against (null: the role had no version). */
  previousVersion: number | null;
  bytes: Buffer;
  sha256: string;
  expires: Date;
  basis: BasisDocument[];
  records: TargetRecord[];
  /** Files sent inline, stored in the same statement (sha256 already checked against the metadata); files kept in PostgreSQL only. */
  inlineFiles: { sha256: string; content: Buffer }[];
  actor: string;
  auditDetails: Record<string, unknown>;
  /** The NOTIFY payload (notifications.ts encodeAnnouncement). */
  announcement: string;
}

/** Why the one-statement commit did not commit: the caller takes the full path, which decides again. */
export type CommitRefusal = 'delegation_changed' | 'head_changed' | 'pending_open' | 'files_missing';

export type OneStatementOutcome = { committed: true; changeSeq: string } | { committed: false; reason: CommitRefusal };

export async function commitRoleInOneStatement(db: Db, c: OneStatementCommit): Promise<OneStatementOutcome> {
  // The outbox row of the copy to a bucket (mirrorRepo.ts enqueuePublication, PUBLISH_TO) in the
  // same statement, once committed: recorded if and only if the version is, under the same locks.
  const res = await db.raw(
    `with r as (select outcome, change_seq from tuf_commit_role(?, ?, ?, ?, ?, ?, ?::jsonb, ?::jsonb, ?::text[], ?::bytea[], ?, ?::jsonb, ?)),
     outbox as (
       insert into publish_outbox (published)
       select ?::jsonb from r where r.outcome = 'committed' and exists (select 1 from publish_mirror)
     )
     select outcome, change_seq from r`,
    [
      c.role,
      c.version,
      c.previousVersion,
      c.bytes,
      c.sha256,
      c.expires,
      JSON.stringify(c.basis),
      JSON.stringify(c.records.map((r) => ({ path: r.path, length: r.length, hashes: r.hashes, custom: r.custom ?? null }))),
      c.inlineFiles.map((f) => f.sha256),
      c.inlineFiles.map((f) => f.content),
      c.actor,
      JSON.stringify(c.auditDetails),
      c.announcement,
      JSON.stringify([{ role: c.role, version: c.version }]),
    ],
  );
  const row = res.rows[0] as { outcome: string; change_seq: string | null };
  if (row.outcome === 'committed') return { committed: true, changeSeq: String(row.change_seq) };
  return { committed: false, reason: row.outcome as CommitRefusal };
}
