// Rules on project names that keep them from being taken by look-alikes, squatted where the
// repository keeps its own files, or handed to whoever asks last: PEP 503 normalization, reserved
// names, and contested registrations. Pure; the server (registrations, admission) and the offline
// tool (tuf-offline delegate) apply the same rules.
import { TufError } from './errors.ts';

/** PEP 503: lowercase, and every run of "-", "_" and "." is one "-". `my_lib` and `My.Lib` are `my-lib`. */
export function normalizeProjectName(name: string): string {
  return name.toLowerCase().replace(/[-_.]+/g, '-');
}

/**
 * Names no project may take: the first path segment of every target the top-level targets role
 * lists itself (`sigstore` for `sigstore/trusted_root.json`: the repository's own folders), and
 * the names an admin configured. Normalized.
 */
export function reservedProjectNames(topLevelTargetPaths: Iterable<string>, configured: Iterable<string> = []): Set<string> {
  const reserved = new Set<string>();
  for (const path of topLevelTargetPaths) {
    const slash = path.indexOf('/');
    if (slash > 0) reserved.add(normalizeProjectName(path.slice(0, slash)));
  }
  for (const name of configured) if (name.trim() !== '') reserved.add(normalizeProjectName(name.trim()));
  return reserved;
}

/** Where a name that a new one could be mistaken for comes from, for the error message. */
export type NameSource = 'project' | 'registration';

export interface KnownName {
  name: string;
  source: NameSource;
}

/** The first known name that normalizes like `name` but is spelled differently, or null. */
export function confusableWith(name: string, known: Iterable<KnownName>): KnownName | null {
  const normalized = normalizeProjectName(name);
  for (const k of known) if (k.name !== name && normalizeProjectName(k.name) === normalized) return k;
  return null;
}

/**
 * Refuses `name` when it is reserved (`reserved_name`), or when it normalizes like a known project
 * or pending registration spelled differently (`confusable_name`, naming the existing one).
 */
export function assertProjectNameAvailable(name: string, opts: { reserved: ReadonlySet<string>; known: Iterable<KnownName> }): void {
  if (opts.reserved.has(normalizeProjectName(name))) {
    throw new TufError('reserved_name', `project name ${JSON.stringify(name)} is reserved by the repository`, { name });
  }
  const clash = confusableWith(name, opts.known);
  if (clash) {
    const what = clash.source === 'project' ? 'the existing project' : 'the pending registration for';
    throw new TufError(
      'confusable_name',
      `project name ${JSON.stringify(name)} is too similar to ${what} ${JSON.stringify(clash.name)} (names are compared with "-", "_" and "." alike)`,
      {
        name,
        existing: clash.name,
        source: clash.source,
      },
    );
  }
}

/** A pending registration, as the server lists it and the offline tool reads it. */
export interface PendingClaim {
  id: number;
  project: string;
  identity: string;
  issuer: string;
  requestedAt: string;
}

const identityOf = (c: { identity: string; issuer: string }) => `${c.identity}\n${c.issuer}`;

/**
 * Pending registrations grouped by normalized project name, keeping only the contested groups:
 * more than one identity (identity and issuer) asking, or one name asked for in several spellings.
 */
export function contestedProjects(claims: Iterable<PendingClaim>): Map<string, PendingClaim[]> {
  const groups = new Map<string, PendingClaim[]>();
  for (const c of claims) {
    const key = normalizeProjectName(c.project);
    const group = groups.get(key);
    if (group) group.push(c);
    else groups.set(key, [c]);
  }
  const contested = new Map<string, PendingClaim[]>();
  for (const [key, group] of groups) if (isContested(group)) contested.set(key, group);
  return contested;
}

/** Whether a group of claims on one (normalized) name comes from more than one identity or spelling. */
export function isContested(group: readonly PendingClaim[]): boolean {
  return new Set(group.map(identityOf)).size > 1 || new Set(group.map((c) => c.project)).size > 1;
}

/**
 * The identities to delegate `project` to, from pending registrations: every one when a single
 * identity asked (as before), otherwise only the registrations named in `accept`. A contested
 * project without `accept` is refused (`contested_project`), with every claim in the details so
 * the admin can choose.
 */
export function acceptedRegistrations(
  claims: readonly PendingClaim[],
  project: string,
  accept: readonly number[] = [],
): { identity: string; issuer: string }[] {
  const normalized = normalizeProjectName(project);
  const group = claims.filter((c) => normalizeProjectName(c.project) === normalized);
  if (group.length === 0) throw new TufError('not_delegated', `no pending registration for ${project}`);
  let chosen: PendingClaim[];
  if (accept.length === 0) {
    if (isContested(group) || group.some((c) => c.project !== project)) {
      throw new TufError(
        'contested_project',
        `project ${project} is contested: ${new Set(group.map(identityOf)).size} identities asked for it; choose the registrations to accept with --accept ID`,
        { claims: group },
      );
    }
    chosen = group;
  } else {
    chosen = [];
    for (const id of accept) {
      const claim = group.find((c) => c.id === id);
      if (!claim) throw new TufError('not_delegated', `registration ${id} is not a pending registration for ${project}`);
      if (claim.project !== project)
        throw new TufError(
          'confusable_name',
          `registration ${id} asks for ${JSON.stringify(claim.project)}, not ${JSON.stringify(project)}`,
        );
      chosen.push(claim);
    }
  }
  const unique = new Map(chosen.map((c) => [identityOf(c), { identity: c.identity, issuer: c.issuer }]));
  return [...unique.values()];
}

/**
 * Every spelling of `name` that normalizes like it within the role-name grammar (single "-", "_"
 * or "." between lowercase letters and digits), itself excluded; null when there would be more
 * than `max` (so callers fall back to what they can list).
 */
export function separatorVariants(name: string, max = 243): string[] | null {
  const parts = name.split(/[-_.]/);
  const gaps = parts.length - 1;
  if (3 ** gaps > max + 1) return null;
  let spellings = [parts[0]!];
  for (const part of parts.slice(1)) spellings = spellings.flatMap((s) => ['-', '_', '.'].map((sep) => `${s}${sep}${part}`));
  return spellings.filter((s) => s !== name);
}
