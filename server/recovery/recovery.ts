// After a restore: establish the highest snapshot and timestamp versions ever published, then
// publish fresh versions above them, so that clients that updated before the backup and after it
// both follow. Until then the server neither serves nor signs (serve.ts runs this, through gate.ts,
// before it listens).
//
// Sources of "the highest ever published", any of which may be missing:
// - the published mark of this host (publication/publishedMark.ts), written before every answer;
// - a mirror or CDN (MIRROR_URL, --mirror): its timestamp, verified against the database's root;
// - the operator (--snapshot-version, --timestamp-version), for when neither is at hand.
// A database that `tuf-server restore` loaded (recovery_required) must have at least one: its own
// heads are exactly what cannot be trusted. Otherwise the mark or the mirror being above the
// database is itself the evidence (a restore by other means, or a commit lost after the mark).
import type { Knex } from 'knex';
import type { Root } from '@tufjs/models';
import { getHead } from '../db/metadataRepo.ts';
import { clearRecoveryRequired, firstRootSha256, raiseCopiedTimestamp, recoveryRequired } from '../db/recoveryRepo.ts';
import type { Publication } from '../publication/publication.ts';
import type { MarkVersions, PublishedMark } from '../publication/publishedMark.ts';
import type { PublishedRole } from '../serving/published.ts';
import { RecoveryError } from './errors.ts';
import { mirrorRootVersions, readMirror, type MirrorState } from './mirror.ts';

export interface RecoverySources {
  /** MIRROR_URL / --mirror: the metadata base URL of a mirror or CDN. */
  mirrorUrl?: string | null;
  /** --snapshot-version / --timestamp-version: the operator's word. */
  operator?: Partial<MarkVersions> | null;
}

export interface RecoveryOutcome {
  /** Whether a recovery publication happened. */
  recovered: boolean;
  /** Why recovery was needed (empty when it was not). */
  reasons: string[];
  heads: MarkVersions;
  /** Each source consulted and what it said. */
  sources: Record<string, Partial<MarkVersions>>;
  published: PublishedRole[];
  mirror: MirrorState | null;
}

export interface RecoveryDeps {
  knex: Knex;
  publication: Publication;
  mark: PublishedMark;
  /** The current root, parsed (verifies the mirror's timestamp). */
  root(): Promise<Root | null>;
}

async function heads(db: Knex): Promise<MarkVersions> {
  return { snapshot: (await getHead(db, 'snapshot'))?.version ?? 0, timestamp: (await getHead(db, 'timestamp'))?.version ?? 0 };
}

function above(v: Partial<MarkVersions>, h: MarkVersions): boolean {
  return (v.snapshot ?? 0) > h.snapshot || (v.timestamp ?? 0) > h.timestamp;
}

/**
 * Recovers when needed; a no-op on a database that is not behind any source. Throws
 * `recovery_no_source` when the database was restored and nothing says what was published.
 */
export async function recoverIfNeeded(deps: RecoveryDeps, given: RecoverySources = {}): Promise<RecoveryOutcome> {
  const { knex } = deps;
  const repository = await firstRootSha256(knex);
  const h = await heads(knex);
  const none: RecoveryOutcome = { recovered: false, reasons: [], heads: h, sources: {}, published: [], mirror: null };
  const flag = await recoveryRequired(knex);
  if (flag && !repository)
    throw new RecoveryError('restore_incomplete', `${flag.reason}: the database holds no repository; run tuf-server restore again`);
  if (!repository) return none;
  const sources: Record<string, Partial<MarkVersions>> = {};
  const reasons: string[] = [];
  if (flag) reasons.push(`the database was restored (${flag.reason}, ${flag.since.toISOString()})`);
  const mark = deps.mark.read(repository);
  if (mark) {
    sources[`published mark ${deps.mark.file}`] = mark;
    if (above(mark, h)) reasons.push(`the published mark (${describe(mark)}) is above the database (${describe(h)})`);
  }
  let mirror: MirrorState | null = null;
  if (given.mirrorUrl) {
    const root = await deps.root();
    if (!root) return none;
    mirror = await readMirror(given.mirrorUrl, root);
    const m = { snapshot: mirror.snapshotVersion, timestamp: mirror.timestampVersion };
    sources[`mirror ${mirror.url}`] = m;
    if (above(m, h)) reasons.push(`the mirror ${mirror.url} serves ${describe(m)}, above the database (${describe(h)})`);
  }
  if (given.operator && (given.operator.snapshot !== undefined || given.operator.timestamp !== undefined)) {
    sources.operator = given.operator;
    reasons.push(`the operator gave ${describe(given.operator)}`);
  }
  if (reasons.length === 0) return { ...none, sources, mirror };
  if (flag && Object.keys(sources).length === 0) {
    throw new RecoveryError(
      'recovery_no_source',
      `the database was restored from a backup (${flag.reason}), and nothing says which snapshot and timestamp versions were published since: ` +
        `no published mark for this repository at ${deps.mark.file} (PUBLISHED_MARK_FILE), no mirror (MIRROR_URL or --mirror URL) and no ` +
        'versions given (--snapshot-version N --timestamp-version M). The server neither serves nor signs until one of them is given (docs/runbooks.md, "Restoring from a backup")',
    );
  }
  const floor: MarkVersions = { snapshot: h.snapshot, timestamp: h.timestamp };
  for (const s of Object.values(sources)) {
    floor.snapshot = Math.max(floor.snapshot, s.snapshot ?? 0);
    floor.timestamp = Math.max(floor.timestamp, s.timestamp ?? 0);
  }
  const reason = `recovery: ${reasons.join('; ')}`;
  const published = await deps.publication.publishAbove(floor, { reason, sources }, async (db) => {
    await clearRecoveryRequired(db);
    await raiseCopiedTimestamp(db, floor.timestamp);
  });
  return { recovered: true, reasons, heads: h, sources, published, mirror };
}

export interface LostRole {
  role: string;
  /** The version the database holds (0: none). */
  held: number;
  /** The version the mirror serves. */
  served: number;
}

/**
 * Roles whose version the mirror serves above the database's (lost with the backup): their
 * maintainers (project roles) or admins (root, targets, bins) must publish them again.
 */
export async function lostRoles(knex: Knex, mirror: MirrorState): Promise<LostRole[]> {
  const lost: LostRole[] = [];
  const rootHead = (await getHead(knex, 'root'))?.version ?? 0;
  const roots = await mirrorRootVersions(mirror.url, rootHead);
  if (roots.length > 0) lost.push({ role: 'root', held: rootHead, served: roots.at(-1)! });
  if (!mirror.roles) return lost;
  const names = [...mirror.roles.keys()];
  const held = new Map<string, number>();
  for (let i = 0; i < names.length; i += 1000) {
    for (const row of await knex('role_heads')
      .whereIn('role', names.slice(i, i + 1000))
      .select('role', 'version'))
      held.set(row.role, row.version);
  }
  for (const [role, served] of mirror.roles) {
    const version = held.get(role) ?? 0;
    if (served > version) lost.push({ role, held: version, served });
  }
  return lost.sort((a, b) => a.role.localeCompare(b.role));
}

export function describeLost(lost: LostRole[]): string[] {
  return lost.map(
    (l) =>
      `LOST ${l.role}: the mirror serves v${l.served}, the database holds ${l.held === 0 ? 'none' : `v${l.held}`}: ` +
      (l.role === 'root' || l.role === 'targets' || l.role.startsWith('bin-')
        ? `admins push v${l.held + 1}..v${l.served} again (tuf-carry push)`
        : `its maintainers publish again (v${l.held + 1} or later; clients that saw v${l.served} follow once it is reached)`),
  );
}

export function describe(v: Partial<MarkVersions>): string {
  return [v.snapshot !== undefined ? `snapshot v${v.snapshot}` : null, v.timestamp !== undefined ? `timestamp v${v.timestamp}` : null]
    .filter(Boolean)
    .join(', ');
}
