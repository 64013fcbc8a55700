// Production refuses what development mode created: a database the development ceremony set up
// (its root and targets keys are throwaway files on the server) must never serve real clients.
import type { Db } from '../db/knex.ts';
import { developmentMarks } from '../db/developmentRepo.ts';

export class DevelopmentStateError extends Error {
  readonly code = 'development_state' as const;
}

/** Throws when development mode left its mark on this database. */
export async function refuseDevelopmentState(db: Db): Promise<void> {
  const marks = await developmentMarks(db);
  if (marks.length === 0) return;
  const first = marks[0]!;
  throw new DevelopmentStateError(
    `production mode refuses this database: development mode set it up (${first.reason}, ${first.marked_at.toISOString()}); ` +
      'its keys are throwaway files and anyone with the development admin token could change it. ' +
      'Run a real offline key ceremony on a fresh database: create an empty database, point DATABASE_URL at it, then follow ' +
      '"A real ceremony, step by step" in README.md (tuf-server migrate, online-keys create, admin-token create, tuf-offline, tuf-carry bootstrap)',
  );
}
