// Serves metadata from memory. Versioned files never change, so once read they stay until evicted;
// the current version of each role is known in memory, so requests for versions that do not exist
// are answered without the database. Other processes announce what they publish with NOTIFY.
import { promisify } from 'node:util';
import zlib from 'node:zlib';
import type { Knex } from 'knex';
import type { Logger } from 'pino';
import { TOP_LEVEL_ROLES } from '../../core/names.ts';
import { getHeadVersions, getMetadataVersion, listHeads } from '../db/metadataRepo.ts';
import type { FeedSettings } from '../db/feedSettings.ts';
import { startPublicationFeed, type PublicationFeed } from '../db/publicationFeed.ts';
import type { MetadataVersionRow } from '../db/rows.ts';
import { ownMemory } from './ownMemory.ts';
import type { PublishedFile } from './published.ts';
import type { SnapshotFollower } from './snapshotFollower.ts';

export interface CachedFile {
  role: string;
  version: number;
  bytes: Buffer;
  /** Strong ETag: the file's SHA-256. */
  etag: string;
  expires: Date;
}

interface Head {
  version: number;
  expires: Date;
}

const gzip = promisify(zlib.gzip);

/** Files at least this large are also served gzip-compressed to clients that accept it. */
export const COMPRESS_MIN_BYTES = 4096;

const VERSIONED = /^([1-9][0-9]{0,9})\.([a-z0-9][a-z0-9._-]{0,63})\.json$/;

export class MetadataCache {
  private heads = new Map<string, Head>();
  private timestampFile: CachedFile | null = null;
  /**
   * Versioned files, evicted oldest first with a second chance (CLOCK): a hit only marks the file
   * used, and eviction moves a marked file to the back instead of dropping it. Re-inserting on every
   * hit, as before, was most of the cost of a read on the fast path.
   */
  private lru = new Map<string, CachedFile>();
  private used = new WeakSet<CachedFile>();
  private lruBytes = 0;
  private inflight = new Map<string, Promise<CachedFile | null>>();
  /** Compressed variants, by strong ETag of the file (its bytes never change). */
  private compressed = new Map<string, Promise<Buffer>>();
  /** Sizes of the gzip variants compressed so far, by ETag: counted in the bound with their files. */
  private compressedBytes = new Map<string, number>();
  /** ETags of the files in `lru`: only their variants are counted (and evicted with them). */
  private keptEtags = new Set<string>();
  private feed: PublicationFeed | null = null;
  private reloadTimer: NodeJS.Timeout | null = null;

  constructor(
    private readonly knex: Knex,
    /** This instance's origin: its own announcements are skipped (already applied). */
    private readonly origin: string,
    private readonly log: Logger,
    private readonly maxBytes: number,
    /** Rebuilds snapshot versions stored as deltas, and keeps their Merkle trees. */
    private readonly snapshots: SnapshotFollower,
  ) {}

  /** Current version and expiry of each role, as this process knows them. */
  head(role: string): Head | undefined {
    return this.heads.get(role);
  }

  roles(): string[] {
    return [...this.heads.keys()];
  }

  /** Reads every head and the current top-level files; run at start and after a lost notification. */
  async reloadAll(): Promise<void> {
    const heads = await listHeads(this.knex);
    for (const h of heads) {
      const known = this.heads.get(h.role);
      // A notification applied while this query ran may already be newer.
      if (!known || known.version < h.version) this.heads.set(h.role, { version: h.version, expires: h.expires });
    }
    await this.warm([...TOP_LEVEL_ROLES]);
  }

  /** Applies what a publishing transaction announced; bytes it carries are not read back. */
  async applyPublished(published: PublishedFile[]): Promise<void> {
    const toRead: string[] = [];
    for (const p of published) {
      if (!p.file) {
        // Our own publications come back as notifications too: nothing to read then.
        if ((this.heads.get(p.role)?.version ?? 0) >= p.version) continue;
        // Another process's version, with its expiry: the head moves now, the bytes are read when
        // first asked for (`get`). Timestamp is served from memory alone: read it now. Snapshot is
        // followed now too (one delta on from the version held, its TAP 16 tree derived along the
        // changed paths), so that this process serves the proofs of each version as it comes.
        if (p.expires && p.role !== 'timestamp' && p.role !== 'snapshot')
          this.heads.set(p.role, { version: p.version, expires: p.expires });
        else toRead.push(p.role);
        continue;
      }
      if (p.snapshot) this.snapshots.adopt(p.snapshot.rebuilt, p.snapshot.tree);
      this.store({ role: p.role, version: p.version, bytes: p.file.bytes, etag: `"${p.file.sha256}"`, expires: p.file.expires });
    }
    if (toRead.length > 0) await this.warm(toRead);
  }

  /** Takes a current version into the cache, never moving a role backwards. */
  private store(file: CachedFile): void {
    const known = this.heads.get(file.role);
    if (known && known.version > file.version) return;
    this.heads.set(file.role, { version: file.version, expires: file.expires });
    if (file.role === 'timestamp') {
      if (!this.timestampFile || this.timestampFile.version < file.version) this.timestampFile = { ...file, bytes: ownMemory(file.bytes) };
    } else {
      this.remember(`${file.version}.${file.role}.json`, file);
    }
  }

  private async warm(roles: string[]): Promise<void> {
    // A slow query may return after a newer notification was applied: store() never goes back.
    for (const row of await getHeadVersions(this.knex, roles)) this.store(await this.toCached(row));
  }

  /** Bytes of versioned files and their gzip variants held (bounded by METADATA_CACHE_BYTES): the tuf_metadata_cache_bytes gauge. */
  get cachedBytes(): number {
    return this.lruBytes;
  }

  private remember(name: string, read: CachedFile): CachedFile {
    if (this.lru.has(name)) return read;
    if (read.bytes.length > this.maxBytes) return read;
    const file = { ...read, bytes: ownMemory(read.bytes) };
    this.lru.set(name, file);
    this.keptEtags.add(file.etag);
    this.lruBytes += file.bytes.length;
    this.evict();
    return file;
  }

  /** Drops files, oldest unused first, until what they hold with their gzip variants fits the bound. */
  private evict(): void {
    for (const [key, value] of this.lru) {
      if (this.lruBytes <= this.maxBytes) break;
      this.lru.delete(key);
      if (this.used.delete(value)) {
        this.lru.set(key, value); // used since its last chance: to the back, once
        continue;
      }
      this.lruBytes -= value.bytes.length;
      this.keptEtags.delete(value.etag);
      // Its gzip variant goes with it: kept past their file, variants grew with every snapshot
      // version read until the map outnumbered the files.
      this.dropVariant(value.etag);
    }
  }

  private dropVariant(etag: string): void {
    this.compressed.delete(etag);
    this.lruBytes -= this.compressedBytes.get(etag) ?? 0;
    this.compressedBytes.delete(etag);
  }

  /**
   * What `get` would answer, when memory alone can tell (the file, or null for no such file);
   * undefined when the file exists but must be read from the database. For the read fast path
   * (http/fastReads.ts), which answers most requests without a promise.
   */
  getNow(name: string): CachedFile | null | undefined {
    if (name === 'timestamp.json') return this.timestampFile;
    const hit = this.lru.get(name);
    if (hit) {
      // Only versions at or below their role's head are ever kept: a hit needs no other check.
      this.used.add(hit);
      return hit;
    }
    const m = VERSIONED.exec(name);
    if (!m) return null;
    const version = Number(m[1]);
    const role = m[2]!;
    if (role === 'timestamp') return null; // only served unversioned
    const head = this.heads.get(role);
    if (!head || version > head.version) return null;
    return undefined;
  }

  /** The file for a metadata URL name, or null when there is no such file. */
  async get(name: string): Promise<CachedFile | null> {
    const known = this.getNow(name);
    if (known !== undefined) return known;
    const m = VERSIONED.exec(name)!;
    const version = Number(m[1]);
    const role = m[2]!;
    let pending = this.inflight.get(name);
    if (!pending) {
      pending = getMetadataVersion(this.knex, role, version)
        .then(async (row) => {
          if (!row) return null;
          return this.remember(name, await this.toCached(row));
        })
        .finally(() => this.inflight.delete(name));
      this.inflight.set(name, pending);
    }
    return pending;
  }

  /**
   * The gzip variant of a file, compressed once off the main thread (zlib's thread pool) and kept
   * while the file is. Null for files too small to be worth it.
   */
  gzipped(file: CachedFile): Promise<Buffer> | null {
    if (file.bytes.length < COMPRESS_MIN_BYTES) return null;
    let pending = this.compressed.get(file.etag);
    if (!pending) {
      const etag = file.etag;
      const variant = gzip(file.bytes, { level: 6 }).then(ownMemory);
      pending = variant;
      this.compressed.set(etag, variant);
      variant.then(
        (gz) => {
          // Counted once it exists, if its file is still kept: METADATA_CACHE_BYTES bounds both.
          // Variants of files outside the LRU (timestamp.json, a file larger than the bound, one
          // evicted meanwhile) are not counted: eviction could not reach them.
          if (this.compressed.get(etag) !== variant || this.compressedBytes.has(etag) || !this.keptEtags.has(etag)) return;
          this.compressedBytes.set(etag, gz.length);
          this.lruBytes += gz.length;
          this.evict();
        },
        () => {
          if (this.compressed.get(etag) === variant) this.dropVariant(etag);
        },
      );
      // Bounded like the files themselves: drop variants of files no longer cached.
      if (this.compressed.size > this.lru.size + 16) {
        const live = new Set([...this.lru.values()].map((f) => f.etag));
        if (this.timestampFile) live.add(this.timestampFile.etag);
        for (const etag of this.compressed.keys()) if (!live.has(etag)) this.dropVariant(etag);
      }
    }
    return pending;
  }

  /**
   * LISTENs for other processes' publications (or polls where LISTEN cannot work: behind a pooler
   * in transaction mode, db/publicationFeed.ts); reloads everything after a dropped connection.
   */
  async start(
    databaseUrl: string,
    reloadIntervalSeconds: number,
    feed: FeedSettings = { listen: 'auto', listenUrl: null, pollMs: 250 },
  ): Promise<void> {
    // Following first, then reading: a publication committed meanwhile is either announced or read
    // (a process started under a stream of uploads, as a replaced worker is, misses none).
    this.feed = await startPublicationFeed({
      databaseUrl,
      settings: feed,
      origin: this.origin,
      log: this.log,
      onAnnouncement: (published) => {
        this.applyPublished(published).catch((err) => this.log.warn({ err: String(err) }, 'applying a notification failed'));
      },
      onReconnected: () => this.reloadAll(),
    });
    try {
      await this.reloadAll();
    } catch (err) {
      await this.stop();
      throw err;
    }
    // Belt and braces: a notification lost while reconnecting is caught by the periodic reload.
    this.reloadTimer = setInterval(() => {
      this.reloadAll().catch((err) => this.log.warn({ err: String(err) }, 'metadata cache reload failed'));
    }, reloadIntervalSeconds * 1000);
    this.reloadTimer.unref();
  }

  async stop(): Promise<void> {
    if (this.reloadTimer) clearInterval(this.reloadTimer);
    await this.feed?.stop();
    this.feed = null;
  }

  /** A stored version as served; a snapshot stored as a delta is rebuilt (and checked against its SHA-256). */
  private async toCached(row: MetadataVersionRow): Promise<CachedFile> {
    const bytes = row.bytes ?? (await this.snapshots.file(row.version));
    if (!bytes) throw new Error(`${row.role} v${row.version} could not be rebuilt`);
    return { role: row.role, version: row.version, bytes, etag: `"${row.sha256}"`, expires: row.expires };
  }
}
