// Parsed TUF metadata as the trusted set keeps it (core/trustedSet.ts): Maps and arrays built from
// plain JSON, never `{}` lookups keyed by names from the metadata, and the delegation lookups of the
// client workflow (tuf-js's `rolesForTarget`, TAP 15 hash bins). Pure: no I/O.
import { createHash } from 'node:crypto';
import type { JsonObject } from './canonical.ts';
import type { TufKey } from './keys.ts';
import type { SignatureJson } from './metadata.ts';
import { PathPattern, targetPathHash } from './pathPatterns.ts';
import type { BuilderIdentity } from './provenance.ts';

export type TrustErrorCode =
  | 'malformed' // not JSON, or not the shape the specification gives this metadata
  | 'wrong_type' // `_type` is not the expected role type
  | 'unsupported_spec_version'
  | 'threshold_not_met' // "<role> was signed by n/m keys"
  | 'bad_version' // rollback, or a version that differs from what the referring metadata names
  | 'equal_version' // timestamp with the version already trusted: keep the trusted one
  | 'expired'
  | 'length_or_hash_mismatch'
  | 'missing_meta' // a role snapshot does not list, or a new snapshot dropped
  | 'not_delegated' // the delegator does not delegate this role
  | 'merkle_proof_malformed' // a TAP 16 snapshot Merkle proof that is not the document TAP 16 gives
  | 'merkle_proof_wrong_role' // a proof whose leaf is another role's entry
  | 'merkle_root_mismatch' // a proof whose path does not lead to the timestamp's merkle_root
  | 'wrong_order'; // the caller loaded metadata out of the specification's order

/** A refusal by the trusted set. Messages follow tuf-js's where tuf-js has one. */
export class TrustError extends Error {
  override readonly name = 'TrustError';
  constructor(
    readonly code: TrustErrorCode,
    message: string,
  ) {
    super(message);
  }
}

export function isTrustError(err: unknown, code?: TrustErrorCode): err is TrustError {
  return err instanceof TrustError && (code === undefined || err.code === code);
}

// --- Parsed metadata ---------------------------------------------------------------------------

export interface RoleKeys {
  readonly keyids: string[];
  readonly threshold: number;
}

/** METAFILES entry: only `version` is required; `length` and `hashes` may be omitted. */
export interface MetaInfo {
  readonly version: number;
  readonly length: number | null;
  /** [algorithm, lowercase hex] in the order listed; empty when the entry lists none. */
  readonly hashes: readonly (readonly [string, string])[];
}

export interface TargetInfo {
  readonly path: string;
  readonly length: number;
  /** In the order listed: the first one names the file in consistent-snapshot URLs. */
  readonly hashes: readonly (readonly [string, string])[];
  /** The entry as signed (length, hashes, custom, unrecognized fields). */
  readonly fields: JsonObject;
}

export interface Common {
  readonly version: number;
  readonly expires: Date;
}

export interface TrustedRoot extends Common {
  readonly type: 'root';
  readonly consistentSnapshot: boolean;
  readonly keys: ReadonlyMap<string, TufKey>;
  readonly roles: ReadonlyMap<string, RoleKeys>;
}

export interface TrustedTimestamp extends Common {
  readonly type: 'timestamp';
  readonly snapshotMeta: MetaInfo;
  /** TAP 16: the root (hex) of the snapshot Merkle tree over the snapshot's entries, when the repository publishes one. */
  readonly merkleRoot?: string;
}

export interface TrustedSnapshot extends Common {
  readonly type: 'snapshot';
  /** Keyed by file name, `ROLE.json`. */
  readonly meta: ReadonlyMap<string, MetaInfo>;
}

export interface TrustedTargets extends Common {
  readonly type: 'targets';
  readonly name: string;
  readonly targets: ReadonlyMap<string, TargetInfo>;
  readonly delegations: Delegations | null;
  /** The signatures as verified and the bytes they cover (for checks a user adds: client pins). */
  readonly signatures: readonly SignatureJson[];
  readonly signedBytes: Uint8Array;
}

export interface DelegatedRole extends RoleKeys {
  readonly name: string;
  readonly terminating: boolean;
  readonly paths: readonly PathPattern[] | null;
  readonly pathHashPrefixes: readonly string[] | null;
  /** The builder whose attestation every file found through this delegation needs (core/provenance.ts). */
  readonly provenance: BuilderIdentity | null;
}

/** TAP 15: 2^bitLength hash bins `PREFIX-HEX`, all terminating, all with the same keys. */
export interface SuccinctRoles extends RoleKeys {
  readonly bitLength: number;
  readonly namePrefix: string;
  readonly suffixLength: number;
}

export const TOP_LEVEL_ROLE_NAMES: readonly string[] = ['root', 'timestamp', 'snapshot', 'targets'];

export class Delegations {
  private readonly byName: ReadonlyMap<string, DelegatedRole>;

  constructor(
    readonly keys: ReadonlyMap<string, TufKey>,
    /** In order of appearance, which is the order of trust. Null with succinct roles. */
    readonly roles: readonly DelegatedRole[] | null,
    readonly succinct: SuccinctRoles | null,
  ) {
    this.byName = new Map((roles ?? []).map((r) => [r.name, r]));
  }

  /** The keys and threshold `name` must be signed with, or null if it is not delegated here. */
  roleFor(name: string): RoleKeys | null {
    if (this.roles) return this.byName.get(name) ?? null;
    if (this.succinct && isSuccinctBin(this.succinct, name)) return this.succinct;
    return null;
  }

  /** The delegated role `name` as listed (null for TAP 15 bins, which carry no more than keys). */
  delegatedRole(name: string): DelegatedRole | null {
    return this.byName.get(name) ?? null;
  }

  /** Delegated roles whose paths cover `targetPath`, in order (tuf-js's `rolesForTarget`). */
  *rolesForTarget(targetPath: string): Generator<{ name: string; terminating: boolean }> {
    if (this.roles) {
      const segments = targetPath.split('/');
      let hash: string | null = null;
      for (const role of this.roles) {
        let delegated = false;
        if (role.paths) delegated = role.paths.some((p) => p.matchesSegments(segments));
        else if (role.pathHashPrefixes) {
          hash ??= targetPathHash(targetPath);
          const h = hash;
          delegated = role.pathHashPrefixes.some((prefix) => h.startsWith(prefix));
        }
        if (delegated) yield { name: role.name, terminating: role.terminating };
      }
    } else if (this.succinct) {
      yield { name: succinctBinFor(this.succinct, targetPath), terminating: true };
    }
  }
}

/** TAP 15: the bin is the leftmost bitLength bits of SHA-256(target path). */
export function succinctBinFor(s: SuccinctRoles, targetPath: string): string {
  const digest = createHash('sha256').update(targetPath).digest();
  const bin = digest.readUInt32BE(0) >>> (32 - s.bitLength);
  return `${s.namePrefix}-${bin.toString(16).padStart(s.suffixLength, '0')}`;
}

function isSuccinctBin(s: SuccinctRoles, name: string): boolean {
  const prefix = `${s.namePrefix}-`;
  if (!name.startsWith(prefix)) return false;
  const suffix = name.slice(prefix.length);
  if (suffix.length !== s.suffixLength || !/^[0-9a-fA-F]+$/.test(suffix)) return false;
  return parseInt(suffix, 16) < 2 ** s.bitLength;
}
