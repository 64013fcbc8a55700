// Signs snapshot and timestamp with the online keys, inside the caller's transaction. Callers hold
// the publishing lock, so exactly one writer ever signs a given version.
import os from 'node:os';
import type { Root } from '@tufjs/models';
import {
  buildSnapshotSigned,
  buildTimestampSigned,
  expiresAfter,
  metaEntryFor,
  servedBytes,
  signEnvelope,
  type MetaEntry,
} from '../../core/metadata.ts';
import type { Signer } from '../../core/signer.ts';
import type { Clock } from '../../core/clock.ts';
import { appendAudit } from '../db/auditRepo.ts';
import type { Db } from '../db/knex.ts';
import { getHead, getHeadVersions, insertMetadataVersion, maxSnapshotChangeSeq, snapshotEntriesChanged, snapshotHeadInfo } from '../db/metadataRepo.ts';
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

/**
 * The snapshot's meta, kept in memory between publications so that the next one only reads the
 * roles changed since (role_heads.change_seq). Keyed by the version and digest of the snapshot it
 * describes: after a rolled-back or foreign publication it does not match, and is rebuilt.
 */
export class SnapshotMeta {
  private state: { version: number; sha256: string; coversSeq: string; meta: Map<string, MetaEntry> } | null = null;

  async build(db: Db): Promise<{ meta: Map<string, MetaEntry>; coversSeq: string; remember(version: number, sha256: string): void }> {
    const upto = await maxSnapshotChangeSeq(db);
    const head = await snapshotHeadInfo(db);
    const s = this.state;
    let meta: Map<string, MetaEntry>;
    let rows;
    if (s && head && head.covers_seq !== null && s.version === head.version && s.sha256 === head.sha256) {
      meta = new Map(s.meta);
      rows = await snapshotEntriesChanged(db, s.coversSeq, upto);
    } else {
      meta = new Map();
      rows = await snapshotEntriesChanged(db, null, upto);
    }
    for (const r of rows) meta.set(`${r.role}.json`, { version: r.version, length: r.length, hashes: { sha256: r.sha256 } });
    return {
      meta,
      coversSeq: upto,
      remember: (version, sha256) => {
        this.state = { version, sha256, coversSeq: upto, meta };
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

export interface Published {
  role: string;
  version: number;
  /** The bytes just signed, so this process serves them without reading them back. Never notified. */
  file?: { bytes: Buffer; sha256: string; expires: Date };
}

async function signAndStore(ctx: PublishContext, role: OnlineRole, build: (version: number, expires: string) => ReturnType<typeof buildSnapshotSigned>, coversSeq?: string): Promise<{ version: number; bytes: Buffer; published: Published }> {
  const head = await getHead(ctx.db, role);
  const version = (head?.version ?? 0) + 1;
  const lifetime = role === 'snapshot' ? ctx.snapshotExpirySeconds : ctx.timestampExpirySeconds;
  const expires = expiresAfter(ctx.clock.now(), lifetime);
  const envelope = await signEnvelope(build(version, expires), [await ctx.signers.signerFor(role, ctx.root)]);
  const bytes = servedBytes(envelope);
  await insertMetadataVersion(ctx.db, { role, version, bytes, expires: new Date(expires), ...(coversSeq !== undefined ? { coversSeq } : {}) });
  await appendAudit(ctx.db, { actor: ctx.actor, action: `${role}.signed`, role, version, details: { reason: ctx.reason, instance: INSTANCE } });
  return { version, bytes, published: { role, version, file: { bytes, sha256: sha256Hex(bytes), expires: new Date(expires) } } };
}

/** A new snapshot over the current head of every targets role, then a timestamp over it. */
export async function publishSnapshotAndTimestamp(ctx: PublishContext): Promise<Published[]> {
  const started = process.hrtime.bigint();
  const built = await ctx.snapshotMeta.build(ctx.db);
  const meta = Object.fromEntries(built.meta);
  const snapshot = await signAndStore(ctx, 'snapshot', (v, exp) => buildSnapshotSigned(v, exp, meta), built.coversSeq);
  built.remember(snapshot.version, snapshot.published.file!.sha256);
  ctx.onSnapshot?.(Number(process.hrtime.bigint() - started) / 1e9, snapshot.bytes.length, built.meta.size);
  const timestamp = await signAndStore(ctx, 'timestamp', (v, exp) =>
    buildTimestampSigned(v, exp, metaEntryFor(snapshot.version, snapshot.bytes)));
  return [
    snapshot.published,
    timestamp.published,
  ];
}

/** A new timestamp over the current snapshot (snapshot unchanged). */
export async function publishTimestamp(ctx: PublishContext): Promise<Published[]> {
  const [snapshot] = await getHeadVersions(ctx.db, ['snapshot']);
  if (!snapshot) throw new Error('no snapshot to timestamp');
  const timestamp = await signAndStore(ctx, 'timestamp', (v, exp) =>
    buildTimestampSigned(v, exp, metaEntryFor(snapshot.version, snapshot.bytes)));
  return [timestamp.published];
}
