// Copying a set of metadata files, with the target files they list, into the bucket in the order of
// order.ts. Shared by the outbox batches and the first copy of a bucket.
import type { Knex } from 'knex';
import { isPlainObject } from '../../core/canonical.ts';
import type { RebuiltSnapshot } from '../../core/snapshotDelta.ts';
import { metadataBytesOf } from '../db/mirrorRepo.ts';
import { loadSnapshotVersion } from '../db/snapshotVersions.ts';
import type { BucketWriter } from './bucketWriter.ts';
import { metadataName, planMetadata, type RoleVersion } from './order.ts';

/** The target files a targets role's bytes list: path and SHA-256 (the name clients fetch them by). */
export function listedTargets(bytes: Buffer): { path: string; sha256: string }[] {
  const doc = JSON.parse(bytes.toString('utf8')) as { signed?: { targets?: unknown } };
  const targets = doc.signed?.targets;
  if (!isPlainObject(targets)) return [];
  const out: { path: string; sha256: string }[] = [];
  for (const path of Object.keys(targets)) {
    const sha256 = (targets[path] as { hashes?: { sha256?: unknown } } | undefined)?.hashes?.sha256;
    // The server serves a target by its SHA-256 alone (targets/DIR/SHA256.NAME); so does the bucket.
    if (typeof sha256 === 'string' && /^[0-9a-f]{64}$/.test(sha256)) out.push({ path, sha256 });
  }
  return out;
}

export interface CopyContext {
  knex: Knex;
  writer: BucketWriter;
  /** Called between phases and every few hundred objects: throws when this process lost the lease (renewed in the background). */
  checkpoint(): Promise<void>;
  /** The last snapshot version rebuilt: the next one is rebuilt from it (held between batches). */
  heldSnapshot: RebuiltSnapshot | null;
}

/**
 * Copies every file of `files` but timestamp (the caller writes that last, alone): target files,
 * delegated roles, top-level roles, snapshots. Returns the newest timestamp of `files`, if any.
 */
export async function copyInOrder(ctx: CopyContext, files: readonly RoleVersion[]): Promise<RoleVersion | null> {
  const plan = planMetadata(files);
  const plain = [...plan.get('delegated')!, ...plan.get('top-level')!];
  const bytes = await metadataBytesOf(ctx.knex, plain);
  for (const f of plain) if (!bytes.has(`${f.version}.${f.role}`)) throw new Error(`${f.role} v${f.version} is not stored`);
  // 1. Target files of every targets role (root lists none).
  const targets = new Map<string, { path: string; sha256: string }>();
  for (const f of plain) {
    if (f.role === 'root') continue;
    for (const t of listedTargets(bytes.get(`${f.version}.${f.role}`)!)) targets.set(`${t.sha256}\n${t.path}`, t);
  }
  await ctx.checkpoint();
  await inChunks(ctx, [...targets.values()], (t) => ctx.writer.target(t.path, t.sha256));
  // 2. and 3. Delegated roles, then top-level targets and root.
  for (const phase of ['delegated', 'top-level'] as const) {
    await ctx.checkpoint();
    await inChunks(ctx, plan.get(phase)!, (f) =>
      ctx.writer.metadata(metadataName(f.role, f.version), bytes.get(`${f.version}.${f.role}`)!),
    );
  }
  // 4. Snapshots, in order, each rebuilt from the one before (most are stored as deltas).
  await ctx.checkpoint();
  for (const s of plan.get('snapshot')!) {
    const rebuilt = await loadSnapshotVersion(ctx.knex, s.version, ctx.heldSnapshot);
    if (!rebuilt) throw new Error(`snapshot v${s.version} is not stored`);
    ctx.heldSnapshot = rebuilt;
    await ctx.writer.metadata(metadataName('snapshot', s.version), rebuilt.bytes);
  }
  return plan.get('timestamp')![0] ?? null;
}

/** `work` over `items` at the writer's concurrency, with a checkpoint every 256 items. */
export async function inChunks<T>(ctx: CopyContext, items: readonly T[], work: (item: T) => Promise<void>): Promise<void> {
  for (let i = 0; i < items.length; i += 256) {
    if (i > 0) await ctx.checkpoint();
    await ctx.writer.each(items.slice(i, i + 256), work);
  }
}
