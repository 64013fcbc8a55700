// How the client checks each signature: ordinary keys by the classic verifier, sigstore-oidc keys
// (TAP 18) only by the Sigstore verifier, and never while there is none (fail closed); with a
// self-check that tests assert, so the extension cannot silently stop taking effect.
import { IDENTITY_KEYTYPE } from '../core/identity.ts';
import type { TufKey } from '../core/keys.ts';
import type { SignatureJson } from '../core/metadata.ts';
import { classicKeyVerifier, type SignatureVerifier } from '../core/verify.ts';

/**
 * What every signature is checked with: ordinary keys by the classic verifier, sigstore-oidc keys
 * only by the Sigstore verifier, and never when there is none yet (fail closed).
 */
export function clientSignatureVerifier(identity: () => SignatureVerifier | null): SignatureVerifier {
  return {
    verify(key: TufKey, signature: SignatureJson, signedBytes: Uint8Array): boolean {
      if (key.keytype === IDENTITY_KEYTYPE) {
        const verifier = identity();
        return verifier !== null && verifier.verify(key, signature, signedBytes) === true;
      }
      return classicKeyVerifier.verify(key, signature, signedBytes);
    },
  };
}

/**
 * Kept for callers of the earlier client, which patched tuf-js's Key.verifySignature. This client
 * verifies identity signatures itself: there is nothing to install.
 */
export function installIdentityVerification(): void {}

/**
 * Whether identity signatures are verified, and only verified, through the Sigstore verifier: a
 * self-check of the dispatch every signature goes through (tests assert it, so the extension
 * cannot silently stop taking effect).
 */
export function identityVerificationInstalled(): boolean {
  const key: TufKey = {
    keytype: IDENTITY_KEYTYPE,
    scheme: 'Fulcio',
    keyval: { identity: 'self-check@example.com', issuer: 'https://issuer.example' },
  };
  const signature: SignatureJson = { keyid: 'self-check', sig: '00' };
  const bytes = Buffer.from('self-check');
  const seen: Uint8Array[] = [];
  const yes: SignatureVerifier = { verify: (_k, _s, b) => (seen.push(b), true) };
  const no: SignatureVerifier = { verify: () => false };
  return (
    clientSignatureVerifier(() => yes).verify(key, signature, bytes) === true &&
    seen.length === 1 &&
    seen[0] === bytes &&
    clientSignatureVerifier(() => no).verify(key, signature, bytes) === false &&
    clientSignatureVerifier(() => null).verify(key, signature, bytes) === false &&
    // An ordinary verifier must not accept an identity key.
    classicKeyVerifier.verify(key, signature, bytes) === false
  );
}
