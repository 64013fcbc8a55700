// Composes object storage (issue 20) for the composition root: where target files are kept
// (BLOB_STORE_URL), how downloads of files in object storage are answered (TARGET_DOWNLOADS), the
// cleanup of objects nobody names, and the copy of each publication to a bucket (PUBLISH_TO).
import type { Knex } from 'knex';
import type { Logger } from 'pino';
import type client from 'prom-client';
import type { Config } from './config.ts';
import { BlobStore, type BlobBackend } from './blobs/blobStore.ts';
import { ObjectDownloads } from './blobs/downloads.ts';
import { ObjectBackend } from './blobs/objectBackend.ts';
import { ObjectCleaner } from './blobs/objectCleaner.ts';
import { PostgresBackend } from './blobs/postgresBackend.ts';
import { BucketPublisher } from './mirror/bucketPublisher.ts';
import { describePublishStatus, publishStatus, registerPublishMetrics } from './mirror/publishStatus.ts';
import { ObjectStorage } from './objectStore/objectStorage.ts';
import { describeS3Endpoint } from './objectStore/s3Settings.ts';
import type { ExtraCheck } from './serving/readiness.ts';

export interface Storage {
  objects: ObjectStorage;
  blobs: BlobStore;
  cleaner: ObjectCleaner;
  /** Redirects for downloads of files in object storage; null: this server streams them. */
  redirects: ObjectDownloads | null;
  /** The copy to PUBLISH_TO; null when this process does not copy. */
  publisher: BucketPublisher | null;
  /** For /readyz: the copy's state, and a warning when it falls behind. */
  readinessChecks(): Promise<ExtraCheck[]>;
  /** Checks the buckets, sets PUBLISH_TO as the bucket publications are recorded for, starts copying. */
  start(opts?: { publishLoop?: boolean }): Promise<void>;
  close(): Promise<void>;
}

export interface StorageDeps {
  config: Config;
  knex: Knex;
  log: Logger;
  registry: client.Registry;
  /** This process, in the copy's lease. */
  holder: string;
}

/** A day at least: an upload in flight may take that long before its object could be collected. */
function uploadGraceSeconds(config: Config): number {
  return Math.max(86_400, 2 * config.requestTimeoutSeconds);
}

/** The stores and the copy, built from the configuration; nothing is contacted until `start`. */
export function createStorage(deps: StorageDeps): Storage {
  const { config, knex, log } = deps;
  const settings = config.storage;
  const objects = new ObjectStorage(settings.s3);
  const blobBucket = settings.blobStore ? objects.bucket(settings.blobStore) : null;
  const backend: BlobBackend = blobBucket
    ? new ObjectBackend(knex, blobBucket, { uploadGraceSeconds: uploadGraceSeconds(config) })
    : new PostgresBackend(knex);
  const blobs = new BlobStore(knex, config.uploadStagingDir, backend, objects);
  const metrics = registerPublishMetrics(deps.registry, knex);
  const publisher = settings.publishTo
    ? new BucketPublisher({
        knex,
        bucket: objects.bucket(settings.publishTo),
        blobs,
        holder: deps.holder,
        concurrency: settings.publishConcurrency,
        leaseSeconds: settings.publishLeaseSeconds,
        timestampMaxAgeSeconds: config.timestampMaxAgeSeconds,
        log: log.child({ component: 'publish-to' }),
        onCopied: (count, seconds) => {
          metrics.objectsWritten.inc(count);
          metrics.batchSeconds.observe(seconds);
        },
        onError: () => metrics.errors.inc(),
      })
    : null;
  return {
    objects,
    blobs,
    cleaner: new ObjectCleaner(knex, objects),
    redirects:
      settings.targetDownloads === 'redirect' ? new ObjectDownloads(objects, settings.blobPublicUrl, settings.targetRedirectSeconds) : null,
    publisher,
    async readinessChecks(): Promise<ExtraCheck[]> {
      const status = await publishStatus(knex).catch(() => null);
      if (!status) return [];
      const detail = describePublishStatus(status);
      const behind = status.lagSeconds > settings.publishLagWarningSeconds || status.lastError !== null;
      const mismatch = publisher && publisher.url !== status.url ? ` (this process's PUBLISH_TO is ${publisher.url})` : '';
      return [
        {
          name: 'publishedCopy',
          ok: true,
          detail: `${detail}${mismatch}`,
          ...(behind || mismatch ? { warning: `${detail}${mismatch}` } : {}),
        },
      ];
    },
    async start(opts = {}) {
      const buckets = [blobBucket, publisher ? objects.bucket(settings.publishTo!) : null].filter((b) => b !== null);
      if (buckets.length === 0) return;
      await objects.check();
      for (const bucket of buckets) {
        try {
          await bucket.checkAccess();
        } catch (err) {
          // A wrong bucket or credentials is a mistake to fix now; an unreachable store may come back.
          if ((err as { code?: string }).code === 'object_store_refused') throw err;
          log.warn(
            { err: String(err) },
            `object storage unreachable at start (${describeS3Endpoint()}); going on, and trying again as needed`,
          );
        }
      }
      log.info(
        {
          endpoint: describeS3Endpoint(),
          blobs: blobs.description,
          publishTo: publisher?.url ?? null,
          downloads: settings.targetDownloads,
        },
        'object storage',
      );
      if (publisher) {
        const registered = await publisher.register();
        if (registered !== 'unchanged')
          log.info({ bucket: publisher.url }, 'publications are now recorded for this bucket; copying the repository');
        if (opts.publishLoop !== false) publisher.start();
      }
    },
    async close() {
      await publisher?.stop();
      objects.close();
    },
  };
}
