// The JSON the maintainer API answers, shared by the server and the tools that read it.
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
  threshold: number | null;
  paths: string[];
  version: number | null;
  pending: PendingJson[];
  /** Set when a delegation change left the published version without enough valid signatures. */
  needsResigning: { version: number; targetsVersion: number; reason: string } | null;
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

export interface ResignNeededJson {
  project: string;
  version: number;
  targetsVersion: number;
  reason: string;
  detectedAt: string;
}
