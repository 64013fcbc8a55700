// `tuf-server audit verify`: the history check, refusing to pass on a database that holds nothing
// to check. An audit pointed at an empty or wrong database must fail, never report "0 problems".
import type { Knex } from 'knex';
import type { SignatureVerifier } from '../../core/verify.ts';
import { verifyHistory, type HistoryProblem } from './historyCheck.ts';

/** `consistent` is the only passing outcome. */
export type AuditOutcome =
  | 'consistent' // every stored version checked, nothing found
  | 'problems' // the history check found problems
  | 'no_repository' // no repository schema in this database (the server never ran on it)
  | 'not_bootstrapped' // the schema, but no root stored yet
  | 'nothing_checked'; // the check ran but looked at no version

export interface AuditReport {
  outcome: AuditOutcome;
  versionsChecked: number;
  problems: HistoryProblem[];
  /** Why it did not pass, in a sentence; null when consistent. */
  failure: string | null;
}

/** Read-only: runs no migration, so a wrong database is reported, never given a schema. */
export async function auditRepository(knex: Knex, verifier: SignatureVerifier): Promise<AuditReport> {
  const fail = (outcome: AuditOutcome, failure: string): AuditReport => ({ outcome, versionsChecked: 0, problems: [], failure });
  for (const table of ['metadata_versions', 'role_heads', 'audit_log']) {
    if (!(await knex.schema.hasTable(table))) {
      return fail('no_repository', `this database holds no repository (no ${table} table): is it the one the server uses?`);
    }
  }
  const root = await knex('role_heads').where({ role: 'root' }).first('version');
  if (!root) return fail('not_bootstrapped', 'this database holds no published root: the repository was never bootstrapped here');
  const history = await verifyHistory(knex, verifier);
  if (history.versionsChecked === 0) {
    return { ...fail('nothing_checked', 'no stored version was checked, so nothing was verified'), problems: history.problems };
  }
  if (history.problems.length > 0) {
    return { outcome: 'problems', ...history, failure: `${history.problems.length} problem(s) in the stored history` };
  }
  return { outcome: 'consistent', ...history, failure: null };
}
