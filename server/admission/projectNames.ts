// Names a new top-level targets (or bin) version may delegate: not reserved by the repository, and
// not a look-alike (PEP 503) of another project or of a pending registration. Only names the
// version adds are checked, so a repository that already holds look-alikes keeps working.
import {
  assertProjectNameAvailable,
  normalizeProjectName,
  reservedProjectNames,
  separatorVariants,
  type KnownName,
} from '../../core/projectNames.ts';
import type { ParsedMetadata } from '../../core/metadata.ts';
import type { Db } from '../db/knex.ts';
import { knownProjectsLikeAny, pendingProjectsLikeAny } from '../db/projectsRepo.ts';
import type { CurrentMetadata } from '../publication/currentMetadata.ts';

/**
 * `top`: the top-level targets whose own files reserve their folders (`next` itself unless `next`
 * is a bin). `current`, when given, also looks each other spelling up through the delegations, so
 * a look-alike delegated by another bin is found even before it published anything.
 */
export async function checkNewDelegationNames(
  db: Db,
  previous: ParsedMetadata<'targets'> | null,
  next: ParsedMetadata<'targets'>,
  configuredReserved: string[],
  top: ParsedMetadata<'targets'> = next,
  current?: CurrentMetadata,
): Promise<void> {
  const before = new Set(Object.keys(previous?.model.delegations?.roles ?? {}));
  const names = Object.keys(next.model.delegations?.roles ?? {});
  const added = names.filter((n) => !before.has(n));
  if (added.length === 0) return;
  const reserved = reservedProjectNames(Object.keys(top.model.targets), configuredReserved);
  // One query each for every added name: a bootstrap may delegate thousands.
  const known: KnownName[] = [
    ...names.map((n) => ({ name: n, source: 'project' as const })),
    ...(await knownProjectsLikeAny(db, added)).map((n) => ({ name: n, source: 'project' as const })),
    ...(await pendingProjectsLikeAny(db, added)).map((n) => ({ name: n, source: 'registration' as const })),
  ];
  if (current && added.length <= 100) {
    for (const name of added) {
      for (const variant of separatorVariants(name, 80) ?? []) {
        if ((await current.delegationOf(db, variant))?.delegation) known.push({ name: variant, source: 'project' });
      }
    }
  }
  const byNormalized = new Map<string, KnownName[]>();
  for (const k of known) {
    const key = normalizeProjectName(k.name);
    byNormalized.set(key, [...(byNormalized.get(key) ?? []), k]);
  }
  for (const name of added) assertProjectNameAvailable(name, { reserved, known: byNormalized.get(normalizeProjectName(name)) ?? [] });
}
