// Domain errors carry a string-union code: callers and tests branch on the code, never on the text.

export type TufErrorCode =
  | 'malformed' // not JSON, wrong shape, not representable by TUF clients
  | 'wrong_type' // `_type` differs from the role being submitted
  | 'unsupported_spec_version'
  | 'bad_role_name'
  | 'bad_target_path'
  | 'duplicate_signature' // two signatures with the same keyid
  | 'threshold_not_met'
  | 'version_not_next' // not current + 1 (rollback, replay or skip)
  | 'expired'
  | 'expiry_too_far'
  | 'online_keys_mismatch' // root does not name the server's snapshot/timestamp keys
  | 'consistent_snapshot_required'
  | 'unknown_key'
  | 'unsupported_key'
  | 'not_bootstrapped'
  | 'already_bootstrapped'
  | 'unknown_metadata'
  | 'target_file_missing'
  | 'target_hash_mismatch' // a file's length or hashes differ from what its metadata lists (or it sends more bytes than listed)
  | 'target_too_large' // a file over MAX_TARGET_BYTES
  | 'too_many_targets' // a project role listing more targets than MAX_TARGETS_PER_PROJECT_ROLE (tuf-js reads them in quadratic time)
  | 'upload_not_found' // no open (verified, not yet published) upload with that signed sha256 listing that file
  | 'signed_mismatch' // merging signatures over different `signed` content
  | 'not_delegated' // no delegation for this project in top-level targets
  | 'path_not_delegated' // a target path outside the delegation's paths
  | 'already_delegated' // a registration for a project that already has maintainers
  | 'reserved_name' // a project name the repository keeps for itself (its own folders, RESERVED_PROJECT_NAMES)
  | 'confusable_name' // a project name that normalizes (PEP 503) like another project's or pending registration's
  | 'contested_project' // several identities asked for one project: an admin must choose (tuf-offline delegate --accept)
  | 'registration_limit_identity' // this identity has too many pending registrations
  | 'registration_limit_project' // this project has too many pending registrations
  | 'stale_request' // a signed request whose time is too far from the server's
  | 'nested_delegation' // project roles may not delegate further
  | 'provenance_missing' // a file without the build-provenance attestation its delegation requires
  | 'provenance_invalid' // an attestation that does not verify, is not about its file, or is by another builder
  | 'targets_resign_required'
  | 'bin_layout_changed' // a top-level targets that drops, adds or removes bins
  | 'not_an_offline_role'; // only roles top-level targets delegates to offline keys (bins) are accepted from admins // a root that changes the targets keys needs re-signed targets with it

export class TufError extends Error {
  override readonly name = 'TufError';
  constructor(
    readonly code: TufErrorCode,
    message: string,
    readonly details?: Record<string, unknown>,
  ) {
    super(message);
  }
}

export function isTufError(err: unknown, code?: TufErrorCode): err is TufError {
  return err instanceof TufError && (code === undefined || err.code === code);
}
