// Signs snapshot and timestamp with the online keys, inside the caller's transaction. Callers hold
// the publishing lock, so exactly one writer ever signs a given version.
import os from 'node:os';
import type { Root } from '@tufjs/models';
import { buildTimestampSigned, expiresAfter, servedBytes, signEnvelope, type MetaEntry } from '../../core/metadata.ts';
import { SnapshotEntries, signSnapshotBytes, snapshotSignedBytes } from '../../core/snapshotText.ts';
import type { Signer } from '../../core/signer.ts';
import type { Clock } from '../../core/clock.ts';
import { appendAudit } from '../db/auditRepo.ts';
import type { Db } from '../db/knex.ts';
import { getHead, getHeadVersions, insertMetadataVersion, maxSnapshotChangeSeq, snapshotEntriesChanged, snapshotHeadInfo, type SnapshotHeadInfo } from '../db/metadataRepo.ts';
import { sha256Hex } from '../../core/canonical.ts';
import type { OnlineKeyStore, OnlineRole } from '../onlineKeys.ts';
import { ONLINE_ROLES } from '../onlineKeys.ts';

/** Which server process signed: recorded with every online signature, for the audit trail. */
export const INSTANCE = `${os.hostname()}:${process.pid}`;

/** Key for pg_advisory_xact_lock: every transaction that publishes metadata takes it first. */
export const PUBLISH_LOCK_KEY = 0x7475665f707562n; // "tuf_pub"

/**
 * Exclusive: whoever signs snapshot/timestamp or changes top-level metadata. Shared: a project
 * role commit, so that many commit at once while none overlaps a publication or a change of
 * delegations (and so each snapshot sees every commit that finished before it).
 */
export async function takePublishLock(trx: Db, mode: 'exclusive' | 'shared' = 'exclusive'): Promise<void> {
  const fn = mode === 'exclusive' ? 'pg_advisory_xact_lock' : 'pg_advisory_xact_lock_shared';
  await trx.raw(`select ${fn}(?::bigint)`, [PUBLISH_LOCK_KEY.toString()]);
}

/** Takes the publishing lock exclusively if it is free; false without waiting otherwise. */
export async function tryPublishLock(trx: Db): Promise<boolean> {
  const res = await trx.raw('select pg_try_advisory_xact_lock(?::bigint) as ok', [PUBLISH_LOCK_KEY.toString()]);
  return res.rows[0].ok === true;
}

/** The highest role change and the current snapshot, when the caller read them in this transaction. */
export interface SnapshotState {
  upto: string;
  head: SnapshotHeadInfo | undefined;
}

/**
 * The snapshot's entries, kept in memory between publications so that the next one only reads the
 * roles changed since (role_heads.change_seq) and only canonicalizes those. Keyed by the version
 * and digest of the snapshot they describe: after a rolled-back or foreign publication they do not
 * match, and are rebuilt from every role.
 */
export class SnapshotMeta {
  private state: { version: number; sha256: string; coversSeq: string; entries: SnapshotEntries } | null = null;

  async build(db: Db, known?: SnapshotState): Promise<{ metaText: string; size: number; coversSeq: string; remember(version: number, sha256: string): void }> {
    const upto = known ? known.upto : await maxSnapshotChangeSeq(db);
    const head = known ? known.head : await snapshotHeadInfo(db);
    const s = this.state;
    const incremental = s && head && head.covers_seq !== null && s.version === head.version && s.sha256 === head.sha256;
    const entries = incremental ? s.entries : new SnapshotEntries();
    const rows = await snapshotEntriesChanged(db, incremental ? s.coversSeq : null, upto);
    const changes = new Map<string, MetaEntry>();
    for (const r of rows) changes.set(`${r.role}.json`, { version: r.version, length: r.length, hashes: { sha256: r.sha256 } });
    const next = entries.withChanges(changes);
    return {
      metaText: next.metaText,
      size: next.size,
      coversSeq: upto,
      remember: (version, sha256) => {
        next.commit();
        this.state = { version, sha256, coversSeq: upto, entries };
      },
    };
  }
}

export class OnlineSignerUnavailable extends Error {
  override readonly name = 'OnlineSignerUnavailable';
  readonly code = 'online_key_unavailable' as const;
}

/** Online keys held by the server, matched against what the trusted root delegates to. */
export class OnlineSigners {
  private signers: Record<OnlineRole, Signer[]> = { snapshot: [], timestamp: [] };
  constructor(private readonly store: OnlineKeyStore) {}

  async load(): Promise<void> {
    for (const role of ONLINE_ROLES) this.signers[role] = await this.store.list(role);
  }

  /**
   * The held key that root lists for `role`, under root's keyid for it (another tool may have
   * computed that keyid by another rule). Prefers the newest key.
   */
  /** Like forRoot, re-reading the key store once on a miss (another process may have rotated). */
  async signerFor(role: OnlineRole, root: Root): Promise<Signer> {
    try {
      return this.forRoot(role, root);
    } catch (err) {
      if (!(err instanceof OnlineSignerUnavailable)) throw err;
      await this.load();
      return this.forRoot(role, root);
    }
  }

  forRoot(role: OnlineRole, root: Root): Signer {
    const keyids = root.roles[role]?.keyIDs ?? [];
    for (const signer of [...this.signers[role]].reverse()) {
      const keyid = keyids.find((id) => {
        const key = root.keys[id];
        return key && key.keyType === signer.publicKey.keytype && key.scheme === signer.publicKey.scheme &&
          key.keyVal.public === signer.publicKey.keyval.public;
      });
      if (keyid) return { keyid, publicKey: signer.publicKey, sign: (m) => signer.sign(m) };
    }
    throw new OnlineSignerUnavailable(`the server holds no ${role} key that root v${root.version} lists`);
  }
}

export interface PublishContext {
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

export interface PublishedRole {
  role: string;
  version: number;
}

export interface Published extends PublishedRole {
  /** The bytes just signed, so this process serves them without reading them back. Never notified. */
  file?: { bytes: Buffer; sha256: string; expires: Date };
}

async function store(ctx: PublishContext, role: OnlineRole, version: number, expires: string, bytes: Buffer, coversSeq?: string): Promise<Published> {
  const sha256 = sha256Hex(bytes);
  await insertMetadataVersion(ctx.db, { role, version, bytes, sha256, expires: new Date(expires), ...(coversSeq !== undefined ? { coversSeq } : {}) });
  await appendAudit(ctx.db, { actor: ctx.actor, action: `${role}.signed`, role, version, details: { reason: ctx.reason, instance: INSTANCE } });
  return { role, version, file: { bytes, sha256, expires: new Date(expires) } };
}

/** The role's next version (after `current`, when the caller read it in this transaction) and expiry. */
async function nextVersion(ctx: PublishContext, role: OnlineRole, current?: number): Promise<{ version: number; expires: string }> {
  const head = current === undefined ? (await getHead(ctx.db, role))?.version ?? 0 : current;
  const lifetime = role === 'snapshot' ? ctx.snapshotExpirySeconds : ctx.timestampExpirySeconds;
  return { version: head + 1, expires: expiresAfter(ctx.clock.now(), lifetime) };
}

async function signTimestamp(ctx: PublishContext, snapshotVersion: number, snapshotBytes: Buffer, snapshotSha256?: string): Promise<Published> {
  const { version, expires } = await nextVersion(ctx, 'timestamp');
  const entry: MetaEntry = { version: snapshotVersion, length: snapshotBytes.length, hashes: { sha256: snapshotSha256 ?? sha256Hex(snapshotBytes) } };
  const envelope = await signEnvelope(buildTimestampSigned(version, expires, entry), [await ctx.signers.signerFor('timestamp', ctx.root)]);
  return store(ctx, 'timestamp', version, expires, servedBytes(envelope));
}

/** A new snapshot over the current head of every targets role, then a timestamp over it. */
export async function publishSnapshotAndTimestamp(ctx: PublishContext, known?: SnapshotState): Promise<Published[]> {
  const started = process.hrtime.bigint();
  const built = await ctx.snapshotMeta.build(ctx.db, known);
  const { version, expires } = await nextVersion(ctx, 'snapshot', known ? (known.head?.version ?? 0) : undefined);
  const bytes = await signSnapshotBytes(snapshotSignedBytes(version, expires, built.metaText), [await ctx.signers.signerFor('snapshot', ctx.root)]);
  const snapshot = await store(ctx, 'snapshot', version, expires, bytes, built.coversSeq);
  built.remember(version, snapshot.file!.sha256);
  ctx.onSnapshot?.(Number(process.hrtime.bigint() - started) / 1e9, bytes.length, built.size);
  return [snapshot, await signTimestamp(ctx, version, bytes, snapshot.file!.sha256)];
}

/** A new timestamp over the current snapshot (snapshot unchanged). */
export async function publishTimestamp(ctx: PublishContext): Promise<Published[]> {
  const [snapshot] = await getHeadVersions(ctx.db, ['snapshot']);
  if (!snapshot) throw new Error('no snapshot to timestamp');
  return [await signTimestamp(ctx, snapshot.version, snapshot.bytes, snapshot.sha256)];
}
