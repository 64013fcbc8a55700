// Saying what changed when a project role no longer meets its delegation. After an admin revokes a
// maintainer (or replaces one, or raises the threshold), the published role keeps its old
// signatures until a current maintainer re-signs it; until then the client refuses it, as it must.
// The trusted set's "demo was signed by 0/1 keys" is right but says nothing of why: this names who
// may sign now and that the project awaits re-signing.
//
// Only when nothing points at forgery: every signature under a key the delegation names verifies,
// and at least one signature is genuine (by a delegated key, or a Sigstore signature by the very
// identity its keyid names, which the delegation no longer names). A signature under a delegated
// keyid that does not verify, or nothing genuine at all, keeps the trusted set's own refusal.
import { IDENTITY_KEYTYPE, IDENTITY_SCHEME, identityKeyid, isIdentityKey, type IdentitySignatureVerifier } from '../core/identity.ts';
import type { SignatureJson } from '../core/metadata.ts';
import { parseEnvelope } from '../core/trustedParse.ts';
import { isTrustError, type TrustedSet } from '../core/trustedSet.ts';
import type { SignatureVerifier } from '../core/verify.ts';
import { DelegationNotMetError, type CurrentDelegation } from './errors.ts';

/** Who made `signature`, when it is a genuine Sigstore signature under that identity's own keyid. */
function genuineSigner(
  identities: IdentitySignatureVerifier,
  signature: SignatureJson,
  signedBytes: Uint8Array,
): { identity: string; issuer: string } | null {
  // A key no certificate matches: the verdict still names what the verified certificate says.
  const probe = { keytype: IDENTITY_KEYTYPE, scheme: IDENTITY_SCHEME, keyval: { identity: '-', issuer: 'https://-' } };
  const seen = identities.explain(probe, signature, signedBytes);
  if (seen.identity === undefined || seen.issuer === undefined) return null;
  const own = (() => {
    try {
      return identityKeyid(seen.identity, seen.issuer);
    } catch {
      return null;
    }
  })();
  if (own !== signature.keyid) return null;
  const key = { keytype: IDENTITY_KEYTYPE, scheme: IDENTITY_SCHEME, keyval: { identity: seen.identity, issuer: seen.issuer } };
  return identities.verify(key, signature, signedBytes) ? { identity: seen.identity, issuer: seen.issuer } : null;
}

/** The error to raise instead of `err` (a failed `updateDelegatedTargets` of `bytes`), or null to keep `err`. */
export function unmetDelegationError(
  set: TrustedSet,
  bytes: Uint8Array,
  role: string,
  delegator: string,
  verifier: SignatureVerifier,
  identities: IdentitySignatureVerifier | null,
  err: unknown,
): DelegationNotMetError | null {
  if (!isTrustError(err, 'threshold_not_met') || delegator === 'root' || !identities) return null;
  const delegations = set.getRole(delegator)?.delegations;
  const spec = delegations?.roleFor(role);
  if (!delegations || !spec) return null;
  const keys = spec.keyids.flatMap((keyid) => {
    const key = delegations.keys.get(keyid);
    return key ? [{ keyid, key }] : [];
  });
  // A project role: delegated to identities (TAP 18).
  if (!keys.some(({ key }) => isIdentityKey(key))) return null;
  let env;
  try {
    env = parseEnvelope(bytes, 'targets', role);
  } catch {
    return null;
  }
  const delegated = new Map(keys.map(({ keyid, key }) => [keyid, key]));
  let valid = 0;
  const undelegated: { identity: string; issuer: string }[] = [];
  for (const signature of env.signatures) {
    const key = delegated.get(signature.keyid);
    if (key) {
      if (verifier.verify(key, signature, env.signedBytes) !== true) return null; // a bad signature under a delegated key
      valid += 1;
    } else {
      const signer = genuineSigner(identities, signature, env.signedBytes);
      if (signer) undelegated.push(signer);
    }
  }
  if (valid === 0 && undelegated.length === 0) return null;

  const delegation: CurrentDelegation = {
    role,
    delegator,
    threshold: spec.threshold,
    identities: keys.flatMap(({ key }) => (isIdentityKey(key) ? [{ identity: key.keyval.identity, issuer: key.keyval.issuer }] : [])),
    otherKeyids: keys.filter(({ key }) => !isIdentityKey(key)).map(({ keyid }) => keyid),
  };
  const named = (i: { identity: string; issuer: string }) => `${i.identity} (issuer ${i.issuer})`;
  const who = [...delegation.identities.map(named), ...delegation.otherKeyids.map((k) => `key ${k.slice(0, 16)}`)].join(', ');
  const others = undelegated.length > 0 ? `, and by ${undelegated.map(named).join(', ')}, whom it does not name (any more)` : '';
  // With no signature by a current key, the client cannot tell a revoked maintainer from an
  // identity that was never delegated: the message says both.
  const cause = valid > 0 ? '' : ', or this version was never signed by one of its maintainers';
  const message =
    `${role} v${env.version} does not meet its delegation in ${delegator} as it is now: ${role} was signed by ` +
    `${valid}/${spec.threshold} keys the delegation names now${others}. The delegation now names ${who}, threshold ` +
    `${spec.threshold}: it changed after this version was signed (a maintainer revoked or replaced, or the threshold ` +
    `raised)${cause}. The project awaits re-signing by a current maintainer (\`tuf-maintainer resign --project ${role}\`); ` +
    `until then its files are refused.`;
  return new DelegationNotMetError(delegation, message, { cause: err });
}

/** Whether `delegator` delegates `role` to identity keys (TAP 18). */
export function delegatedToIdentities(set: TrustedSet, role: string, delegator: string): boolean {
  const delegations = set.getRole(delegator)?.delegations;
  const spec = delegations?.roleFor(role);
  return (
    !!spec &&
    spec.keyids.some((keyid) => {
      const key = delegations!.keys.get(keyid);
      return key !== undefined && isIdentityKey(key);
    })
  );
}
