// What an IdentityClient is built from: where the repository is (and its mirrors), where state is
// kept, the bounds on what the repository can make the client do, and the user's own pins.
import path from 'node:path';
import { DEFAULT_MAX_DELEGATIONS } from '../core/trustedSet.ts';
import type { Pin } from '../core/clientPolicy.ts';

/** Bounds on what a repository (or anyone between it and us) can make the client do. */
export interface ClientLimits {
  /** TUF 5.3: root versions followed in one refresh. */
  maxRootRotations: number;
  /** TUF 5.6.7.1: roles visited in one target search. */
  maxDelegations: number;
  rootMaxLength: number;
  timestampMaxLength: number;
  /** When timestamp gives no length for the snapshot. */
  snapshotMaxLength: number;
  /** When snapshot gives no length for a targets role. */
  targetsMaxLength: number;
  /** Per download, body included. */
  fetchTimeoutMs: number;
  /** A TAP 16 snapshot Merkle proof (a few hundred bytes per level; 256 levels at most). */
  proofMaxLength: number;
}

export const DEFAULT_LIMITS: ClientLimits = {
  maxRootRotations: 256,
  maxDelegations: DEFAULT_MAX_DELEGATIONS,
  rootMaxLength: 512_000, // tuf-js's default
  timestampMaxLength: 16_384, // tuf-js's default
  // Snapshot grows with the number of project roles (tens of MB at PyPI's scale, DESIGN.md 7);
  // tuf-js's 2 MB would refuse a large repository whose timestamp omits the length.
  snapshotMaxLength: 256 * 1024 * 1024,
  targetsMaxLength: 64 * 1024 * 1024,
  fetchTimeoutMs: 30_000,
  proofMaxLength: 64 * 1024,
};

/** Where one copy of a repository is served: its metadata and its targets. */
export interface MirrorUrls {
  metadataBaseUrl: string;
  targetBaseUrl: string;
}

export interface IdentityClientOptions extends MirrorUrls {
  /** More copies of the same repository, tried in order after the first for each file it lacks (TAP 4). */
  mirrors?: MirrorUrls[];
  /** Holds root.json (the trusted root, placed there once) and the metadata the client persists. */
  metadataDir: string;
  targetDir: string;
  /** The Sigstore trusted root; by default the repository's own target sigstore/trusted_root.json. */
  sigstoreTrustedRoot?: unknown;
  limits?: Partial<ClientLimits>;
  /**
   * Use TAP 16 snapshot Merkle proofs when the timestamp names a tree (default true): one proof
   * per role loaded instead of the whole snapshot.json. False reads snapshot.json always.
   */
  snapshotMerkleProofs?: boolean;
  /** The user's pins (core/clientPolicy.ts): they can only narrow what the repository allows. */
  pins?: readonly Pin[];
  /** Told, in a line each, what the client fetched and how it verified it (tuf-client --verbose). */
  log?: (line: string) => void;
}

/** tuf-js's local file name for a role's metadata. */
export function metadataFileName(role: string): string {
  return `${encodeURIComponent(role)}.json`;
}

/** Where the client keeps the repository's Sigstore trusted root once TUF verified it (STATE/targets). */
export function sigstoreRootFile(targetDir: string): string {
  return path.join(targetDir, 'sigstore-trusted_root.json');
}

/** Where the client keeps a build-provenance attestation it verified, by its sha256 (STATE/targets/attestations). */
export function attestationFile(targetDir: string, sha256: string): string {
  return path.join(targetDir, 'attestations', `${sha256}.json`);
}
