// Run by `tuf-server start` before it listens, and by `tuf-server recover`: recovers a restored
// database (recovery.ts) and says what happened and what was lost. Throws when the server must not
// serve: it is better down than signing versions clients already hold.
import type { Logger } from 'pino';
import type { Knex } from 'knex';
import type { CurrentMetadata } from '../publication/currentMetadata.ts';
import type { Publication } from '../publication/publication.ts';
import type { PublishedMark } from '../publication/publishedMark.ts';
import { describe, describeLost, lostRoles, recoverIfNeeded, type RecoveryOutcome, type RecoverySources } from './recovery.ts';
import { mirrorTargetsBase, republishFromMirror, type Upload } from './republish.ts';

export interface GateDeps {
  knex: Knex;
  publication: Publication;
  current: CurrentMetadata;
  mark: PublishedMark;
  /** When given (a running server), releases the mirror serves above the database are published again from it. */
  upload?: Upload;
  /** MIRROR_TARGETS_URL: where the mirror serves target files (default: beside its metadata). */
  mirrorTargetsUrl?: string | null;
}

export interface GateReport {
  outcome: RecoveryOutcome;
  /** Lines for the operator: what was found, what was published, what was lost. */
  lines: string[];
  lostCount: number;
}

export async function runRecovery(deps: GateDeps, sources: RecoverySources): Promise<GateReport> {
  const outcome = await recoverIfNeeded(
    { knex: deps.knex, publication: deps.publication, mark: deps.mark, root: async () => (await deps.current.root())?.model ?? null },
    sources,
  );
  const lines: string[] = [];
  let lostCount = 0;
  if (outcome.recovered) {
    lines.push(`recovery needed: ${outcome.reasons.join('; ')}`);
    for (const [source, v] of Object.entries(outcome.sources)) lines.push(`  source ${source}: ${describe(v)}`);
    lines.push(`  the database held ${describe(outcome.heads)}`);
    lines.push(`  published ${outcome.published.map((p) => `${p.role} v${p.version}`).join(', ')} above every source`);
  }
  if (outcome.mirror) {
    let lost = await lostRoles(deps.knex, outcome.mirror);
    if (deps.upload && lost.length > 0) {
      const targetsUrl = mirrorTargetsBase(outcome.mirror.url, deps.mirrorTargetsUrl);
      const r = await republishFromMirror(lost, { metadataUrl: outcome.mirror.url, targetsUrl }, deps.upload);
      for (const what of r.republished) lines.push(`republished ${what} from the mirror (its maintainers' signatures verified)`);
      for (const why of r.failed) lines.push(`could not republish ${why}`);
      if (r.republished.length > 0) lost = await lostRoles(deps.knex, outcome.mirror);
    }
    lostCount = lost.length;
    lines.push(...describeLost(lost));
    lines.push(`${lost.length} role(s) served by the mirror ${outcome.mirror.url} above what the database holds`);
  } else if (outcome.recovered) {
    lines.push('  no mirror given: list what was lost with `tuf-server audit verify --mirror URL`');
  }
  return { outcome, lines, lostCount };
}

/** The start-up gate: logs what it did; a refusal propagates and stops the server. */
export async function recoveryGate(deps: GateDeps, sources: RecoverySources, log: Logger): Promise<void> {
  const report = await runRecovery(deps, sources);
  const quiet = !report.outcome.recovered && report.lines.length === 1 && report.lostCount === 0;
  for (const line of report.lines) (quiet ? log.info : log.warn).call(log, line.trim());
}
