// Failures that are the server's circumstances rather than the request's fault: the database or
// an online key out of reach. The HTTP layer answers them with 503 and a message safe to show.
import { isDatabaseUnavailable } from './db/unavailable.ts';
import { OnlineSignerUnavailable } from './publication/onlineSigners.ts';
import { SnapshotRebuildBusy } from './serving/snapshotFollower.ts';

/** A message for the client when `err` means "retry later", else null. */
export function unavailableMessage(err: unknown): string | null {
  if (isDatabaseUnavailable(err)) return 'the database is unavailable; retry shortly';
  if (err instanceof OnlineSignerUnavailable) return err.message;
  if (err instanceof SnapshotRebuildBusy) return err.message;
  return null;
}
