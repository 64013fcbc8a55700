// What the project service is built from and what it answers, apart from the modules that do the
// work (uploadChecks.ts, uploadCommit.ts), so that each of them and http/ can name them without
// importing the service. projectService.ts re-exports them: importers keep one place to look.
import type { Knex } from 'knex';
import type { Clock } from '../../core/clock.ts';
import type { IdentitySignatureVerifier } from '../../core/identity.ts';
import type { TufKey } from '../../core/keys.ts';
import type { RoleSpec } from '../../core/verify.ts';
import type { BlobStore } from '../blobs/blobStore.ts';
import type { CurrentMetadata } from '../publication/currentMetadata.ts';
import type { Publication } from '../publication/publication.ts';
import type { PublishedRole } from '../serving/published.ts';
import type { AsyncSignatureVerifier } from '../verifyPool.ts';
import type { FastCommitDeps } from './fastCommit.ts';

export interface ProjectDeps {
  knex: Knex;
  clock: Clock;
  current: CurrentMetadata;
  publication: Publication;
  verifier: IdentitySignatureVerifier;
  /** Verifies upload signatures off the main thread first; absent, the main thread does it all. */
  verifierPool?: AsyncSignatureVerifier;
  projectMaxExpirySeconds: number;
  /** Where streamed files go (and are checked against their metadata). */
  blobs: BlobStore;
  /** No file larger than this is accepted (MAX_TARGET_BYTES). */
  maxTargetBytes: number;
  /** No role listing more targets is accepted (MAX_TARGETS_PER_PROJECT_ROLE). */
  maxTargetsPerProjectRole: number;
  /** Commit the common upload in one statement, decided from memory (fastCommit.ts); absent: always the full path. */
  fast?: FastCommitDeps;
  /**
   * Waits until a snapshot covering change `seq` is committed and served by this process; absent:
   * `publication.waitUntilCovered`, this process's own rounds. A cluster worker has the worker that
   * publishes for all of them do it (cluster/worker.ts), so that one round covers every worker's uploads.
   */
  waitUntilCovered?: (seq: string, reason: string) => Promise<PublishedRole[]>;
}

/** A covering snapshot for change `seq`, by whoever publishes for this process. */
export function waitUntilCovered(deps: ProjectDeps, seq: string, reason: string): Promise<PublishedRole[]> {
  return deps.waitUntilCovered ? deps.waitUntilCovered(seq, reason) : deps.publication.waitUntilCovered(seq, reason);
}

/** A file the metadata lists that the repository does not hold yet: send it to `receiveFile`. */
export interface MissingFile {
  path: string;
  length: number;
  sha256: string;
}

export type UploadResult =
  | { status: 'published'; version: number; published: PublishedRole[] }
  // pending: fewer valid signatures than the threshold; awaiting_files: threshold met, files missing.
  | {
      status: 'pending' | 'awaiting_files';
      version: number;
      signatures: number;
      threshold: number;
      signedSha256: string;
      missingFiles: MissingFile[];
    };

/** Who may sign a project's role, as plain data a worker thread can verify against. */
export interface SigningAuthority {
  keys: Record<string, TufKey>;
  role: RoleSpec;
}

/** Verdicts reached on a worker thread for an upload's signatures, against `authority`. */
export interface Preverified {
  authority: SigningAuthority;
  signedSha256: string;
  validKeyids: string[];
  invalidKeyids: string[];
}
