// TAP 18 identity keys: a delegation names an OIDC identity and issuer instead of a public key, and
// each signature carries a Sigstore bundle (Fulcio certificate, Rekor entry). Byte-compatible with
// securesystemslib's SigstoreKey as used by tuf-on-ci (DESIGN.md section 3).
import { bundleFromJSON, isBundleWithDsseEnvelope, type Bundle } from '@sigstore/bundle';
import { TrustedRoot } from '@sigstore/protobuf-specs';
import { toSignedEntity, toTrustMaterial, Verifier } from '@sigstore/verify';
import { isPlainObject } from './canonical.ts';
import { TufError } from './errors.ts';
import { keyidOf, type TufKey } from './keys.ts';
import type { SignatureJson } from './metadata.ts';
import type { AttestationVerifier } from './provenance.ts';
import { classicKeyVerifier, type SignatureVerifier } from './verify.ts';
// Installs a linear-time DER encoder and a key cache into @sigstore/core (most of each verification's cost).
import './sigstoreSpeedups.ts';

export const IDENTITY_KEYTYPE = 'sigstore-oidc';
/** The top-level target through which clients learn which Sigstore the repository trusts. */
export const SIGSTORE_TRUSTED_ROOT_TARGET = 'sigstore/trusted_root.json';
export const IDENTITY_SCHEME = 'Fulcio';

export interface IdentityKey extends TufKey {
  keytype: typeof IDENTITY_KEYTYPE;
  scheme: typeof IDENTITY_SCHEME;
  keyval: { identity: string; issuer: string };
}

const ISSUER_URL = /^https?:\/\/[^\s]+$/;

/** Builds an identity key; identity and issuer are taken literally (no patterns). */
export function identityKey(identity: string, issuer: string): IdentityKey {
  // eslint-disable-next-line no-control-regex -- control characters are exactly what is refused
  if (identity.length === 0 || identity.length > 512 || /[\s\u0000-\u001f]/.test(identity)) {
    throw new TufError('malformed', `identity ${JSON.stringify(identity)} must be a non-empty string without spaces or control characters`);
  }
  if (!ISSUER_URL.test(issuer) || issuer.length > 512)
    throw new TufError('malformed', `issuer ${JSON.stringify(issuer)} must be an http(s) URL`);
  return { keytype: IDENTITY_KEYTYPE, scheme: IDENTITY_SCHEME, keyval: { identity, issuer } };
}

export function identityKeyid(identity: string, issuer: string): string {
  return keyidOf(identityKey(identity, issuer));
}

export function isIdentityKey(key: TufKey): key is IdentityKey {
  return key.keytype === IDENTITY_KEYTYPE;
}

/** securesystemslib wrote `sig` hex-encoded before v1.1 and base64 since; accept either. */
export function decodeSig(sig: string): Buffer[] {
  const out: Buffer[] = [];
  if (/^([0-9a-fA-F]{2})+$/.test(sig)) out.push(Buffer.from(sig, 'hex'));
  if (/^[A-Za-z0-9+/]+={0,2}$/.test(sig) && sig.length % 4 === 0) out.push(Buffer.from(sig, 'base64'));
  return out;
}

export interface IdentityVerdict {
  valid: boolean;
  /** What the certificate says, when the bundle could be read. */
  identity?: string;
  issuer?: string;
  reason?: string;
}

/**
 * Verifies identity signatures against one Sigstore trusted root, offline, synchronously (tuf-js
 * calls key verification synchronously). Ordinary keys are passed to the classic verifier.
 */
export class IdentitySignatureVerifier implements SignatureVerifier, AttestationVerifier {
  private readonly verifier: Verifier;

  constructor(trustedRootJson: unknown) {
    let material;
    try {
      material = toTrustMaterial(TrustedRoot.fromJSON(trustedRootJson));
    } catch (err) {
      throw new TufError('malformed', `Sigstore trusted root is unusable: ${(err as Error).message}`);
    }
    this.verifier = new Verifier(material, { tlogThreshold: 1, ctlogThreshold: 1, timestampThreshold: 1 });
  }

  verify(key: TufKey, signature: SignatureJson, signedBytes: Uint8Array): boolean {
    if (!isIdentityKey(key)) return classicKeyVerifier.verify(key, signature, signedBytes);
    return this.explain(key, signature, signedBytes).valid;
  }

  /**
   * A build-provenance attestation (core/provenance.ts): a bundle with a DSSE envelope, verified
   * like a signature (chain, SCT, the signature over the envelope, the log entry); who signed it
   * is returned for the caller to compare exactly. Throws with the reason.
   */
  verifyAttestationBundle(json: unknown): { identity?: string; issuer?: string; payloadType: string; payload: Buffer } {
    let bundle: Bundle;
    try {
      bundle = bundleFromJSON(json);
    } catch (err) {
      throw new TufError('malformed', `bundle is malformed: ${(err as Error).message}`);
    }
    if (!isBundleWithDsseEnvelope(bundle)) throw new TufError('malformed', 'bundle holds no DSSE envelope (an attestation is expected)');
    const signer = this.verifier.verify(toSignedEntity(bundle));
    const { payloadType, payload } = bundle.content.dsseEnvelope;
    return {
      ...(signer.identity?.subjectAlternativeName !== undefined ? { identity: signer.identity.subjectAlternativeName } : {}),
      ...(signer.identity?.extensions?.issuer !== undefined ? { issuer: signer.identity.extensions.issuer } : {}),
      payloadType,
      payload: Buffer.from(payload),
    };
  }

  /** The verdict with the certificate's identity and the reason for a refusal. */
  explain(key: TufKey, signature: SignatureJson, signedBytes: Uint8Array): IdentityVerdict {
    if (key.scheme !== IDENTITY_SCHEME) return { valid: false, reason: `unsupported scheme ${key.scheme}` };
    const { identity, issuer } = key.keyval;
    if (typeof identity !== 'string' || typeof issuer !== 'string' || !identity || !issuer) {
      return { valid: false, reason: 'key lacks identity or issuer' };
    }
    if (!isPlainObject(signature.bundle)) return { valid: false, reason: 'signature has no Sigstore bundle' };
    let bundle: Bundle;
    try {
      bundle = bundleFromJSON(signature.bundle);
    } catch (err) {
      return { valid: false, reason: `bundle is malformed: ${(err as Error).message}` };
    }
    // TAP 18 signs the canonical bytes as a plain message; a DSSE bundle covers other bytes.
    if (isBundleWithDsseEnvelope(bundle) || bundle.content.$case !== 'messageSignature') {
      return { valid: false, reason: 'bundle is not a message signature' };
    }
    const bundleSig = bundle.content.messageSignature.signature;
    if (!decodeSig(signature.sig).some((s) => s.equals(bundleSig))) {
      return { valid: false, reason: '"sig" differs from the signature in the bundle' };
    }
    let signer;
    try {
      // Chain to the Fulcio CA, SCT, signature over these bytes, transparency-log entry, and the
      // certificate's validity at the log's integrated time.
      signer = this.verifier.verify(toSignedEntity(bundle, Buffer.from(signedBytes)));
    } catch (err) {
      return { valid: false, reason: `Sigstore verification failed: ${(err as Error).message}` };
    }
    const san = signer.identity?.subjectAlternativeName;
    const certIssuer = signer.identity?.extensions?.issuer;
    const seen = { ...(san !== undefined ? { identity: san } : {}), ...(certIssuer !== undefined ? { issuer: certIssuer } : {}) };
    // Exact comparison: @sigstore/verify's own policy would treat the identity as an unanchored regex.
    if (san !== identity)
      return { valid: false, ...seen, reason: `certificate identity ${JSON.stringify(san)} is not ${JSON.stringify(identity)}` };
    if (certIssuer !== issuer)
      return { valid: false, ...seen, reason: `certificate issuer ${JSON.stringify(certIssuer)} is not ${JSON.stringify(issuer)}` };
    return { valid: true, ...seen };
  }
}
