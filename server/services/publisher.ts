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
import { getHead, getHeadVersions, insertMetadataVersion, listSnapshotEntries } from '../db/metadataRepo.ts';
import type { OnlineKeyStore, OnlineRole } from '../onlineKeys.ts';
import { ONLINE_ROLES } from '../onlineKeys.ts';

/** Which server process signed: recorded with every online signature, for the audit trail. */
export const INSTANCE = `${os.hostname()}:${process.pid}`;

/** Key for pg_advisory_xact_lock: every transaction that publishes metadata takes it first. */
export const PUBLISH_LOCK_KEY = 0x7475665f707562n; // "tuf_pub"

export async function takePublishLock(trx: Db): Promise<void> {
  await trx.raw('select pg_advisory_xact_lock(?::bigint)', [PUBLISH_LOCK_KEY.toString()]);
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
}

export interface Published {
  role: string;
  version: number;
}

async function signAndStore(ctx: PublishContext, role: OnlineRole, build: (version: number, expires: string) => ReturnType<typeof buildSnapshotSigned>): Promise<{ version: number; bytes: Buffer }> {
  const head = await getHead(ctx.db, role);
  const version = (head?.version ?? 0) + 1;
  const lifetime = role === 'snapshot' ? ctx.snapshotExpirySeconds : ctx.timestampExpirySeconds;
  const expires = expiresAfter(ctx.clock.now(), lifetime);
  const envelope = await signEnvelope(build(version, expires), [await ctx.signers.signerFor(role, ctx.root)]);
  const bytes = servedBytes(envelope);
  await insertMetadataVersion(ctx.db, { role, version, bytes, expires: new Date(expires) });
  await appendAudit(ctx.db, { actor: ctx.actor, action: `${role}.signed`, role, version, details: { reason: ctx.reason, instance: INSTANCE } });
  return { version, bytes };
}

/** A new snapshot over the current head of every targets role, then a timestamp over it. */
export async function publishSnapshotAndTimestamp(ctx: PublishContext): Promise<Published[]> {
  const entries = await listSnapshotEntries(ctx.db);
  const meta: Record<string, MetaEntry> = {};
  for (const e of entries) meta[`${e.role}.json`] = { version: e.version, length: e.length, hashes: { sha256: e.sha256 } };
  const snapshot = await signAndStore(ctx, 'snapshot', (v, exp) => buildSnapshotSigned(v, exp, meta));
  const timestamp = await signAndStore(ctx, 'timestamp', (v, exp) =>
    buildTimestampSigned(v, exp, metaEntryFor(snapshot.version, snapshot.bytes)));
  return [
    { role: 'snapshot', version: snapshot.version },
    { role: 'timestamp', version: timestamp.version },
  ];
}

/** A new timestamp over the current snapshot (snapshot unchanged). */
export async function publishTimestamp(ctx: PublishContext): Promise<Published[]> {
  const [snapshot] = await getHeadVersions(ctx.db, ['snapshot']);
  if (!snapshot) throw new Error('no snapshot to timestamp');
  const timestamp = await signAndStore(ctx, 'timestamp', (v, exp) =>
    buildTimestampSigned(v, exp, metaEntryFor(snapshot.version, snapshot.bytes)));
  return [{ role: 'timestamp', version: timestamp.version }];
}
