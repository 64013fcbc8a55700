// The JSON the maintainer API answers, shared by the server and the tools that read it (and how a few of its fields read to people).
import type { Envelope } from './metadata.ts';

export interface PendingJson {
  version: number;
  signedSha256: string;
  signedBy: string[];
  createdAt: string;
  metadata: Envelope;
}

export interface ProjectInfoJson {
  project: string;
  delegated: boolean;
  maintainers: { identity: string; issuer: string; keyid: string }[];
  /** The CI identity whose build-provenance attestation every file needs (core/provenance.ts), or null. */
  provenance: { identity: string; issuer: string } | null;
  threshold: number | null;
  paths: string[];
  version: number | null;
  pending: PendingJson[];
  /** Set when a delegation change left the published version without enough valid signatures. */
  needsResigning: ResignNeededSince | null;
}

export interface RegistrationJson {
  id: number;
  project: string;
  identity: string;
  issuer: string;
  status: 'pending' | 'approved' | 'rejected';
  requestedAt: string;
  createdAt: string;
  /** Pending, and another identity (or spelling) asks for the same project too: an admin must choose. */
  contested: boolean;
  /** The other pending registrations for the same (normalized) project. */
  competing: CompetingRegistrationJson[];
}

/** A pending registration as others see it: who asks for which project, and when. */
export interface CompetingRegistrationJson {
  id: number;
  project: string;
  identity: string;
  issuer: string;
  requestedAt: string;
}

/** GET /admin/registrations: what `tuf-carry pull` writes to registrations.json. */
export interface RegistrationListJson {
  registrations: RegistrationJson[];
  /** Every contested project (several identities or spellings pending), with all its pending registrations. */
  contested: { project: string; registrations: CompetingRegistrationJson[] }[];
  /** Names no project may take (normalized): the repository's own folders and RESERVED_PROJECT_NAMES. */
  reservedNames: string[];
}

/** GET /api/v1/projects/NAME/registrations: the pending registrations for a project, for every registrant to see. */
export interface ProjectRegistrationsJson {
  project: string;
  contested: boolean;
  registrations: CompetingRegistrationJson[];
}

/** Which version needs re-signing, why, and which role's change made it so. */
export interface ResignNeededSince {
  version: number;
  /** The top-level targets version in force when it was found (kept for compatibility; for a project in a bin, not the change: see delegator). */
  targetsVersion: number;
  /** The role whose delegation changed: 'targets', or the project's bin; null when recorded before it was. */
  delegator: string | null;
  /** That role's version with the change. */
  delegatorVersion: number | null;
  /** For people: "bin-2a8-2ab v3", "targets v4". */
  since: string;
  reason: string;
}

/** "bin-2a8-2ab v3": the role and version whose delegation change a role fails. */
export function describeSince(row: { delegator: string | null; delegatorVersion: number | null; targetsVersion: number }): string {
  if (row.delegator !== null && row.delegatorVersion !== null) return `${row.delegator} v${row.delegatorVersion}`;
  // Recorded before the delegator was: the version is its delegator's, whichever role that was.
  return `v${row.delegatorVersion ?? row.targetsVersion} of its delegator`;
}

/** GET /admin/projects/resign-needed: one project role awaiting re-signing. */
export interface ResignNeededJson extends ResignNeededSince {
  project: string;
  detectedAt: string;
}

/** The API form of a resign_needed row. */
export function resignNeededSince(row: {
  role_version: number;
  targets_version: number;
  delegator: string | null;
  delegator_version: number | null;
  reason: string;
}): ResignNeededSince {
  const since = { targetsVersion: row.targets_version, delegator: row.delegator, delegatorVersion: row.delegator_version };
  return { version: row.role_version, ...since, since: describeSince(since), reason: row.reason };
}
