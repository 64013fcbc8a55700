// PostgreSQL's locks and commit modes for publishing, and why an answered upload is never lost.
//
// Durability, in one place:
// 1. Every transaction that publishes takes the publishing advisory lock. Exclusive: signing
//    snapshot/timestamp, or changing top-level metadata. Shared: committing one project role
//    version, so many commit at once while none overlaps a publication or a change of
//    delegations. A snapshot therefore sees every role commit that finished before it started.
// 2. A role commit also takes that role's own lock, so its versions stay in order across
//    processes, and commits with synchronous_commit off (no wait for its WAL flush). The common
//    upload commits in one statement (roleCommit.ts: the function tuf_commit_role takes the same
//    two locks and the same commit mode before it checks and writes anything).
// 3. The upload is answered only after a snapshot covering its commit (by role_heads.change_seq)
//    has committed synchronously. That snapshot transaction read the role commit, so its commit
//    record lies later in the WAL, and flushing it flushes the role commit too.
// 4. A crash between 2 and 3 loses only a version nobody was told about and no snapshot lists;
//    a version that is kept pending (answered without a snapshot) turns synchronous commit back
//    on, as do admin changes (they hold the lock exclusively and commit normally).
// 5. Other processes learn of each publication through NOTIFY, delivered only on commit
//    (notifications.ts), and reload periodically in case a notification was lost.
import type { Knex } from 'knex';
import type { Db } from './knex.ts';

/** Key for the publishing lock ("tuf_pub"): every transaction that publishes metadata takes it. */
export const PUBLISH_LOCK_KEY = 0x7475665f707562n;

/** First key of the two-key advisory lock that serializes one role's versions. */
const ROLE_LOCK_CLASS = 7_302_005;

export type PublishLockMode = 'exclusive' | 'shared' | 'try-exclusive';

/**
 * Takes the publishing lock for the rest of the transaction. `try-exclusive` returns false at once
 * when another transaction holds it; the other modes wait and return true.
 */
export async function takePublishLock(trx: Db, mode: PublishLockMode): Promise<boolean> {
  if (mode === 'try-exclusive') {
    const res = await trx.raw('select pg_try_advisory_xact_lock(?::bigint) as ok', [PUBLISH_LOCK_KEY.toString()]);
    return res.rows[0].ok === true;
  }
  const fn = mode === 'exclusive' ? 'pg_advisory_xact_lock' : 'pg_advisory_xact_lock_shared';
  await trx.raw(`select ${fn}(?::bigint)`, [PUBLISH_LOCK_KEY.toString()]);
  return true;
}

/**
 * Takes `role`'s own lock and turns synchronous commit off for this transaction, in one round
 * trip (steps 2 and 3 above). Call `commitSynchronously` before answering without a snapshot.
 */
export async function lockRoleForAsyncCommit(trx: Db, role: string): Promise<void> {
  await trx.raw(`select pg_advisory_xact_lock(?, hashtext(?)), set_config('synchronous_commit', 'off', true)`, [ROLE_LOCK_CLASS, role]);
}

/** This transaction's commit waits for its WAL flush again (step 4 above). */
export async function commitSynchronously(trx: Db): Promise<void> {
  await trx.raw('set local synchronous_commit = on');
}

/**
 * Waits until no transaction holds the publishing lock exclusively (another process's round), in
 * one statement: a shared request waits only for an exclusive holder and queues no publication;
 * taken for the statement's own transaction (autocommit), it is let go when the statement ends.
 * Lets a process that could not publish wait for the one that does instead of polling it.
 */
export async function waitWhilePublishing(db: Knex): Promise<void> {
  await db.raw('select pg_advisory_xact_lock_shared(?::bigint)', [PUBLISH_LOCK_KEY.toString()]);
}
