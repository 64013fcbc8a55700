// What a file needs beyond its role's signatures before the client hands it over: the build
// provenance its delegations require (core/provenance.ts), and the user's pins
// (core/clientPolicy.ts). Both only narrow: they run after the trusted set has found the file in a
// role that met its delegation. The attestation is a target of the same role, so it is fetched
// through TUF (length and hashes) before its Sigstore signature is checked.
import { describePin, pinsFor, type Pin } from '../core/clientPolicy.ts';
import { identityKey, type IdentitySignatureVerifier } from '../core/identity.ts';
import {
  attestationPathFor,
  describeBuilder,
  sameBuilder,
  verifyAttestation,
  type BuilderIdentity,
  type ProvenanceVerdict,
} from '../core/provenance.ts';
import { isTufError } from '../core/errors.ts';
import type { TargetFound, TargetInfo, TrustedTargets } from '../core/trustedSet.ts';
import { ClientError } from './errors.ts';

export interface ReleaseCheck {
  found: TargetFound;
  /** The role that lists the file, as trusted. */
  role: TrustedTargets;
  pins: readonly Pin[];
  /** Null until the Sigstore trusted root is known: then nothing that needs it passes. */
  identities: IdentitySignatureVerifier | null;
  /** The bytes of another target of the same role, verified against its entry. */
  fetch(target: TargetInfo): Promise<Buffer>;
}

export interface ReleaseVerdict {
  /** The attestation's verdict, when a delegation or a pin asked for build provenance. */
  provenance: ProvenanceVerdict | null;
  /** Pins that applied, each met. */
  pins: Pin[];
}

function sha256Of(target: TargetInfo): string {
  const hex = target.hashes.find(([alg]) => alg === 'sha256')?.[1];
  if (!hex) throw new ClientError('provenance_invalid', `${target.path} lists no sha256: an attestation names its subject by sha256`);
  return hex;
}

/** Who made each signature that verifies as some Sigstore identity (a key no certificate matches, to read the certificate). */
function signersOf(verifier: IdentitySignatureVerifier, role: TrustedTargets): BuilderIdentity[] {
  const probe = identityKey('-', 'https://-');
  const seen: BuilderIdentity[] = [];
  for (const s of role.signatures) {
    const v = verifier.explain(probe, s, role.signedBytes);
    if (v.identity !== undefined && v.issuer !== undefined && !seen.some((x) => sameBuilder(x, v as BuilderIdentity)))
      seen.push({ identity: v.identity, issuer: v.issuer });
  }
  return seen;
}

/** A pin's signature threshold: distinct pinned identities with a valid signature over the role. */
function checkPinSignatures(pin: Pin, check: ReleaseCheck): void {
  if (pin.identities.length === 0) return;
  const { role, identities } = check;
  const where = `${check.found.target.path} (listed by ${role.name} v${role.version})`;
  if (!identities)
    throw new ClientError(
      'pin_not_met',
      `${where}: ${describePin(pin)} names identities, and no Sigstore trusted root is known to check them`,
    );
  const valid = pin.identities.filter((p) => {
    const key = identityKey(p.identity, p.issuer);
    return role.signatures.some((s) => identities.verify(key, s, role.signedBytes));
  });
  if (valid.length >= pin.threshold) return;
  const signed = signersOf(identities, role);
  throw new ClientError(
    'pin_not_met',
    `${where} is refused by ${describePin(pin)}: ${valid.length} of the pinned identities signed, ${pin.threshold} required; ` +
      `${role.name} v${role.version} is signed by ${signed.map(describeBuilder).join(', ') || 'no Sigstore identity'}`,
  );
}

/** Every builder asked for, with who asks; several that differ cannot all be met by one attestation. */
function requiredBuilders(found: TargetFound, pins: readonly Pin[]): { builder: BuilderIdentity; by: string }[] {
  return [
    ...found.provenance.map((builder) => ({ builder, by: `the delegation of ${found.role}` })),
    ...pins.flatMap((p) => (p.provenance ? [{ builder: p.provenance, by: describePin(p) }] : [])),
  ];
}

/** The provenance and pin checks for `check.found`; throws ClientError with what was asked and what was found. */
export async function checkRelease(check: ReleaseCheck): Promise<ReleaseVerdict> {
  const { found, role } = check;
  const pins = pinsFor(check.pins, found.target.path);
  for (const pin of pins) checkPinSignatures(pin, check);
  const required = requiredBuilders(found, pins);
  if (required.length === 0) return { provenance: null, pins };
  const who = required.map((r) => `${describeBuilder(r.builder)} (asked by ${r.by})`).join(', ');
  const attestationPath = attestationPathFor(found.target.path);
  const attestation = role.targets.get(attestationPath);
  if (!attestation) {
    throw new ClientError(
      'provenance_missing',
      `${found.target.path} needs a build-provenance attestation by ${who}; ${role.name} v${role.version} lists none (${attestationPath})`,
    );
  }
  if (!check.identities)
    throw new ClientError('provenance_invalid', `${found.target.path}: no Sigstore trusted root is known to verify its attestation`);
  const bytes = await check.fetch(attestation);
  try {
    const provenance = verifyAttestation(bytes, {
      sha256: sha256Of(found.target),
      required: required.map((r) => r.builder),
      verifier: check.identities,
      what: `attestation ${attestationPath} of ${found.target.path} (required: ${who})`,
    });
    return { provenance, pins };
  } catch (err) {
    if (isTufError(err, 'provenance_invalid')) throw new ClientError('provenance_invalid', err.message, { cause: err });
    throw err;
  }
}
