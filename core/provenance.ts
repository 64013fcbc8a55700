// Build provenance for a project's files (author-and-builder policies). A delegation may require,
// beside its maintainers' threshold, that every file the role lists comes with a build-provenance
// attestation signed by one CI workload identity the delegation names:
//
//   {"name": "mylib", "keyids": [...], "threshold": 1, "paths": [...], "terminating": true,
//    "x-build-provenance": {"identity": "https://github.com/acme/mylib/.github/workflows/release.yml@refs/tags/v1.2.0",
//                           "issuer": "https://token.actions.githubusercontent.com"}}
//
// The requirement is part of the delegation, so whoever signs the delegation (the offline bins or
// targets keys) sets it: neither a maintainer nor the server can drop it. The attestation is a
// Sigstore bundle (DSSE) holding an in-toto statement v1 with a SLSA provenance v1 predicate, one
// of whose subjects has the file's sha256; it travels as a target of the same role beside the file
// (`FILE.provenance.sigstore.json`), so TUF protects it from rollback and mix-and-match like the
// file itself. Identity and issuer are compared exactly with the certificate, as TAP 18 compares.
// Pure: the Sigstore verification is the caller's AttestationVerifier (core/identity.ts).
import { isPlainObject } from './canonical.ts';
import { TufError } from './errors.ts';
import { identityKey } from './identity.ts';

/** The field of a delegated role that names the builder. */
export const PROVENANCE_FIELD = 'x-build-provenance';
/** An attestation's target path is its file's path with this suffix. */
export const ATTESTATION_SUFFIX = '.provenance.sigstore.json';
export const IN_TOTO_PAYLOAD_TYPE = 'application/vnd.in-toto+json';
export const IN_TOTO_STATEMENT_V1 = 'https://in-toto.io/Statement/v1';
export const SLSA_PROVENANCE_V1 = 'https://slsa.dev/provenance/v1';
/** A real attestation is 5 to 15 KB; anything much larger is refused before it is read. */
export const MAX_ATTESTATION_BYTES = 256 * 1024;

/** A CI workload identity and its OIDC issuer, compared exactly. */
export interface BuilderIdentity {
  identity: string;
  issuer: string;
}

/** What a verified attestation says, for the people who look. */
export interface ProvenanceVerdict {
  builder: BuilderIdentity;
  /** The subject whose sha256 is the file's. */
  subjectName: string;
  predicateType: string;
  buildType: string | null;
  /** Where the build ran from, as the predicate says (GitHub: repository, workflow path and ref). */
  source: string | null;
  invocationId: string | null;
}

/** Verifies a Sigstore bundle holding a DSSE envelope: certificate chain, SCT, signature, log entry. */
export interface AttestationVerifier {
  /** Throws when the bundle does not verify; returns who signed it and the envelope's payload. */
  verifyAttestationBundle(bundle: unknown): { identity?: string; issuer?: string; payloadType: string; payload: Buffer };
}

export function sameBuilder(a: BuilderIdentity, b: BuilderIdentity): boolean {
  return a.identity === b.identity && a.issuer === b.issuer;
}

export function describeBuilder(b: BuilderIdentity): string {
  return `${b.identity} (issuer ${b.issuer})`;
}

/** `{"identity", "issuer"}` and nothing else, both as identity keys take them; anything else is refused. */
export function parseBuilderIdentity(value: unknown, where: string): BuilderIdentity {
  if (!isPlainObject(value)) throw new TufError('malformed', `${where}: must be {"identity": ..., "issuer": ...}`);
  const extra = Object.keys(value).filter((k) => k !== 'identity' && k !== 'issuer');
  if (extra.length > 0) throw new TufError('malformed', `${where}: unexpected field(s) ${extra.join(', ')}`);
  const { identity, issuer } = value;
  if (typeof identity !== 'string' || typeof issuer !== 'string')
    throw new TufError('malformed', `${where}: identity and issuer must be strings`);
  try {
    identityKey(identity, issuer); // the rules identity keys follow: no spaces, an http(s) issuer
  } catch (err) {
    throw new TufError('malformed', `${where}: ${(err as Error).message}`);
  }
  return { identity, issuer };
}

/** The requirement of a delegated role (its fields as signed), or null when it names none. */
export function provenanceRequirementOf(fields: Record<string, unknown> | undefined, role: string): BuilderIdentity | null {
  if (!fields || !Object.prototype.hasOwnProperty.call(fields, PROVENANCE_FIELD)) return null;
  return parseBuilderIdentity(fields[PROVENANCE_FIELD], `delegation of ${role}: ${PROVENANCE_FIELD}`);
}

export function attestationPathFor(targetPath: string): string {
  return `${targetPath}${ATTESTATION_SUFFIX}`;
}

export function isAttestationPath(targetPath: string): boolean {
  return targetPath.endsWith(ATTESTATION_SUFFIX) && targetPath.length > ATTESTATION_SUFFIX.length;
}

/** The file an attestation path is about. */
export function attestedPathOf(attestationPath: string): string {
  return attestationPath.slice(0, -ATTESTATION_SUFFIX.length);
}

/**
 * What a role's list of targets must look like: every attestation is about a file the role lists,
 * and, when the delegation requires provenance, every file has its attestation listed beside it.
 * Refuses `provenance_missing` or `provenance_invalid` naming the paths.
 */
export function checkProvenanceListing(role: string, paths: Iterable<string>, required: BuilderIdentity | null): void {
  const listed = new Set(paths);
  const orphans = [...listed].filter((p) => isAttestationPath(p) && !listed.has(attestedPathOf(p)));
  if (orphans.length > 0) {
    throw new TufError('provenance_invalid', `${role}: attestation(s) for files the role does not list: ${orphans.join(', ')}`);
  }
  if (!required) return;
  const lacking = [...listed].filter((p) => !isAttestationPath(p) && !listed.has(attestationPathFor(p)));
  if (lacking.length > 0) {
    throw new TufError(
      'provenance_missing',
      `${role}: its delegation requires build provenance by ${describeBuilder(required)} for every file; ` +
        `no attestation is listed for ${lacking.join(', ')} (expected ${lacking.map(attestationPathFor).join(', ')})`,
    );
  }
}

function invalid(message: string): TufError {
  return new TufError('provenance_invalid', message);
}

function stringAt(value: unknown, ...keys: string[]): string | null {
  let v = value;
  for (const k of keys) {
    if (!isPlainObject(v)) return null;
    v = v[k];
  }
  return typeof v === 'string' ? v : null;
}

/** Where the build ran from, read from the SLSA v1 predicate (GitHub Actions' workflow parameters, else the first resolved dependency). */
function sourceOf(predicate: Record<string, unknown>): string | null {
  const workflow = ['buildDefinition', 'externalParameters', 'workflow'];
  const repository = stringAt(predicate, ...workflow, 'repository');
  if (repository) {
    const file = stringAt(predicate, ...workflow, 'path');
    const ref = stringAt(predicate, ...workflow, 'ref');
    return `${repository}${file ? `/${file}` : ''}${ref ? `@${ref}` : ''}`;
  }
  const deps = isPlainObject(predicate.buildDefinition) ? predicate.buildDefinition.resolvedDependencies : undefined;
  return Array.isArray(deps) ? stringAt(deps[0], 'uri') : null;
}

/**
 * An attestation's bytes: a Sigstore bundle that verifies (`verifier`), signed by every builder in
 * `required` (the delegation's, a user's pin: they must name the same identity to be met at once),
 * whose DSSE payload is an in-toto statement v1 with a SLSA provenance v1 predicate and a subject
 * whose sha256 is `sha256`. Refuses `provenance_invalid` with the reason.
 */
export function verifyAttestation(
  bytes: Uint8Array,
  opts: { sha256: string; required: readonly BuilderIdentity[]; verifier: AttestationVerifier; what: string },
): ProvenanceVerdict {
  const { what } = opts;
  if (bytes.length > MAX_ATTESTATION_BYTES) throw invalid(`${what}: ${bytes.length} bytes, more than ${MAX_ATTESTATION_BYTES}`);
  let bundle: unknown;
  try {
    bundle = JSON.parse(Buffer.from(bytes).toString('utf8'));
  } catch {
    throw invalid(`${what}: not JSON (a Sigstore bundle is expected)`);
  }
  let signed: ReturnType<AttestationVerifier['verifyAttestationBundle']>;
  try {
    signed = opts.verifier.verifyAttestationBundle(bundle);
  } catch (err) {
    throw invalid(`${what}: ${(err as Error).message}`);
  }
  const builder = { identity: signed.identity ?? '', issuer: signed.issuer ?? '' };
  for (const r of opts.required) {
    if (!sameBuilder(builder, r))
      throw invalid(`${what}: signed by ${describeBuilder(builder)}, not by the required builder ${describeBuilder(r)}`);
  }
  if (signed.payloadType !== IN_TOTO_PAYLOAD_TYPE)
    throw invalid(`${what}: payload type ${signed.payloadType}, not ${IN_TOTO_PAYLOAD_TYPE}`);
  let statement: unknown;
  try {
    statement = JSON.parse(signed.payload.toString('utf8'));
  } catch {
    throw invalid(`${what}: the signed payload is not JSON`);
  }
  if (!isPlainObject(statement) || statement._type !== IN_TOTO_STATEMENT_V1)
    throw invalid(`${what}: not an in-toto statement v1 (_type ${IN_TOTO_STATEMENT_V1})`);
  if (statement.predicateType !== SLSA_PROVENANCE_V1)
    throw invalid(`${what}: predicate type ${JSON.stringify(statement.predicateType)}, not SLSA provenance v1 (${SLSA_PROVENANCE_V1})`);
  if (!isPlainObject(statement.predicate)) throw invalid(`${what}: the statement has no predicate`);
  const subjects = Array.isArray(statement.subject) ? statement.subject : [];
  const subject = subjects.find((s) => stringAt(s, 'digest', 'sha256') === opts.sha256);
  if (!subject) {
    const seen = subjects.map((s) => `${stringAt(s, 'name') ?? '?'} sha256:${stringAt(s, 'digest', 'sha256') ?? 'none'}`);
    throw invalid(`${what}: no subject has the file's sha256 ${opts.sha256} (subjects: ${seen.join(', ') || 'none'})`);
  }
  return {
    builder,
    subjectName: stringAt(subject, 'name') ?? '',
    predicateType: SLSA_PROVENANCE_V1,
    buildType: stringAt(statement.predicate, 'buildDefinition', 'buildType'),
    source: sourceOf(statement.predicate),
    invocationId: stringAt(statement.predicate, 'runDetails', 'metadata', 'invocationId'),
  };
}
