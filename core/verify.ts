// Signature threshold checks. Counting is by distinct keyid of the role; a signature that does not
// verify, or whose key this verifier cannot handle, never counts (fail closed).
import { canonicalBytes, sha256Hex, type JsonValue } from './canonical.ts';
import { TufError } from './errors.ts';
import { verifyKeySignature, type TufKey } from './keys.ts';
import type { SignatureJson } from './metadata.ts';

/**
 * Verifies one signature made by one key. Synchronous on purpose: tuf-js calls key verification
 * synchronously and would ignore a rejected promise. Returns false for anything it cannot confirm.
 */
export interface SignatureVerifier {
  verify(key: TufKey, signature: SignatureJson, signedBytes: Uint8Array): boolean;
}

/** ed25519 and ecdsa-sha2-nistp256 keys; any other key type never verifies here. */
export const classicKeyVerifier: SignatureVerifier = {
  verify(key, signature, signedBytes) {
    try {
      return verifyKeySignature(key, signature.sig, signedBytes);
    } catch {
      return false;
    }
  },
};

export interface RoleSpec {
  keyids: string[];
  threshold: number;
}

export type SignatureVerdict =
  { keyid: string; valid: true } | { keyid: string; valid: false; reason: 'not_a_key_of_this_role' | 'key_missing' | 'bad_signature' };

export interface ThresholdResult {
  verdicts: SignatureVerdict[];
  validKeyids: string[];
  threshold: number;
  /** How many distinct keys the role names (a 2-of-3 role: 3). */
  roleKeys: number;
  met: boolean;
}

type Candidate =
  { signature: SignatureJson; key: TufKey } | { signature: SignatureJson; key: null; reason: 'not_a_key_of_this_role' | 'key_missing' };

/** Each signature with the role key it must verify under, or why it cannot count. */
function candidates(signatures: SignatureJson[], keys: Record<string, TufKey>, role: RoleSpec): Candidate[] {
  const authorized = new Set(role.keyids);
  return signatures.map((signature) => {
    if (!authorized.has(signature.keyid)) return { signature, key: null, reason: 'not_a_key_of_this_role' as const };
    const key = Object.prototype.hasOwnProperty.call(keys, signature.keyid) ? keys[signature.keyid] : undefined;
    return key ? { signature, key } : { signature, key: null, reason: 'key_missing' as const };
  });
}

/** The (key, signature) pairs `checkThreshold` hands to its verifier, so they can be verified ahead. */
export function signaturesToVerify(
  signatures: SignatureJson[],
  keys: Record<string, TufKey>,
  role: RoleSpec,
): { key: TufKey; signature: SignatureJson }[] {
  return candidates(signatures, keys, role).flatMap((c) => (c.key ? [{ key: c.key, signature: c.signature }] : []));
}

export function checkThreshold(
  signatures: SignatureJson[],
  signedBytes: Uint8Array,
  keys: Record<string, TufKey>,
  role: RoleSpec,
  verifier: SignatureVerifier = classicKeyVerifier,
): ThresholdResult {
  const valid = new Set<string>();
  const verdicts: SignatureVerdict[] = [];
  for (const c of candidates(signatures, keys, role)) {
    const { keyid } = c.signature;
    if (!c.key) verdicts.push({ keyid, valid: false, reason: c.reason });
    else if (verifier.verify(c.key, c.signature, signedBytes) === true) {
      valid.add(keyid);
      verdicts.push({ keyid, valid: true });
    } else {
      verdicts.push({ keyid, valid: false, reason: 'bad_signature' });
    }
  }
  const threshold = role.threshold;
  // A threshold below 1 would let unsigned metadata through.
  const met = Number.isInteger(threshold) && threshold >= 1 && valid.size >= threshold;
  return { verdicts, validKeyids: [...valid], threshold, roleKeys: new Set(role.keyids).size, met };
}

export function requireThreshold(
  what: string,
  signatures: SignatureJson[],
  signedBytes: Uint8Array,
  keys: Record<string, TufKey>,
  role: RoleSpec,
  verifier?: SignatureVerifier,
): ThresholdResult {
  const result = checkThreshold(signatures, signedBytes, keys, role, verifier);
  if (!result.met) {
    throw new TufError('threshold_not_met', `${what}: ${result.validKeyids.length} valid signature(s) of ${result.threshold} required`, {
      verdicts: result.verdicts,
    });
  }
  return result;
}

/**
 * Remembers verdicts for one request, so that a check repeated under a lock (against possibly
 * newer state) does not pay for the same Sigstore verification twice. Keyed by everything the
 * verdict depends on: the key, the whole signature, and the signed bytes.
 */
export interface MemoizedVerifier extends SignatureVerifier {
  /** Records a verdict reached elsewhere by the same verification code (a worker thread). */
  remember(key: TufKey, signature: SignatureJson, signedBytes: Uint8Array, verdict: boolean): void;
  knows(key: TufKey, signature: SignatureJson, signedBytes: Uint8Array): boolean;
}

export function memoizedVerifier(inner: SignatureVerifier): MemoizedVerifier {
  const verdicts = new Map<string, boolean>();
  // A request asks about the same key, signature and bytes objects several times (before and under
  // the locks): each triple's id is computed once (canonical JSON of a Sigstore bundle is not free).
  // Sound because nothing writes to a parsed key, signature or byte buffer once it is read.
  const ids = new WeakMap<SignatureJson, WeakMap<TufKey, WeakMap<Uint8Array, string>>>();
  const idOf = (key: TufKey, signature: SignatureJson, signedBytes: Uint8Array) => {
    let byKey = ids.get(signature);
    if (!byKey) ids.set(signature, (byKey = new WeakMap()));
    let byBytes = byKey.get(key);
    if (!byBytes) byKey.set(key, (byBytes = new WeakMap()));
    let id = byBytes.get(signedBytes);
    if (id === undefined) {
      id = sha256Hex(canonicalBytes({ key, signature: signature as unknown as JsonValue, bytes: sha256Hex(signedBytes) }));
      byBytes.set(signedBytes, id);
    }
    return id;
  };
  return {
    verify(key, signature, signedBytes) {
      const id = idOf(key, signature, signedBytes);
      const known = verdicts.get(id);
      if (known !== undefined) return known;
      const verdict = inner.verify(key, signature, signedBytes) === true;
      verdicts.set(id, verdict);
      return verdict;
    },
    remember(key, signature, signedBytes, verdict) {
      verdicts.set(idOf(key, signature, signedBytes), verdict === true);
    },
    knows(key, signature, signedBytes) {
      return verdicts.has(idOf(key, signature, signedBytes));
    },
  };
}
