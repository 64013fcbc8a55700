// Project roles delegated to identities (TAP 18): building delegations, and verifying what
// maintainers upload and register. Pure: trusted metadata and time are arguments.
import type { Targets } from '@tufjs/models';
import { canonicalBytes, isPlainObject, sha256Hex, type JsonObject } from './canonical.ts';
import { DAY_SECONDS } from './ceremony.ts';
import { TufError } from './errors.ts';
import { identityKey, identityKeyid, type IdentitySignatureVerifier } from './identity.ts';
import { keyidOf } from './keys.ts';
import { expiresAfter, isTufDateTime, type Envelope, type ParsedMetadata } from './metadata.ts';
import { assertDelegatedRoleName } from './names.ts';
import { checkTargetEntries } from './updates.ts';
import { checkThreshold, type SignatureVerdict, type SignatureVerifier } from './verify.ts';
import { delegationIn, verifyDelegate, type Delegation } from './delegate.ts';
import {
  checkProvenanceListing,
  describeBuilder,
  isAttestationPath,
  parseBuilderIdentity,
  PROVENANCE_FIELD,
  sameBuilder,
  type BuilderIdentity,
} from './provenance.ts';

export const DEFAULT_PROJECT_EXPIRY_SECONDS = 90 * DAY_SECONDS;

export interface Maintainer {
  identity: string;
  issuer: string;
}

export type { Delegation } from './delegate.ts';

/** The delegation for `project` listed by top-level targets, or null. */
export function findDelegation(targets: Targets, project: string): Delegation | null {
  return delegationIn('targets', targets, project);
}

/** Each maintainer's identity key, keyid and the delegation's identities, for display. */
export function delegationMaintainers(d: Delegation): (Maintainer & { keyid: string })[] {
  return d.role.keyids.flatMap((keyid) => {
    const key = d.keys[keyid];
    if (!key || key.keytype !== 'sigstore-oidc') return [];
    return [{ keyid, identity: String(key.keyval.identity), issuer: String(key.keyval.issuer) }];
  });
}

/**
 * Targets N+1 delegating `<project>/*` to the maintainers' identities (replacing an existing
 * delegation of the same name), with a new version and expiry set by the caller. `provenance`:
 * the builder every file needs an attestation from; null removes the requirement, undefined keeps
 * the one the existing delegation has (changing the maintainers never drops it silently).
 */
export function withDelegation(
  targetsSigned: JsonObject,
  project: string,
  maintainers: Maintainer[],
  threshold: number,
  paths: string[] = [`${project}/*`],
  provenance?: BuilderIdentity | null,
): JsonObject {
  assertDelegatedRoleName(project);
  if (maintainers.length === 0) throw new TufError('malformed', 'a delegation needs at least one identity');
  const keys = maintainers.map((m) => identityKey(m.identity, m.issuer));
  const keyids = [...new Set(keys.map(keyidOf))];
  if (!Number.isInteger(threshold) || threshold < 1 || threshold > keyids.length) {
    throw new TufError('malformed', `threshold ${threshold} needs between 1 and ${keyids.length} distinct identities`);
  }
  const next = structuredClone(targetsSigned);
  const delegations = (isPlainObject(next.delegations) ? next.delegations : { keys: {}, roles: [] }) as {
    keys: JsonObject;
    roles: JsonObject[];
  };
  const existing = delegations.roles.find((r) => r.name === project);
  const builder =
    provenance === undefined
      ? existing && Object.prototype.hasOwnProperty.call(existing, PROVENANCE_FIELD)
        ? parseBuilderIdentity(existing[PROVENANCE_FIELD], `delegation of ${project}: ${PROVENANCE_FIELD}`)
        : null
      : provenance && parseBuilderIdentity(provenance, `provenance of ${project}`);
  delegations.roles = delegations.roles.filter((r) => r.name !== project);
  const role: JsonObject = { name: project, keyids, threshold, paths, terminating: true };
  if (builder) role[PROVENANCE_FIELD] = { identity: builder.identity, issuer: builder.issuer };
  delegations.roles.push(role);
  for (const key of keys) delegations.keys[keyidOf(key)] = key as unknown as JsonObject;
  pruneUnusedKeys(delegations);
  next.delegations = delegations as unknown as JsonObject;
  return next;
}

export function withoutDelegation(targetsSigned: JsonObject, project: string): JsonObject {
  const next = structuredClone(targetsSigned);
  const delegations = next.delegations as { keys: JsonObject; roles: JsonObject[] } | undefined;
  if (!delegations || !delegations.roles.some((r) => r.name === project)) {
    throw new TufError('not_delegated', `targets does not delegate ${project}`);
  }
  delegations.roles = delegations.roles.filter((r) => r.name !== project);
  pruneUnusedKeys(delegations);
  return next;
}

function pruneUnusedKeys(delegations: { keys: JsonObject; roles: JsonObject[] }): void {
  const used = new Set(delegations.roles.flatMap((r) => (Array.isArray(r.keyids) ? r.keyids.map(String) : [])));
  for (const keyid of Object.keys(delegations.keys)) if (!used.has(keyid)) delete delegations.keys[keyid];
}

export interface UploadDecision {
  publish: boolean;
  validKeyids: string[];
  threshold: number;
  verdicts: SignatureVerdict[];
}

/**
 * A project role version from maintainers. Refuses in a fixed order; a version signed by some but
 * not enough of the delegated identities is returned with publish = false (held as pending).
 */
export function verifyProjectUpload(opts: {
  candidate: ParsedMetadata<'targets'>;
  delegation: Delegation;
  currentVersion: number | null;
  now: Date;
  verifier: SignatureVerifier;
  maxExpirySeconds: number;
}): UploadDecision {
  const { candidate, delegation } = opts;
  // Structure before cryptography: a document with malformed entries is refused as such.
  checkTargetEntries(candidate);
  if (candidate.envelope.signed.delegations !== undefined) {
    throw new TufError('nested_delegation', `${delegation.name} may not delegate further`);
  }
  // TUF 5.6.3-5.6.5 against the delegator: signatures (distinct keyids, some may be missing:
  // pending), exactly the next version, not expired.
  const result = verifyDelegate({
    name: delegation.name,
    candidate,
    authorities: [{ label: `an identity delegated for ${delegation.name}`, keys: delegation.keys, role: delegation.role }],
    currentVersion: opts.currentVersion,
    now: opts.now,
    verifier: opts.verifier,
    belowThreshold: 'pending',
  });
  // Repository policy: not further out than the repository allows
  if (candidate.expires.getTime() > opts.now.getTime() + opts.maxExpirySeconds * 1000) {
    throw new TufError('expiry_too_far', `${delegation.name}: expiry must be before ${expiresAfter(opts.now, opts.maxExpirySeconds)}`);
  }
  // TUF 5.7.5 (delegated paths): every target inside the delegation
  for (const path of Object.keys(candidate.model.targets)) {
    if (!delegation.isDelegatedPath(path)) {
      throw new TufError('path_not_delegated', `target ${path} is outside ${delegation.name}'s paths (${delegation.paths.join(', ')})`);
    }
  }
  // Author-and-builder policy: attestations listed beside the files (their bytes: the caller).
  checkProvenanceListing(delegation.name, Object.keys(candidate.model.targets), delegation.provenance);
  return { publish: result.met, validKeyids: result.validKeyids, threshold: result.threshold, verdicts: result.verdicts };
}

/** Combines the valid signatures of two envelopes over the same signed bytes. */
export function unionSignatures(a: Envelope, b: Envelope): Envelope {
  if (!canonicalBytes(a.signed).equals(canonicalBytes(b.signed))) throw new TufError('signed_mismatch', 'different signed content');
  const byKeyid = new Map(a.signatures.map((s) => [s.keyid, s]));
  for (const s of b.signatures) if (!byKeyid.has(s.keyid)) byKeyid.set(s.keyid, s);
  return { signed: a.signed, signatures: [...byKeyid.values()] };
}

/** Keeps only the signatures that verify (so stored pending metadata carries no junk). */
export function validSignaturesOnly(envelope: Envelope, validKeyids: string[]): Envelope {
  const valid = new Set(validKeyids);
  return { signed: envelope.signed, signatures: envelope.signatures.filter((s) => valid.has(s.keyid)) };
}

export interface RegistrationRequest {
  project: string;
  identity: string;
  issuer: string;
  requestedAt: Date;
  requestSha256: string;
}

export function registrationSigned(project: string, maintainer: Maintainer, now: Date): JsonObject {
  assertDelegatedRoleName(project);
  identityKey(maintainer.identity, maintainer.issuer); // validates both
  return { _type: 'registration', project, identity: maintainer.identity, issuer: maintainer.issuer, requested_at: expiresAfter(now, 0) };
}

/** A maintainer's claim on a project: signed by the very identity it names, recently. */
export function verifyRegistration(
  value: unknown,
  now: Date,
  verifier: IdentitySignatureVerifier,
  maxSkewSeconds: number,
): RegistrationRequest {
  if (!isPlainObject(value) || !isPlainObject(value.signed) || !Array.isArray(value.signatures) || value.signatures.length !== 1) {
    throw new TufError('malformed', 'a registration is {"signed": {...}, "signatures": [one Sigstore signature]}');
  }
  const signed = value.signed;
  const { project, identity, issuer, requested_at: requestedAt } = signed;
  if (
    signed._type !== 'registration' ||
    typeof project !== 'string' ||
    typeof identity !== 'string' ||
    typeof issuer !== 'string' ||
    typeof requestedAt !== 'string'
  ) {
    throw new TufError('malformed', 'registration needs _type "registration", project, identity, issuer and requested_at');
  }
  const extra = Object.keys(signed).filter((k) => !['_type', 'project', 'identity', 'issuer', 'requested_at'].includes(k));
  if (extra.length > 0) throw new TufError('malformed', `registration has unexpected fields: ${extra.join(', ')}`);
  assertDelegatedRoleName(project);
  const key = identityKey(identity, issuer);
  const at = Date.parse(requestedAt);
  if (!isTufDateTime(requestedAt)) throw new TufError('malformed', 'requested_at must look like 2030-01-01T00:00:00Z');
  if (Math.abs(at - now.getTime()) > maxSkewSeconds * 1000) {
    throw new TufError('stale_request', `requested_at is more than ${maxSkewSeconds} s from the server's time; sign a fresh request`);
  }
  const signature = value.signatures[0] as { keyid?: unknown; sig?: unknown };
  if (!isPlainObject(signature) || typeof signature.sig !== 'string')
    throw new TufError('malformed', 'the signature needs "sig" and "bundle"');
  const bytes = canonicalBytes(signed);
  const verdict = verifier.explain(key, { keyid: identityKeyid(identity, issuer), sig: signature.sig, bundle: signature.bundle }, bytes);
  if (!verdict.valid) throw new TufError('threshold_not_met', `registration is not signed by ${identity} at ${issuer}: ${verdict.reason}`);
  return { project, identity, issuer, requestedAt: new Date(at), requestSha256: sha256Hex(bytes) };
}

/** Names of the delegated roles whose keys, threshold or paths differ between two targets versions. */
export function changedDelegations(before: Targets | null, after: Targets): string[] {
  const names = new Set([...Object.keys(before?.delegations?.roles ?? {}), ...Object.keys(after.delegations?.roles ?? {})]);
  const describe = (t: Targets | null, name: string) => {
    const d = t ? findDelegation(t, name) : null;
    if (!d) return 'none';
    const keys = d.role.keyids.map((k) => `${k}=${JSON.stringify(d.keys[k] ?? null)}`).sort();
    return JSON.stringify([keys, d.role.threshold, d.paths, d.pathHashPrefixes, d.provenance]);
  };
  return [...names].filter((n) => describe(before, n) !== describe(after, n)).sort();
}

/**
 * Why a published project role no longer meets its (new) delegation, or null if it does.
 * `previous` is the delegation before the change: a new builder requirement means the files'
 * attestations (by another builder, or none) no longer meet it.
 */
export function resignReason(
  role: ParsedMetadata<'targets'>,
  delegation: Delegation,
  verifier: SignatureVerifier,
  previous: Delegation | null = null,
): string | null {
  const result = checkThreshold(role.envelope.signatures, role.signedBytes, delegation.keys, delegation.role, verifier);
  if (!result.met) return `v${role.version} has ${result.validKeyids.length} valid signature(s) of the ${result.threshold} now required`;
  const paths = Object.keys(role.model.targets);
  const outside = paths.filter((p) => !delegation.isDelegatedPath(p));
  if (outside.length > 0) return `v${role.version} lists targets outside the delegated paths: ${outside.join(', ')}`;
  const required = delegation.provenance;
  const files = paths.filter((p) => !isAttestationPath(p));
  if (required && files.length > 0) {
    try {
      checkProvenanceListing(delegation.name, paths, required);
    } catch (err) {
      return `v${role.version}: ${(err as Error).message}`;
    }
    const before = previous?.provenance ?? null;
    if (!before || !sameBuilder(before, required)) {
      return (
        `v${role.version}: the delegation now requires build provenance by ${describeBuilder(required)}; its attestations were ` +
        `accepted ${before ? `for ${describeBuilder(before)}` : 'under no requirement'}, so clients refuse any that another builder signed: ` +
        'publish a version whose attestations are by the required builder'
      );
    }
  }
  return null;
}

/**
 * At most `max` targets in a project role, counted before tuf-js reads them: its models build
 * their maps in quadratic time (1,000 targets about 0.4 s, 7,000 about 30 s), for the server's
 * checks and for every client on every update.
 */
export function assertTargetCount(project: string, targets: unknown, max: number): void {
  const count = isPlainObject(targets) ? Object.keys(targets).length : 0;
  if (count > max) {
    throw new TufError(
      'too_many_targets',
      `${project}: ${count} targets, more than the ${max} a project role may list (MAX_TARGETS_PER_PROJECT_ROLE)`,
    );
  }
}
