// Build provenance in tests: attestations signed through the local Sigstore by a CI workflow
// identity at GitHub Actions' issuer (which the local Sigstore plays), and delegations that
// require them, approved as an admin would (top-level targets re-signed offline).
import { editedTargetsSigned } from '../../core/ceremony.ts';
import { withDelegation } from '../../core/delegations.ts';
import { signEnvelope } from '../../core/metadata.ts';
import { IN_TOTO_PAYLOAD_TYPE, SLSA_PROVENANCE_V1, type BuilderIdentity } from '../../core/provenance.ts';
import { privateKeySigner } from '../../core/signer.ts';
import { sha256Hex } from '../../core/canonical.ts';
import { signAttestationStatement } from '../../maintainer/identitySigner.ts';
import { provenancePredicate, provenanceStatement } from '../../maintainer/provenance.ts';
import type { CeremonyKeys, TestRepo } from './repo.ts';

export const GITHUB_ISSUER = 'https://token.actions.githubusercontent.com';
export const RELEASE_WORKFLOW = 'https://github.com/acme/mylib/.github/workflows/release.yml@refs/tags/v1.0.0';
export const CI: BuilderIdentity = { identity: RELEASE_WORKFLOW, issuer: GITHUB_ISSUER };

/** Top-level targets N+1 delegating `project` to `maintainers` (local issuer), requiring `provenance` (null: none). */
export async function delegateWithProvenance(
  t: TestRepo,
  keys: CeremonyKeys,
  project: string,
  maintainers: string[],
  provenance: BuilderIdentity | null,
): Promise<void> {
  const current = await t.repo.current.targets();
  const ms = maintainers.map((identity) => ({ identity, issuer: t.sigstore.sigstore.issuerUrl }));
  const next = editedTargetsSigned(withDelegation(current!.envelope.signed, project, ms, 1, undefined, provenance), {}, t.clock.now());
  await t.repo.admission.submitTargets(await signEnvelope(next, [privateKeySigner(keys.targets[0]!)]), 'test');
}

/**
 * An attestation (Sigstore bundle bytes) about `files`, signed by `builder` through the local
 * Sigstore; `predicateType` and `subjects` may be overridden to make a wrong one.
 */
export async function attestAs(
  t: TestRepo,
  files: Record<string, Buffer>,
  builder: BuilderIdentity = CI,
  opts: { predicateType?: string; payloadType?: string } = {},
): Promise<Buffer> {
  const subjects = Object.entries(files).map(([name, bytes]) => ({ name: name.split('/').pop()!, sha256: sha256Hex(bytes) }));
  const statement = provenanceStatement(subjects, provenancePredicate(builder, {}, 'git+https://github.com/acme/mylib@refs/tags/v1.0.0'));
  if (opts.predicateType) statement.predicateType = opts.predicateType;
  const s = t.sigstore.sigstore;
  // A played CI issuer is named by its URL; the local issuers by their names.
  const issuer = builder.issuer === s.issuerUrl ? undefined : builder.issuer;
  const bundle = await signAttestationStatement(
    Buffer.from(JSON.stringify(statement)),
    opts.payloadType ?? IN_TOTO_PAYLOAD_TYPE,
    { fulcioUrl: s.fulcioUrl, rekorUrl: s.rekorUrl },
    { getToken: () => s.mintToken({ identity: builder.identity, ...(issuer ? { issuer } : {}) }) },
  );
  return Buffer.from(JSON.stringify(bundle));
}

export { SLSA_PROVENANCE_V1 };
