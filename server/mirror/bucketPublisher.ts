// Publishing to a bucket (PUBLISH_TO=s3://BUCKET[/PREFIX]) that a static host or CDN serves: the
// bucket holds metadata/ and targets/ as this server serves them, so its URL is a repository base
// URL for any TUF client.
//
// Every publishing transaction writes a row to publish_outbox (db/mirrorRepo.ts, in
// publication.ts), so a publication is recorded if and only if it committed. One server process
// at a time (a lease in publish_mirror, renewed in the background) takes the oldest rows, copies
// their files in the order of order.ts, writes timestamp.json last, and only then deletes the
// rows. A crash or an outage of the object store leaves the rows: the next holder copies them
// again (files already there are recognised by their SHA-256), so nothing is skipped; rows are
// taken in id order, and a publication's rows are only visible once it committed, after every
// publication it depends on (they held the publishing lock before it), so nothing is copied out of
// order. timestamp.json is never written older than the newest one written before.
import type { Knex } from 'knex';
import type { Logger } from 'pino';
import { getMetadataVersion } from '../db/metadataRepo.ts';
import {
  finishOutbox,
  getMirror,
  outboxBatch,
  recordMirrorError,
  recordMirrorProgress,
  releaseMirrorLease,
  takeMirrorLease,
} from '../db/mirrorRepo.ts';
import type { PublishMirrorRow } from '../db/rows.ts';
import { takePublishLock } from '../db/locks.ts';
import { setMirror } from '../db/mirrorRepo.ts';
import type { BlobStore } from '../blobs/blobStore.ts';
import type { ObjectBucket } from '../objectStore/bucket.ts';
import { BucketWriter } from './bucketWriter.ts';
import { copyInOrder, type CopyContext } from './copyFiles.ts';
import { firstCopy } from './firstCopy.ts';

export interface PublisherOptions {
  knex: Knex;
  bucket: ObjectBucket;
  blobs: BlobStore;
  /** This process, in the lease. */
  holder: string;
  concurrency: number;
  timestampMaxAgeSeconds: number;
  log: Logger;
  /** Told of each batch copied (metrics). */
  onCopied?: (objects: number, seconds: number) => void;
  onError?: () => void;
  /** How often a process that is idle or not holding the lease looks again (default 250 ms). */
  pollMs?: number;
  leaseSeconds?: number;
  /** Publications per batch (default 200). */
  batchRows?: number;
}

export type StepOutcome = 'copied' | 'idle' | 'not-holder';

class LeaseLost extends Error {
  constructor() {
    super('lost the lease on the bucket copy to another process (this one was too slow, or paused); it carries on from the outbox');
  }
}

export class BucketPublisher {
  private stopped = false;
  private loop: Promise<void> | null = null;
  private wake: (() => void) | null = null;
  private readonly context: CopyContext;
  private lost = false;
  private readonly leaseSeconds: number;

  constructor(private readonly opts: PublisherOptions) {
    this.leaseSeconds = opts.leaseSeconds ?? 30;
    this.context = {
      knex: opts.knex,
      writer: new BucketWriter(opts.bucket, opts.blobs, opts.timestampMaxAgeSeconds, opts.concurrency),
      checkpoint: async () => {
        if (this.lost) throw new LeaseLost();
      },
      heldSnapshot: null,
    };
  }

  get url(): string {
    return this.opts.bucket.url;
  }

  /**
   * Makes this bucket the one publications are recorded for. A new or changed PUBLISH_TO starts a
   * first copy; the same one changes nothing. Takes the publishing lock exclusively only when it
   * changes something (no publication is half way then).
   */
  async register(): Promise<'unchanged' | 'set' | 'moved'> {
    const current = await getMirror(this.opts.knex);
    if (current?.url === this.url) return 'unchanged';
    return this.opts.knex.transaction(async (trx) => {
      await takePublishLock(trx, 'exclusive');
      const row = await getMirror(trx, true);
      if (row?.url === this.url) return 'unchanged';
      if (row)
        this.opts.log.warn(
          { from: row.url, to: this.url },
          'PUBLISH_TO changed: copying the repository to the new bucket; the old one is no longer updated',
        );
      await setMirror(trx, this.url);
      return row ? 'moved' : 'set';
    });
  }

  start(): void {
    this.loop ??= this.run();
  }

  /** A publication committed here: look at the outbox now rather than at the next poll. */
  nudge(): void {
    this.wake?.();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.wake?.();
    await this.loop;
    await releaseMirrorLease(this.opts.knex, this.opts.holder).catch(() => {});
  }

  private async run(): Promise<void> {
    let backoffMs = 0;
    while (!this.stopped) {
      let outcome: StepOutcome;
      try {
        outcome = await this.step();
        backoffMs = 0;
      } catch (err) {
        // The store or the database is down, or a conflict in the bucket: the rows stay; try again.
        backoffMs = Math.min(Math.max(backoffMs * 2, 500), 30_000);
        const message = err instanceof Error ? err.message : String(err);
        this.opts.log.warn({ err: message, retryInMs: backoffMs }, `copy to ${this.url} failed; the publications wait in the outbox`);
        this.opts.onError?.();
        await recordMirrorError(this.opts.knex, this.opts.holder, message).catch(() => {});
        await this.sleep(backoffMs);
        continue;
      }
      if (outcome !== 'copied') await this.sleep(this.opts.pollMs ?? 250);
    }
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      timer.unref();
      function done() {
        clearTimeout(timer);
        resolve();
      }
      this.wake = () => {
        this.wake = null;
        done();
      };
    });
  }

  /** One step: the first copy (or part of it), or one batch of the outbox. Exposed for tests. */
  async step(): Promise<StepOutcome> {
    const row = await takeMirrorLease(this.opts.knex, this.url, this.opts.holder, this.leaseSeconds);
    if (!row) return 'not-holder';
    this.lost = false;
    // Renewed in the background while the step runs: a large file must not cost the lease.
    const keepalive = setInterval(
      () => {
        takeMirrorLease(this.opts.knex, this.url, this.opts.holder, this.leaseSeconds).then(
          (r) => {
            if (!r) this.lost = true;
          },
          () => {
            this.lost = true;
          },
        );
      },
      (this.leaseSeconds * 1000) / 3,
    );
    keepalive.unref();
    try {
      return await (row.synced ? this.copyOutbox(row) : this.copyFirst(row));
    } finally {
      clearInterval(keepalive);
    }
  }

  private async copyFirst(row: PublishMirrorRow): Promise<StepOutcome> {
    const started = Date.now();
    const before = this.context.writer.written;
    this.opts.log.info({ bucket: this.url, fromSnapshot: Number(row.sync_snapshot_version) }, 'first copy of the repository to the bucket');
    const done = await firstCopy(this.context, row, this.opts.holder, (bytes, version) => this.writeTimestamp(bytes, version));
    const objects = this.context.writer.written - before;
    const recorded = await recordMirrorProgress(this.opts.knex, this.opts.holder, {
      objectsWritten: objects,
      synced: true,
      ...(done ? { timestampVersion: done.timestampVersion } : {}),
    });
    if (!recorded) throw new LeaseLost();
    this.opts.onCopied?.(objects, (Date.now() - started) / 1000);
    this.opts.log.info({ bucket: this.url, objects, seconds: (Date.now() - started) / 1000 }, 'first copy done; following publications');
    return 'copied';
  }

  private async copyOutbox(row: PublishMirrorRow): Promise<StepOutcome> {
    const batch = await outboxBatch(this.opts.knex, this.opts.batchRows ?? 200);
    if (batch.length === 0) return 'idle';
    const started = Date.now();
    const before = this.context.writer.written;
    const newest = await copyInOrder(
      this.context,
      batch.flatMap((r) => r.published),
    );
    // 5. timestamp.json, last, and never older than one written before.
    let timestampVersion: number | undefined;
    if (newest && newest.version > row.timestamp_version) {
      const file = await getMetadataVersion(this.opts.knex, 'timestamp', newest.version);
      if (!file?.bytes) throw new Error(`timestamp v${newest.version} is not stored`);
      await this.writeTimestamp(file.bytes, newest.version);
      timestampVersion = newest.version;
    }
    const objects = this.context.writer.written - before;
    const done = await finishOutbox(
      this.opts.knex,
      batch.map((r) => r.id),
      this.opts.holder,
      { objectsWritten: objects, ...(timestampVersion !== undefined ? { timestampVersion } : {}) },
    );
    if (!done) throw new LeaseLost();
    this.opts.onCopied?.(objects, (Date.now() - started) / 1000);
    return 'copied';
  }

  /**
   * timestamp.json, with the lease renewed just before and the write cut off well within it: a
   * process that lost the lease while paused must not put an older timestamp over a newer one.
   */
  private async writeTimestamp(bytes: Buffer, version: number): Promise<void> {
    const row = await takeMirrorLease(this.opts.knex, this.url, this.opts.holder, this.leaseSeconds);
    if (!row || this.lost) throw new LeaseLost();
    if (version <= row.timestamp_version) return; // a newer one is there already
    await this.context.writer.timestamp(bytes, version, AbortSignal.timeout((this.leaseSeconds * 1000) / 2));
  }
}
