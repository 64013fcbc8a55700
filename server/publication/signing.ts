// Signs snapshot and timestamp with the online keys, inside the caller's transaction. Only the
// publication module calls these, always holding the publishing lock exclusively, so exactly one
// writer ever signs a given version.
import os from 'node:os';
import type { Root } from '@tufjs/models';
import { sha256Hex } from '../../core/canonical.ts';
import type { Clock } from '../../core/clock.ts';
import { buildTimestampSigned, expiresAfter, servedBytes, signEnvelope, type MetaEntry } from '../../core/metadata.ts';
import { signSnapshotBytes, snapshotSignedBytes } from '../../core/snapshotText.ts';
import { appendAudit } from '../db/auditRepo.ts';
import type { Db } from '../db/knex.ts';
import { getHead, getHeadVersions, insertMetadataVersion } from '../db/metadataRepo.ts';
import type { OnlineRole } from '../onlineKeys.ts';
import type { PublishedFile } from '../serving/published.ts';
import type { OnlineSigners } from './onlineSigners.ts';
import type { SnapshotMeta, SnapshotState } from './snapshotMeta.ts';

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
  /** Told how long building and signing each snapshot took, and its size (metrics). */
  onSnapshot?: (seconds: number, bytes: number, entries: number) => void;
}

async function store(
  ctx: SigningContext,
  role: OnlineRole,
  version: number,
  expires: string,
  bytes: Buffer,
  coversSeq?: string,
): Promise<PublishedFile> {
  const sha256 = sha256Hex(bytes);
  await insertMetadataVersion(ctx.db, {
    role,
    version,
    bytes,
    sha256,
    expires: new Date(expires),
    ...(coversSeq !== undefined ? { coversSeq } : {}),
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
  return { version: head + 1, expires: expiresAfter(ctx.clock.now(), lifetime) };
}

async function signTimestamp(
  ctx: SigningContext,
  snapshotVersion: number,
  snapshotBytes: Buffer,
  snapshotSha256?: string,
): Promise<PublishedFile> {
  const { version, expires } = await nextVersion(ctx, 'timestamp');
  const entry: MetaEntry = {
    version: snapshotVersion,
    length: snapshotBytes.length,
    hashes: { sha256: snapshotSha256 ?? sha256Hex(snapshotBytes) },
  };
  const envelope = await signEnvelope(buildTimestampSigned(version, expires, entry), [await ctx.signers.signerFor('timestamp', ctx.root)]);
  return store(ctx, 'timestamp', version, expires, servedBytes(envelope));
}

/** A new snapshot over the current head of every targets role, then a timestamp over it. */
export async function signSnapshotAndTimestamp(ctx: SigningContext, known?: SnapshotState): Promise<PublishedFile[]> {
  const started = process.hrtime.bigint();
  const built = await ctx.snapshotMeta.build(ctx.db, known);
  const { version, expires } = await nextVersion(ctx, 'snapshot', known ? (known.head?.version ?? 0) : undefined);
  const bytes = await signSnapshotBytes(snapshotSignedBytes(version, expires, built.metaText), [
    await ctx.signers.signerFor('snapshot', ctx.root),
  ]);
  const snapshot = await store(ctx, 'snapshot', version, expires, bytes, built.coversSeq);
  built.remember(version, snapshot.file!.sha256);
  ctx.onSnapshot?.(Number(process.hrtime.bigint() - started) / 1e9, bytes.length, built.size);
  return [snapshot, await signTimestamp(ctx, version, bytes, snapshot.file!.sha256)];
}

/** A new timestamp over the current snapshot (snapshot unchanged). */
export async function signTimestampOnly(ctx: SigningContext): Promise<PublishedFile[]> {
  const [snapshot] = await getHeadVersions(ctx.db, ['snapshot']);
  if (!snapshot) throw new Error('no snapshot to timestamp');
  return [await signTimestamp(ctx, snapshot.version, snapshot.bytes, snapshot.sha256)];
}
