// Bulk approval: `tuf-offline delegate --registrations FILE` without --project approves every
// pending registration in the file (from `tuf-carry pull`) in one run. Fail closed: a project that
// needs a decision (contested without --accept, already delegated, a reserved or look-alike name)
// refuses the whole run, and the refusal lists every such project at once, so the admin decides
// each (--accept ID, or --skip NAME to leave it for a later run) and runs it again.
import { isTufError } from '../core/errors.ts';
import type { Maintainer } from '../core/delegations.ts';
import { acceptedRegistrations, isContested, normalizeProjectName, type PendingClaim } from '../core/projectNames.ts';
import { claimLines, parseAcceptIds, readRegistrationsFile } from './projectNames.ts';
import { usage } from '../platform/cli.ts';

export interface Approval {
  project: string;
  maintainers: Maintainer[];
}

export interface BulkPlan {
  approvals: Approval[];
  /** Projects left out with --skip. */
  skipped: string[];
}

export interface BulkInputs {
  registrationsFile: string;
  /** --accept: registration ids, for contested (or already delegated) projects. */
  accept: string[];
  /** --skip: projects to leave out of this run. */
  skip: string[];
  /** The identities a project is delegated to now, or null when it is not delegated. */
  delegatedTo: (project: string) => Maintainer[] | null;
  /** Throws when the name may not be delegated (reserved, a look-alike): as `delegate --project`. */
  checkName: (project: string) => void;
}

const who = (ms: Maintainer[]) => ms.map((m) => `${m.identity} at ${m.issuer}`).join(', ');

/** "2 identities asked for it", "asked for as my-lib and my_lib". */
function contest(group: PendingClaim[]): string {
  const identities = new Set(group.map((c) => `${c.identity}\n${c.issuer}`)).size;
  const spellings = [...new Set(group.map((c) => c.project))];
  return identities > 1 ? `${identities} identities asked for it` : `asked for as ${spellings.join(' and ')}`;
}

/** Every pending project of the registrations file grouped by normalized name, sorted. */
function groups(registrations: PendingClaim[]): PendingClaim[][] {
  const byName = new Map<string, PendingClaim[]>();
  for (const r of registrations) {
    const key = normalizeProjectName(r.project);
    byName.set(key, [...(byName.get(key) ?? []), r]);
  }
  return [...byName.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, g]) => g);
}

/** What to approve, or an error listing every project that needs a decision (nothing is approved then). */
export function planBulkApproval(inputs: BulkInputs): BulkPlan {
  const file = inputs.registrationsFile;
  const { registrations } = readRegistrationsFile(file);
  const accepted = new Set(parseAcceptIds(inputs.accept));
  for (const id of accepted)
    if (!registrations.some((r) => r.id === id)) throw new Error(`--accept ${id}: not a pending registration in ${file}`);
  const skip = new Set(inputs.skip.map(normalizeProjectName));
  for (const name of inputs.skip)
    if (!registrations.some((r) => normalizeProjectName(r.project) === normalizeProjectName(name)))
      throw new Error(`--skip ${name}: no pending registration for ${name} in ${file}`);

  const approvals: Approval[] = [];
  const skipped: string[] = [];
  const problems: string[] = [];
  let example: number | undefined; // a registration id to show in the hint
  for (const group of groups(registrations)) {
    const ids = group.filter((c) => accepted.has(c.id)).map((c) => c.id);
    const project = group.find((c) => c.id === ids[0])?.project ?? group[0]!.project;
    if (skip.has(normalizeProjectName(project))) {
      if (ids.length > 0) usage(`${project}: --skip and --accept ${ids.join(', ')} contradict each other`);
      skipped.push(project);
      continue;
    }
    const refuse = (why: string) => problems.push(`project ${project}: ${why}`, ...claimLines(group, project));
    if (ids.length === 0 && isContested(group)) {
      example ??= group[0]!.id;
      refuse(`contested: ${contest(group)}; choose with --accept ID`);
      continue;
    }
    const current = inputs.delegatedTo(project);
    if (current && ids.length === 0) {
      refuse(`already delegated to ${who(current)}; bulk approval never replaces a delegation unless --accept names the registration`);
      continue;
    }
    try {
      inputs.checkName(project);
      approvals.push({ project, maintainers: acceptedRegistrations(group, project, ids) });
    } catch (err) {
      if (!(err instanceof Error)) throw err;
      refuse(isTufError(err) ? `${file}: ${err.message}` : err.message);
    }
  }
  if (problems.length > 0) {
    const count = problems.filter((l) => l.startsWith('project ')).length;
    throw new Error(
      [
        `refusing the whole run: ${count} project${count === 1 ? '' : 's'} of ${file} need${count === 1 ? 's' : ''} a decision (nothing written)`,
        ...problems,
        'Check contested projects with the maintainers out of band, then run again naming the registrations you accept',
        '(--accept ID, repeatable, for each such project) or leaving projects for a later run (--skip NAME, repeatable);',
        'reject the requests you refuse on the server (POST /admin/registrations/ID/reject).',
        ...(example === undefined ? [] : [`  e.g. --registrations ${file} --accept ${example}`]),
      ].join('\n'),
    );
  }
  return { approvals, skipped };
}

export function describeApproval(a: Approval, role: string): string {
  return `approved ${a.project}: ${who(a.maintainers)} -> ${role}`;
}
