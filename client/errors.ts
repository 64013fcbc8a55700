// The client's own refusals (the trusted set raises TrustError, downloads DownloadError). Each
// carries a string-union code: callers and tests branch on the code, never on the text.

export type ClientErrorCode =
  | 'no_trusted_root'
  | 'bad_trusted_root' // tuf-client fetch --root FILE that is not a root signed by its own keys (nothing is kept)
  | 'no_sigstore_trusted_root'
  | 'target_not_found'
  | 'persist_failed'
  | 'delegation_not_met' // a project role whose delegation changed since it was signed: it awaits re-signing
  | 'delegated_by_bin' // tuf-client verify given top-level targets for a project that a bin delegates
  | 'mirrors_failed' // no copy (mirror) of a repository served a file, each for a reason
  | 'provenance_missing' // a build-provenance attestation required (by the delegation or a pin) is not listed
  | 'provenance_invalid' // a required attestation that does not verify, is not about the file, or is by another builder
  | 'pin_not_met' // the role listing a file lacks the signatures a user's pin asks for
  | 'no_matching_mapping' // TAP 4: no mapping of the map file matches the target
  | 'mapping_disagreement' // TAP 4: a terminating mapping's repositories disagree on the target
  | 'mapping_threshold_not_met' // TAP 4: too few of a terminating mapping's repositories vouch for the target
  | 'target_unavailable' // TAP 4: repositories agreed on a target, and none of them could serve its bytes
  | 'bad_map' // a TAP 4 map file this client cannot follow
  | 'bad_policy'; // a policy file (pins) this client cannot follow

export class ClientError extends Error {
  override readonly name: string = 'ClientError';
  constructor(
    readonly code: ClientErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** The name the earlier client raised these under; kept so callers that test for it still work. */
export class IdentityVerificationError extends ClientError {
  override readonly name: string = 'IdentityVerificationError';
}

/** Who may sign a role now, as its delegation names them. */
export interface CurrentDelegation {
  role: string;
  /** The role that delegates it (top-level targets, or the project's bin). */
  delegator: string;
  threshold: number;
  /** Identity keys, by identity and issuer. */
  identities: { identity: string; issuer: string }[];
  /** Keyids of any other keys the delegation names. */
  otherKeyids: string[];
}

/**
 * A project role that does not meet its delegation as it is now, with nothing forged in it: every
 * signature by a key the delegation names verifies, there are only too few of them, and any other
 * is a genuine signature by an identity the delegation does not name (any more). What a revoked or
 * replaced maintainer, or a raised threshold, leaves until a current maintainer re-signs. Refused
 * like any unmet threshold; the message and `delegation` say who may sign now. The trusted set's
 * TrustError is the cause.
 */
export class DelegationNotMetError extends ClientError {
  override readonly name: string = 'DelegationNotMetError';
  constructor(
    readonly delegation: CurrentDelegation,
    message: string,
    options?: { cause?: unknown },
  ) {
    super('delegation_not_met', message, options);
  }
}
