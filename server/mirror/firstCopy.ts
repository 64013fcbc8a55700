// The first copy of the repository into a bucket that was just set (PUBLISH_TO new or changed).
//
// Setting the bucket (db/mirrorRepo.ts setMirror, under the exclusive publishing lock) recorded the
// snapshot version R and timestamp version T current at that moment; every publication after it
// is in the outbox. This copy makes the bucket hold the repository as it stood at R:
// - every role's versions from the one snapshot R lists (or 1, for a role R does not list) up to
//   its head now, with their target files: snapshot R names the first, the outbox covers versions
//   committed after R, and a version committed before R but listed only by a later snapshot (a
//   role commit R did not cover yet) lies between the two, so it is copied here;
// - every root version (a client walks root from the one it ships with);
// - snapshot R, then timestamp T as timestamp.json, last.
// Roles go in name order and the last one done is recorded, so a copy stopped by a crash or an
// outage resumes there. Older versions (before those R lists) are not copied: no client reaches
// them from the bucket.
import { isPlainObject } from '../../core/canonical.ts';
import { getHead, getMetadataVersion } from '../db/metadataRepo.ts';
import { metadataBytesBetween, recordMirrorProgress, roleHeadsAfter } from '../db/mirrorRepo.ts';
import type { PublishMirrorRow } from '../db/rows.ts';
import { loadSnapshotVersion } from '../db/snapshotVersions.ts';
import { listedTargets, type CopyContext } from './copyFiles.ts';
import { metadataName } from './order.ts';

const ROLES_PER_STEP = 200;

/** The version of each role snapshot bytes list (`NAME.json` -> version). */
function listedVersions(bytes: Buffer): Map<string, number> {
  const meta = (JSON.parse(bytes.toString('utf8')) as { signed?: { meta?: unknown } }).signed?.meta;
  const out = new Map<string, number>();
  if (!isPlainObject(meta)) return out;
  for (const name of Object.keys(meta)) {
    const version = (meta[name] as { version?: unknown }).version;
    if (name.endsWith('.json') && typeof version === 'number') out.set(name.slice(0, -'.json'.length), version);
  }
  return out;
}

export interface FirstCopyOutcome {
  timestampVersion: number;
}

/**
 * Runs (or resumes) the first copy; `holder` must hold the lease (progress is recorded only while
 * it does). `writeTimestamp` writes timestamp.json last, guarded by the caller's lease.
 */
export async function firstCopy(
  ctx: CopyContext,
  row: PublishMirrorRow,
  holder: string,
  writeTimestamp: (bytes: Buffer, version: number) => Promise<void>,
): Promise<FirstCopyOutcome | null> {
  const snapshotVersion = Number(row.sync_snapshot_version);
  if (snapshotVersion === 0) return null; // not bootstrapped when set: everything is in the outbox
  const snapshot = await loadSnapshotVersion(ctx.knex, snapshotVersion, ctx.heldSnapshot);
  if (!snapshot) throw new Error(`snapshot v${snapshotVersion} (current when the bucket was set) is not stored`);
  const listed = listedVersions(snapshot.bytes);
  let cursor = row.sync_cursor ?? '';
  for (;;) {
    const heads = await roleHeadsAfter(ctx.knex, cursor, ROLES_PER_STEP);
    if (heads.length === 0) break;
    await ctx.checkpoint();
    await ctx.writer.each(heads, async (head) => {
      const from = Math.min(listed.get(head.role) ?? 1, head.version);
      for (const { version, bytes } of await metadataBytesBetween(ctx.knex, head.role, from, head.version)) {
        for (const t of listedTargets(bytes)) {
          await ctx.checkpoint();
          await ctx.writer.target(t.path, t.sha256);
        }
        await ctx.writer.metadata(metadataName(head.role, version), bytes);
      }
    });
    cursor = heads.at(-1)!.role;
    if (!(await recordMirrorProgress(ctx.knex, holder, { objectsWritten: 0, syncCursor: cursor })))
      throw new Error('lost the lease on the bucket copy to another process');
  }
  const rootHead = (await getHead(ctx.knex, 'root'))?.version ?? 0;
  await ctx.checkpoint();
  for (const { version, bytes } of await metadataBytesBetween(ctx.knex, 'root', 1, rootHead))
    await ctx.writer.metadata(metadataName('root', version), bytes);
  ctx.heldSnapshot = snapshot;
  await ctx.writer.metadata(metadataName('snapshot', snapshotVersion), snapshot.bytes);
  const timestamp = await getMetadataVersion(ctx.knex, 'timestamp', row.sync_timestamp_version);
  if (!timestamp?.bytes) throw new Error(`timestamp v${row.sync_timestamp_version} (current when the bucket was set) is not stored`);
  await writeTimestamp(timestamp.bytes, row.sync_timestamp_version);
  return { timestampVersion: row.sync_timestamp_version };
}
