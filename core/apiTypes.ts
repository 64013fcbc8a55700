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
}

export interface ResignNeededJson {
  project: string;
  version: number;
  targetsVersion: number;
  reason: string;
  detectedAt: string;
}
