// Failures that are the server's circumstances rather than the request's fault: the database or
// an online key or the object store out of reach. The HTTP layer answers them with 503 and a message safe to show.
import { isDatabaseUnavailable } from './db/unavailable.ts';
import { OnlineSignerUnavailable } from './publication/onlineSigners.ts';
import { ObjectStoreError } from './objectStore/bucket.ts';
import { SnapshotRebuildBusy } from './serving/snapshotFollower.ts';

/** A message for the client when `err` means "retry later", else null. */
export function unavailableMessage(err: unknown): string | null {
  if (isDatabaseUnavailable(err)) return 'the database is unavailable; retry shortly';
  if (err instanceof OnlineSignerUnavailable) return err.message;
  if (err instanceof SnapshotRebuildBusy) return err.message;
  // Target files in object storage (BLOB_STORE_URL) that cannot be written or read just now.
  if (err instanceof ObjectStoreError && err.code === 'object_store_unavailable') return 'the object store is unavailable; retry shortly';
  return null;
}
