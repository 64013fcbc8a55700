// What `tuf-offline delegate` checks before it writes a delegation, with the same rules the server
// applies (core/projectNames.ts): whom to delegate to from the pending registrations (a contested
// project needs --accept), and that the name is neither reserved nor a look-alike of a project the
// edited targets (or its bins) already delegates, or of another pending registration.
import fs from 'node:fs';
import { isPlainObject, type JsonObject } from '../core/canonical.ts';
import { isTufError } from '../core/errors.ts';
import {
  acceptedRegistrations,
  assertProjectNameAvailable,
  reservedProjectNames,
  type KnownName,
  type PendingClaim,
} from '../core/projectNames.ts';
import type { Maintainer } from '../core/delegations.ts';
import { readBinDir } from './bins.ts';
import { readJson } from './files.ts';
import { usage } from '../platform/cli.ts';

/** The registrations file `tuf-carry pull` writes (GET /admin/registrations). */
interface RegistrationsFile {
  registrations: PendingClaim[];
  reservedNames: string[];
}

/** Reads registrations.json defensively: it came from a connected machine. */
export function readRegistrationsFile(file: string): RegistrationsFile {
  const value = readJson(file);
  const list = isPlainObject(value) && Array.isArray(value.registrations) ? value.registrations : null;
  if (!list) throw new Error(`${file} is not a registrations file (from \`tuf-carry pull\`)`);
  const registrations: PendingClaim[] = [];
  for (const r of list) {
    if (!isPlainObject(r) || r.status !== 'pending') continue;
    const { id, project, identity, issuer, requestedAt } = r;
    if (typeof id !== 'number' || typeof project !== 'string' || typeof identity !== 'string' || typeof issuer !== 'string') {
      throw new Error(`${file}: a registration needs a numeric id and string project, identity and issuer`);
    }
    registrations.push({ id, project, identity, issuer, requestedAt: typeof requestedAt === 'string' ? requestedAt : '?' });
  }
  const reserved =
    isPlainObject(value) && Array.isArray(value.reservedNames) ? value.reservedNames.filter((n): n is string => typeof n === 'string') : [];
  return { registrations, reservedNames: reserved };
}

/** --accept values: registration ids. */
export function parseAcceptIds(accept: string[]): number[] {
  return accept.map((a) => {
    if (!/^\d{1,18}$/.test(a)) usage(`--accept takes a registration id (a number), got ${JSON.stringify(a)}`);
    return Number(a);
  });
}

/** The claims on a contested project, one line each (identity, issuer, registration id, time). */
export function claimLines(claims: readonly PendingClaim[], project: string): string[] {
  return claims.map(
    (c) =>
      `  registration ${c.id}: ${c.identity} at ${c.issuer}, requested ${c.requestedAt}${c.project !== project ? ` (asks for ${JSON.stringify(c.project)})` : ''}`,
  );
}

/**
 * The identities to delegate `project` to from the registrations file: all of them when one
 * identity asked; for a contested project only those named with --accept, and without it an
 * error that lists every claim (identity, issuer, registration id, time) so the admin can choose.
 */
export function maintainersFromRegistrations(file: string, project: string, accept: string[]): Maintainer[] {
  const ids = parseAcceptIds(accept);
  const { registrations } = readRegistrationsFile(file);
  try {
    return acceptedRegistrations(registrations, project, ids);
  } catch (err) {
    if (isTufError(err, 'contested_project')) {
      const claims = (err.details?.claims ?? []) as PendingClaim[];
      throw new Error(
        `${err.message}. Check each with the maintainers out of band, then name the ones you accept:\n${claimLines(claims, project).join('\n')}\n  e.g. --registrations ${file} --accept ${claims[0]?.id ?? 'ID'}`,
      );
    }
    if (isTufError(err)) throw new Error(`${file}: ${err.message}`);
    throw err;
  }
}

function delegatedNames(signed: JsonObject): string[] {
  const delegations = signed.delegations;
  if (!isPlainObject(delegations) || !Array.isArray(delegations.roles)) return [];
  return delegations.roles.flatMap((r) => (isPlainObject(r) && typeof r.name === 'string' ? [r.name] : []));
}

/**
 * Refuses a delegation of `project` that the server would refuse too: a reserved name (a folder
 * of top-level targets' own files, RESERVED_PROJECT_NAMES, --reserved, or the server's list in the
 * registrations file), or a look-alike of a project delegated by `topSigned` (or by its bins in
 * `binDir`) or of a pending registration spelled differently.
 */
export function checkDelegationName(
  topSigned: JsonObject,
  project: string,
  opts: { binDir?: string; registrationsFile?: string; reserved?: string[] },
): void {
  delegationNameChecker(topSigned, opts)(project);
}

/** The same check for many projects: reads the registrations file and the bins once. */
export function delegationNameChecker(
  topSigned: JsonObject,
  opts: { binDir?: string; registrationsFile?: string; reserved?: string[] },
): (project: string) => void {
  const targets = isPlainObject(topSigned.targets) ? Object.keys(topSigned.targets) : [];
  const file = opts.registrationsFile ? readRegistrationsFile(opts.registrationsFile) : null;
  const configured = [
    ...(process.env.RESERVED_PROJECT_NAMES ?? '').split(/[\s,]+/),
    ...(opts.reserved ?? []),
    ...(file?.reservedNames ?? []),
  ];
  const known: KnownName[] = delegatedNames(topSigned).map((name) => ({ name, source: 'project' }));
  if (opts.binDir && fs.existsSync(opts.binDir)) {
    for (const { envelope } of readBinDir(opts.binDir).values())
      known.push(...delegatedNames(envelope.signed).map((name) => ({ name, source: 'project' as const })));
  }
  for (const r of file?.registrations ?? []) known.push({ name: r.project, source: 'registration' });
  const reserved = reservedProjectNames(targets, configured);
  return (project) => {
    try {
      assertProjectNameAvailable(project, { reserved, known });
    } catch (err) {
      if (isTufError(err)) throw new Error(`${err.message}; refusing to delegate it`);
      throw err;
    }
  };
}
