// Names a new top-level targets version may delegate: not reserved by the repository, and not a
// look-alike (PEP 503) of another project or of a pending registration. Only names the version
// adds are checked, so a repository that already holds look-alikes keeps working.
import { assertProjectNameAvailable, normalizeProjectName, reservedProjectNames, type KnownName } from '../../core/projectNames.ts';
import type { ParsedMetadata } from '../../core/metadata.ts';
import type { Db } from '../db/knex.ts';
import { knownProjectsLikeAny, pendingProjectsLikeAny } from '../db/projectsRepo.ts';

export async function checkNewDelegationNames(db: Db, previous: ParsedMetadata<'targets'> | null, next: ParsedMetadata<'targets'>, configuredReserved: string[]): Promise<void> {
  const before = new Set(Object.keys(previous?.model.delegations?.roles ?? {}));
  const names = Object.keys(next.model.delegations?.roles ?? {});
  const added = names.filter((n) => !before.has(n));
  if (added.length === 0) return;
  const reserved = reservedProjectNames(Object.keys(next.model.targets), configuredReserved);
  // One query each for every added name: a bootstrap may delegate thousands.
  const known: KnownName[] = [
    ...names.map((n) => ({ name: n, source: 'project' as const })),
    ...(await knownProjectsLikeAny(db, added)).map((n) => ({ name: n, source: 'project' as const })),
    ...(await pendingProjectsLikeAny(db, added)).map((n) => ({ name: n, source: 'registration' as const })),
  ];
  const byNormalized = new Map<string, KnownName[]>();
  for (const k of known) {
    const key = normalizeProjectName(k.name);
    byNormalized.set(key, [...(byNormalized.get(key) ?? []), k]);
  }
  for (const name of added) assertProjectNameAvailable(name, { reserved, known: byNormalized.get(normalizeProjectName(name)) ?? [] });
}
