// Signs snapshot and timestamp with the online keys, inside the caller's transaction. Only the
// publication module calls these, always holding the publishing lock exclusively, so exactly one
// writer ever signs a given version.
import os from 'node:os';
import type { Root } from '@tufjs/models';
import { sha256Hex } from '../../core/canonical.ts';
import type { Clock } from '../../core/clock.ts';
import { buildTimestampSigned, expiresAfter, servedBytes, signEnvelope, type MetaEntry } from '../../core/metadata.ts';
import { encodeSnapshotDelta } from '../../core/snapshotDelta.ts';
import { finishSnapshotFile, layOutSnapshotFile, signSnapshot } from '../../core/snapshotText.ts';
import { appendAudit } from '../db/auditRepo.ts';
import type { Db } from '../db/knex.ts';
import { getHead, getHeadVersions, insertMetadataVersion } from '../db/metadataRepo.ts';
import { recordVersionJump } from '../db/recoveryRepo.ts';
import type { OnlineRole } from '../onlineKeys.ts';
import type { PublishedFile } from '../serving/published.ts';
import type { OnlineSigners } from './onlineSigners.ts';
import type { SnapshotMeta, SnapshotState } from './snapshotMeta.ts';

export interface SnapshotCost {
  treeSeconds: number;
  /** What was stored: the delta's length, or the whole file's. */
  storedBytes: number;
}

/** Which server process signed: recorded with every online signature, for the audit trail. */
export const INSTANCE = `${os.hostname()}:${process.pid}`;

export interface SigningContext {
  db: Db;
  root: Root;
  signers: OnlineSigners;
  clock: Clock;
  snapshotExpirySeconds: number;
  timestampExpirySeconds: number;
  actor: string;
  reason: string;
  snapshotMeta: SnapshotMeta;
  /**
   * Restore safety (publishedMark.ts, recovery.ts): new versions are signed above these (the
   * published mark, or the highest versions a recovery established); a skipped range is recorded
   * in version_jumps with `jump`'s reason and sources.
   */
  versionFloor?: Partial<Record<OnlineRole, number>>;
  jump?: { reason: string; sources: Record<string, unknown> };
  /** Told how long building and signing each snapshot took, its size, and what its tree and storage cost (metrics). */
  onSnapshot?: (seconds: number, bytes: number, entries: number, cost: SnapshotCost) => void;
}

async function store(
  ctx: SigningContext,
  role: OnlineRole,
  version: number,
  expires: string,
  bytes: Buffer,
  snapshot?: { coversSeq: string; delta?: string },
): Promise<PublishedFile> {
  const sha256 = sha256Hex(bytes);
  await insertMetadataVersion(ctx.db, {
    role,
    version,
    bytes,
    sha256,
    expires: new Date(expires),
    ...(snapshot ? { coversSeq: snapshot.coversSeq } : {}),
    ...(snapshot?.delta !== undefined ? { snapshotDelta: snapshot.delta } : {}),
  });
  await appendAudit(ctx.db, {
    actor: ctx.actor,
    action: `${role}.signed`,
    role,
    version,
    details: { reason: ctx.reason, instance: INSTANCE },
  });
  return { role, version, file: { bytes, sha256, expires: new Date(expires) } };
}

/** The role's next version (after `current`, when the caller read it in this transaction) and expiry. */
async function nextVersion(ctx: SigningContext, role: OnlineRole, current?: number): Promise<{ version: number; expires: string }> {
  const head = current === undefined ? ((await getHead(ctx.db, role))?.version ?? 0) : current;
  const lifetime = role === 'snapshot' ? ctx.snapshotExpirySeconds : ctx.timestampExpirySeconds;
  // Never a version at or below the published mark: clients may hold it (restore safety).
  const version = Math.max(head, ctx.versionFloor?.[role] ?? 0) + 1;
  if (version > head + 1) {
    const jump = ctx.jump ?? {
      reason: 'the published mark is above the stored head (a commit was lost, or the database was restored)',
      sources: {},
    };
    await recordVersionJump(ctx.db, { role, fromVersion: head, toVersion: version, ...jump });
  }
  return { version, expires: expiresAfter(ctx.clock.now(), lifetime) };
}

async function signTimestamp(
  ctx: SigningContext,
  snapshot: { version: number; length: number; sha256: string; merkleRoot?: string },
): Promise<PublishedFile> {
  const { version, expires } = await nextVersion(ctx, 'timestamp');
  const entry: MetaEntry = { version: snapshot.version, length: snapshot.length, hashes: { sha256: snapshot.sha256 } };
  const signed = buildTimestampSigned(version, expires, entry, snapshot.merkleRoot);
  const envelope = await signEnvelope(signed, [await ctx.signers.signerFor('timestamp', ctx.root)]);
  return store(ctx, 'timestamp', version, expires, servedBytes(envelope));
}

/**
 * A new snapshot over the current head of every targets role, then a timestamp over it (with the
 * root of the TAP 16 tree over the same entries, when the repository publishes trees). The
 * snapshot is stored as its changes since the previous version when the entries continue from
 * it; its whole file is what is signed, served and hashed either way.
 */
export async function signSnapshotAndTimestamp(ctx: SigningContext, known?: SnapshotState): Promise<PublishedFile[]> {
  const started = process.hrtime.bigint();
  const built = await ctx.snapshotMeta.build(ctx.db, known);
  const { version, expires } = await nextVersion(ctx, 'snapshot', known ? (known.head?.version ?? 0) : undefined);
  const layout = layOutSnapshotFile(version, expires, built.metaBytes);
  const signatures = await signSnapshot(layout.signed, [await ctx.signers.signerFor('snapshot', ctx.root)]);
  const bytes = finishSnapshotFile(layout, signatures);
  const delta =
    built.deltaFrom && built.deltaFrom.version === version - 1
      ? encodeSnapshotDelta({ expires, signatures, changes: built.deltaFrom.changes })
      : undefined;
  const snapshot = await store(ctx, 'snapshot', version, expires, bytes, {
    coversSeq: built.coversSeq,
    ...(delta !== undefined ? { delta } : {}),
  });
  const sha256 = snapshot.file!.sha256;
  built.remember(version, sha256, delta === undefined);
  snapshot.snapshot = {
    rebuilt: {
      version,
      entries: built.entries,
      bytes,
      changed: built.deltaFrom?.changes ?? built.entries.texts(),
      since: built.deltaFrom?.version ?? 0,
    },
    tree: built.tree,
    checkpointDue: delta !== undefined && built.checkpointDue(version),
  };
  ctx.onSnapshot?.(Number(process.hrtime.bigint() - started) / 1e9, bytes.length, built.size, {
    treeSeconds: built.treeSeconds,
    storedBytes: delta !== undefined ? Buffer.byteLength(delta) : bytes.length,
  });
  const merkleRoot = built.tree?.root.toString('hex');
  return [snapshot, await signTimestamp(ctx, { version, length: bytes.length, sha256, ...(merkleRoot ? { merkleRoot } : {}) })];
}

/** A new timestamp over the current snapshot (snapshot unchanged). */
export async function signTimestampOnly(ctx: SigningContext): Promise<PublishedFile[]> {
  const [snapshot] = await getHeadVersions(ctx.db, ['snapshot']);
  if (!snapshot) throw new Error('no snapshot to timestamp');
  // The tree's root is the one the current timestamp carries: same snapshot, same entries.
  const current = await getHeadVersions(ctx.db, ['timestamp']);
  const merkleRoot = current[0]?.bytes ? merkleRootOf(current[0].bytes) : undefined;
  return [
    await signTimestamp(ctx, {
      version: snapshot.version,
      length: snapshot.length,
      sha256: snapshot.sha256,
      ...(merkleRoot ? { merkleRoot } : {}),
    }),
  ];
}

/** The `merkle_root` a stored timestamp carries, if any. */
function merkleRootOf(timestampBytes: Buffer): string | undefined {
  const signed = (JSON.parse(timestampBytes.toString('utf8')) as { signed?: { merkle_root?: unknown } }).signed;
  return typeof signed?.merkle_root === 'string' ? signed.merkle_root : undefined;
}
