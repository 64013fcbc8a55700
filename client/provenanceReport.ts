// What `tuf-client verify` says about build provenance (core/provenance.ts) for one project role:
// the builder its delegation requires, and for each file the attestation it lists, verified when
// `tuf-client fetch` kept its bytes in STATE (STATE/targets/attestations/SHA256.json).
import fs from 'node:fs';
import { isPlainObject, type JsonObject } from '../core/canonical.ts';
import type { IdentitySignatureVerifier } from '../core/identity.ts';
import {
  attestationPathFor,
  describeBuilder,
  isAttestationPath,
  provenanceRequirementOf,
  verifyAttestation,
  type BuilderIdentity,
} from '../core/provenance.ts';
import { attestationFile } from './clientOptions.ts';

export interface ProvenanceReport {
  lines: string[];
  /** False when the delegation requires provenance and a file lacks its attestation or it does not verify. */
  ok: boolean;
}

function requirementIn(delegator: unknown, role: string): BuilderIdentity | null {
  const signed = isPlainObject(delegator) && isPlainObject(delegator.signed) ? delegator.signed : null;
  const roles = signed && isPlainObject(signed.delegations) && Array.isArray(signed.delegations.roles) ? signed.delegations.roles : [];
  const entry = roles.find((r) => isPlainObject(r) && r.name === role) as JsonObject | undefined;
  return entry ? provenanceRequirementOf(entry, role) : null;
}

function sha256Of(entry: unknown): string | null {
  const hashes = isPlainObject(entry) && isPlainObject(entry.hashes) ? entry.hashes : null;
  return hashes && typeof hashes.sha256 === 'string' ? hashes.sha256 : null;
}

export function provenanceReport(
  metadata: unknown,
  delegator: unknown,
  role: string,
  verifier: IdentitySignatureVerifier,
  targetDir: string,
): ProvenanceReport {
  const required = requirementIn(delegator, role);
  const targets =
    isPlainObject(metadata) && isPlainObject(metadata.signed) && isPlainObject(metadata.signed.targets) ? metadata.signed.targets : {};
  const paths = Object.keys(targets);
  const files = paths.filter((p) => !isAttestationPath(p));
  const listed = new Set(paths);
  if (!required && !files.some((p) => listed.has(attestationPathFor(p)))) return { lines: [], ok: true };
  const lines = [
    required
      ? `build provenance: every file of ${role} needs an attestation by ${describeBuilder(required)} (its delegation)`
      : `build provenance: not required by ${role}'s delegation; attestations listed:`,
  ];
  let ok = true;
  for (const file of files) {
    const path = attestationPathFor(file);
    if (!listed.has(path)) {
      if (required) {
        ok = false;
        lines.push(`  ${file}: NO ATTESTATION listed (${path})`);
      }
      continue;
    }
    const attestationSha = sha256Of(targets[path]);
    const fileSha = sha256Of(targets[file]);
    const kept = attestationSha ? attestationFile(targetDir, attestationSha) : null;
    if (!kept || !fileSha || !fs.existsSync(kept)) {
      lines.push(`  ${file}: attestation ${path} listed, not checked (its bytes are not in ${targetDir}: fetch the file first)`);
      continue;
    }
    try {
      const v = verifyAttestation(fs.readFileSync(kept), { sha256: fileSha, required: required ? [required] : [], verifier, what: path });
      lines.push(
        `  ${file}: built by ${describeBuilder(v.builder)}${v.source ? ` from ${v.source}` : ''}` +
          `${v.invocationId ? `, run ${v.invocationId}` : ''}: valid (SLSA provenance v1, subject ${v.subjectName})`,
      );
    } catch (err) {
      ok = false;
      lines.push(`  ${file}: INVALID: ${(err as Error).message}`);
    }
  }
  return { lines, ok };
}
