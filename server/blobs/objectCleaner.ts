// Deletes objects that no target_blobs row names (object_cleanup): files garbage collection removed,
// copies a migration replaced, uploads that failed or were never claimed. Part of each garbage
// collection run (admin/gc.ts). An object is marked as being deleted before it is deleted, so an
// upload still in flight can no longer claim it (objectBackend.ts); a run that dies leaves the
// mark, and a later run deletes the object again (deleting what is gone is no error in S3).
import type { Knex } from 'knex';
import { forgetObjectCleanup, objectCleanupCounts, takeDueObjectCleanups } from '../db/blobRepo.ts';
import type { ObjectStorage } from '../objectStore/objectStorage.ts';

const BATCH = 100;
/** A marked object whose deletion failed (or whose run died) is tried again after this long. */
const RETRY_AFTER_SECONDS = 3600;

export interface CleanupReport {
  removed: string[];
  failed: { location: string; error: string }[];
  /** Dry run: how many are due. */
  due: number;
}

export class ObjectCleaner {
  constructor(
    private readonly knex: Knex,
    private readonly objects: ObjectStorage,
  ) {}

  async run(now: Date, opts: { dryRun?: boolean } = {}): Promise<CleanupReport> {
    const report: CleanupReport = { removed: [], failed: [], due: 0 };
    if (opts.dryRun) {
      report.due = (await objectCleanupCounts(this.knex, now)).due;
      return report;
    }
    for (;;) {
      const batch = await takeDueObjectCleanups(this.knex, now, BATCH, RETRY_AFTER_SECONDS);
      for (const location of batch) {
        try {
          const { bucket, key } = this.objects.object(location);
          await bucket.delete(key);
          await forgetObjectCleanup(this.knex, location);
          report.removed.push(location);
        } catch (err) {
          report.failed.push({ location, error: err instanceof Error ? err.message : String(err) });
        }
      }
      // A batch with failures stops the run: the store is likely down; the next run tries again.
      if (batch.length < BATCH || report.failed.length > 0) return report;
    }
  }
}
