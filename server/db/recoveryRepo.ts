// What a restore leaves for the servers to do (recovery_required) and the versions skipped on
// purpose (version_jumps); see migrations/20261221120000_restore_recovery.ts.
import type { Db } from './knex.ts';
import type { VersionJumpRow } from './rows.ts';

export async function recoveryRequired(db: Db): Promise<{ reason: string; since: Date } | null> {
  const row = await db('recovery_required').first('reason', 'since');
  return row ?? null;
}

export async function setRecoveryRequired(db: Db, reason: string): Promise<void> {
  await db('recovery_required')
    .insert({ one: true, reason })
    .onConflict('one')
    .merge({ reason, since: db.fn.now() as never });
}

export async function clearRecoveryRequired(db: Db): Promise<void> {
  await db('recovery_required').delete();
}

/**
 * The bucket PUBLISH_TO copies to holds timestamp versions up to `version` (what clients may
 * hold): its copier writes timestamp.json only above the publish_mirror row's timestamp_version,
 * and a restored row carries the backup's, so the outbox rows restored with it would put an older
 * timestamp.json over the newer one the bucket serves. No-op without a bucket.
 */
export async function raiseCopiedTimestamp(db: Db, version: number): Promise<void> {
  await db('publish_mirror').update({ timestamp_version: db.raw('greatest(timestamp_version, ?)', [version]) });
}

export async function recordVersionJump(
  db: Db,
  jump: { role: string; fromVersion: number; toVersion: number; reason: string; sources: Record<string, unknown> },
): Promise<void> {
  await db('version_jumps').insert({
    role: jump.role,
    from_version: jump.fromVersion,
    to_version: jump.toVersion,
    reason: jump.reason,
    sources: JSON.stringify(jump.sources),
  });
}

export async function listVersionJumps(db: Db): Promise<VersionJumpRow[]> {
  return db('version_jumps').orderBy('id');
}

/** The sha256 of root v1: names the repository a published mark belongs to. */
export async function firstRootSha256(db: Db): Promise<string | null> {
  const row = await db('metadata_versions').where({ role: 'root', version: 1 }).first('sha256');
  return row?.sha256 ?? null;
}
