// What the admin API shows and stores besides signed metadata: repository status, the audit log,
// roles awaiting re-signing, and files uploaded ahead of the targets metadata that lists them.
import type { Readable } from 'node:stream';
import type { Knex } from 'knex';
import type { Clock } from '../../core/clock.ts';
import { resignNeededSince, type ResignNeededJson } from '../../core/apiTypes.ts';
import { TOP_LEVEL_ROLES } from '../../core/names.ts';
import { appendAudit, listAudit, type AuditQuery } from '../db/auditRepo.ts';
import { listResignNeeded } from '../db/projectsRepo.ts';
import type { BlobStore } from '../blobs/blobStore.ts';
import { currentOnlinePublicKeys, type OnlineKeyStore } from '../onlineKeys.ts';
import { offlineExpiry } from '../serving/expiry.ts';
import type { MetadataCache } from '../serving/metadataCache.ts';

export interface AdminServiceDeps {
  knex: Knex;
  cache: MetadataCache;
  keyStore: OnlineKeyStore;
  clock: Clock;
  expiryWarningSeconds: number;
  blobs: BlobStore;
}

export class AdminService {
  constructor(private readonly deps: AdminServiceDeps) {}

  async status() {
    const roles: Record<string, { version: number; expires: string }> = {};
    for (const role of TOP_LEVEL_ROLES) {
      const head = this.deps.cache.head(role);
      if (head) roles[role] = { version: head.version, expires: head.expires.toISOString() };
    }
    return {
      bootstrapped: roles.root !== undefined,
      roles,
      onlineKeys: await currentOnlinePublicKeys(this.deps.keyStore),
      offlineExpiry: offlineExpiry(this.deps.cache, this.deps.clock, this.deps.expiryWarningSeconds),
    };
  }

  async audit(opts: AuditQuery) {
    const rows = await listAudit(this.deps.knex, opts);
    return rows.map((r) => ({ ...r, id: Number(r.id) }));
  }

  async resignNeeded(): Promise<ResignNeededJson[]> {
    const rows = await listResignNeeded(this.deps.knex);
    return rows.map((r) => ({ project: r.role, ...resignNeededSince(r), detectedAt: r.detected_at.toISOString() }));
  }

  /** Stores a file by its SHA-256 (once); targets metadata may then list it. */
  async storeBlob(content: Buffer, actor: string): Promise<{ sha256: string; length: number; created: boolean }> {
    const { sha256, created } = await this.deps.blobs.put(content);
    if (created) await appendAudit(this.deps.knex, { actor, action: 'blob.stored', details: { sha256, length: content.length } });
    return { sha256, length: content.length, created };
  }

  /** The same, streamed: hashed while staged, refused beyond `maxBytes`, memory flat. */
  async storeBlobStream(source: Readable, actor: string, maxBytes: number): Promise<{ sha256: string; length: number; created: boolean }> {
    const stored = await this.deps.blobs.receive(source, { maxBytes, what: 'the file' });
    if (stored.created)
      await appendAudit(this.deps.knex, { actor, action: 'blob.stored', details: { sha256: stored.sha256, length: stored.length } });
    return { sha256: stored.sha256, length: stored.length, created: stored.created };
  }
}
