// Marks on what development mode created, so that production mode can refuse it.
import type { Db } from './knex.ts';
import type { DevelopmentStateRow } from './rows.ts';

export async function markDevelopmentState(db: Db, reason: string): Promise<void> {
  await db<DevelopmentStateRow>('development_state').insert({ reason } as never);
}

/** The marks development mode left on this database (none on one only real ceremonies set up). */
export async function developmentMarks(db: Db): Promise<DevelopmentStateRow[]> {
  return db<DevelopmentStateRow>('development_state').orderBy('id');
}
