// Fixtures for the delegation tests (TAP 18), shared by test/core/delegations*.test.ts. No Sigstore:
// a fake verifier accepts a signature iff its `sig` is a fixed function of (keyid, SHA-256 of the
// signed bytes), so tests sign "as" any identity.
import assert from 'node:assert/strict';
import type { Targets } from '@tufjs/models';
import { canonicalBytes, sha256Hex, type JsonObject } from '../../core/canonical.ts';
import { findDelegation, verifyProjectUpload, withDelegation, type Delegation, type Maintainer } from '../../core/delegations.ts';
import { isTufError, type TufErrorCode } from '../../core/errors.ts';
import { identityKeyid, type IdentitySignatureVerifier, type IdentityVerdict } from '../../core/identity.ts';
import { keyidOf, type TufKey } from '../../core/keys.ts';
import {
  buildTargetsSigned,
  describeTarget,
  expiresAfter,
  parseMetadata,
  type ParsedMetadata,
  type SignatureJson,
  type TargetEntry,
} from '../../core/metadata.ts';
import type { SignatureVerifier } from '../../core/verify.ts';

export const NOW = new Date('2026-11-24T12:00:00Z');
export const DAY = 86_400;
export const MAX_EXPIRY = 90 * DAY;
export const ISSUER = 'https://issuer.example';
export const alice: Maintainer = { identity: 'alice@example.com', issuer: ISSUER };
export const bob: Maintainer = { identity: 'bob@example.com', issuer: ISSUER };
export const carol: Maintainer = { identity: 'carol@example.com', issuer: 'https://token.actions.githubusercontent.com' };
export const idOf = (m: Maintainer) => identityKeyid(m.identity, m.issuer);
export const refusedWith = (code: TufErrorCode) => (e: unknown) => isTufError(e, code);

// ---------------------------------------------------------------------------------------------
// A fake signature scheme, and the verifiers that check it.

export const fakeSig = (keyid: string, bytes: Uint8Array) => sha256Hex(Buffer.from(`fake:${keyid}:${sha256Hex(bytes)}`));
export const signAs = (m: Maintainer, bytes: Uint8Array): SignatureJson => ({
  keyid: idOf(m),
  sig: fakeSig(idOf(m), bytes),
  bundle: { fake: true },
});

/** Records what it was asked, so tests can tell whether cryptography ran at all. */
export function fakeVerifier(): SignatureVerifier & { calls: number } {
  const v = {
    calls: 0,
    verify(key: TufKey, signature: SignatureJson, bytes: Uint8Array) {
      v.calls++;
      return signature.sig === fakeSig(keyidOf(key), bytes);
    },
  };
  return v;
}

/** verifyRegistration only calls `explain`; this implements it with the fake scheme. */
export function fakeIdentityVerifier(): IdentitySignatureVerifier & { calls: number } {
  const v = {
    calls: 0,
    verify(key: TufKey, signature: SignatureJson, bytes: Uint8Array) {
      return v.explain(key, signature, bytes).valid;
    },
    explain(key: TufKey, signature: SignatureJson, bytes: Uint8Array): IdentityVerdict {
      v.calls++;
      return signature.sig === fakeSig(keyidOf(key), bytes)
        ? { valid: true, identity: key.keyval.identity, issuer: key.keyval.issuer }
        : { valid: false, reason: 'fake signature does not match' };
    },
  };
  return v as unknown as IdentitySignatureVerifier & { calls: number };
}

// ---------------------------------------------------------------------------------------------
// Fixtures: top-level targets with delegations, and project role candidates.

export const topSigned = (version = 1): JsonObject =>
  buildTargetsSigned({
    version,
    expires: expiresAfter(NOW, 365 * DAY),
    targets: { 'sigstore/trusted_root.json': describeTarget(Buffer.from('{}')) },
  });

/** tuf-js's model of a top-level targets `signed`, as the server holds it. */
export const model = (signed: JsonObject): Targets => parseMetadata({ signed, signatures: [] }, 'targets').model;

export function delegationFor(maintainers: Maintainer[], threshold: number, project = 'demo'): Delegation {
  const d = findDelegation(model(withDelegation(topSigned(), project, maintainers, threshold)), project);
  assert.ok(d);
  return d;
}

export const pkg = (name = 'demo/demo-1.0.tgz'): Record<string, TargetEntry> => ({ [name]: describeTarget(Buffer.from(name)) });

export function projectSigned(
  opts: { version?: number; expires?: string; targets?: Record<string, TargetEntry>; delegations?: JsonObject } = {},
): JsonObject {
  return buildTargetsSigned({
    version: opts.version ?? 1,
    expires: opts.expires ?? expiresAfter(NOW, 30 * DAY),
    targets: opts.targets ?? pkg(),
    ...(opts.delegations ? { delegations: opts.delegations } : {}),
  });
}

/** A parsed candidate signed (in the fake scheme) by each of `signers`, plus any `extra` signatures. */
export function candidate(signed: JsonObject, signers: Maintainer[], extra: SignatureJson[] = []): ParsedMetadata<'targets'> {
  const bytes = canonicalBytes(signed);
  return parseMetadata({ signed, signatures: [...signers.map((m) => signAs(m, bytes)), ...extra] }, 'targets');
}

export function upload(
  c: ParsedMetadata<'targets'>,
  delegation: Delegation,
  opts: { currentVersion?: number | null; now?: Date; verifier?: SignatureVerifier } = {},
) {
  return verifyProjectUpload({
    candidate: c,
    delegation,
    currentVersion: opts.currentVersion ?? null,
    now: opts.now ?? NOW,
    verifier: opts.verifier ?? fakeVerifier(),
    maxExpirySeconds: MAX_EXPIRY,
  });
}
