// Build provenance on the maintainer's side (core/provenance.ts): `tuf-maintainer attest`, which a
// CI job runs to sign an in-toto statement with a SLSA provenance v1 predicate about the files it
// built (with its own workload identity, through Sigstore), and `publish --provenance BUNDLE`,
// which lists each bundle beside the file it attests (`FILE.provenance.sigstore.json`) and sends
// it. Bundles from elsewhere (GitHub's actions/attest-build-provenance) are taken as they are.
import fs from 'node:fs';
import path from 'node:path';
import type { JsonObject } from '../core/canonical.ts';
import { isPlainObject } from '../core/canonical.ts';
import type { TargetEntry } from '../core/metadata.ts';
import {
  attestationPathFor,
  describeBuilder,
  IN_TOTO_PAYLOAD_TYPE,
  IN_TOTO_STATEMENT_V1,
  MAX_ATTESTATION_BYTES,
  SLSA_PROVENANCE_V1,
  type BuilderIdentity,
} from '../core/provenance.ts';
import { describeFile } from './files.ts';
import { signAttestationStatement, type SigstoreEndpoints, type TokenSource } from './identitySigner.ts';
import { identityOfToken } from './tokens.ts';

/** The build type of statements this tool writes outside GitHub Actions. */
export const GENERIC_BUILD_TYPE = 'urn:tuf-identity-repository:build:generic:v1';
const GITHUB_BUILD_TYPE = 'https://slsa-framework.github.io/github-actions-buildtypes/workflow/v1';

export interface Subject {
  name: string;
  sha256: string;
}

/**
 * The SLSA provenance v1 predicate. In GitHub Actions, from its environment, in the form
 * actions/attest-build-provenance writes; elsewhere the source the caller names and the signing
 * identity as the builder.
 */
export function provenancePredicate(builder: BuilderIdentity, env: NodeJS.ProcessEnv, source: string | undefined): JsonObject {
  if (env.GITHUB_ACTIONS === 'true' && env.GITHUB_REPOSITORY && env.GITHUB_SERVER_URL) {
    const server = env.GITHUB_SERVER_URL;
    const repository = `${server}/${env.GITHUB_REPOSITORY}`;
    const workflowPath = (env.GITHUB_WORKFLOW_REF ?? '').replace(`${env.GITHUB_REPOSITORY}/`, '').replace(/@.*$/, '');
    return {
      buildDefinition: {
        buildType: GITHUB_BUILD_TYPE,
        externalParameters: { workflow: { ref: env.GITHUB_REF ?? '', repository, path: workflowPath } },
        internalParameters: {
          github: {
            event_name: env.GITHUB_EVENT_NAME ?? '',
            repository_id: env.GITHUB_REPOSITORY_ID ?? '',
            repository_owner_id: env.GITHUB_REPOSITORY_OWNER_ID ?? '',
          },
        },
        resolvedDependencies: [{ uri: `git+${repository}@${env.GITHUB_REF ?? ''}`, digest: { gitCommit: env.GITHUB_SHA ?? '' } }],
      },
      runDetails: {
        builder: { id: `https://github.com/actions/runner/${env.RUNNER_ENVIRONMENT ?? 'github-hosted'}` },
        metadata: { invocationId: `${repository}/actions/runs/${env.GITHUB_RUN_ID ?? ''}/attempts/${env.GITHUB_RUN_ATTEMPT ?? '1'}` },
      },
    };
  }
  return {
    buildDefinition: {
      buildType: GENERIC_BUILD_TYPE,
      externalParameters: source ? { source } : {},
      ...(source ? { resolvedDependencies: [{ uri: source }] } : {}),
    },
    runDetails: { builder: { id: builder.identity } },
  };
}

export function provenanceStatement(subjects: Subject[], predicate: JsonObject): JsonObject {
  return {
    _type: IN_TOTO_STATEMENT_V1,
    subject: subjects.map((s) => ({ name: s.name, digest: { sha256: s.sha256 } })),
    predicateType: SLSA_PROVENANCE_V1,
    predicate,
  };
}

/** `tuf-maintainer attest FILE... --out BUNDLE`: one attestation for every file, signed by the token's identity. */
export async function attest(
  files: string[],
  out: string,
  endpoints: SigstoreEndpoints,
  tokens: TokenSource,
  source: string | undefined,
): Promise<string> {
  if (files.length === 0) throw new Error('attest needs at least one FILE');
  const subjects: Subject[] = [];
  for (const file of files) subjects.push({ name: path.basename(file), sha256: (await describeFile(file)).hashes.sha256! });
  const token = await tokens.getToken();
  const builder = identityOfToken(token);
  const statement = provenanceStatement(subjects, provenancePredicate(builder, process.env, source));
  let used = false;
  const once: TokenSource = { getToken: async () => (used ? tokens.getToken() : ((used = true), token)) };
  const bundle = await signAttestationStatement(Buffer.from(JSON.stringify(statement)), IN_TOTO_PAYLOAD_TYPE, endpoints, once);
  fs.writeFileSync(out, `${JSON.stringify(bundle)}\n`);
  return `wrote ${out}: SLSA provenance v1 for ${subjects.map((s) => s.name).join(', ')}, signed by ${describeBuilder(builder)}`;
}

/** A bundle given to publish, with the sha256 of every subject its statement names (read, not verified: the server verifies). */
interface GivenAttestation {
  file: string;
  subjects: Set<string>;
}

function readAttestation(file: string): GivenAttestation {
  const size = fs.statSync(file).size;
  if (size > MAX_ATTESTATION_BYTES)
    throw new Error(`--provenance ${file}: ${size} bytes, more than an attestation may have (${MAX_ATTESTATION_BYTES})`);
  let statement: unknown;
  try {
    const bundle = JSON.parse(fs.readFileSync(file, 'utf8')) as { dsseEnvelope?: { payload?: unknown; payloadType?: unknown } };
    if (bundle.dsseEnvelope?.payloadType !== IN_TOTO_PAYLOAD_TYPE || typeof bundle.dsseEnvelope.payload !== 'string') throw new Error();
    statement = JSON.parse(Buffer.from(bundle.dsseEnvelope.payload, 'base64').toString('utf8'));
  } catch {
    throw new Error(`--provenance ${file}: not a Sigstore bundle holding an in-toto statement (DSSE, ${IN_TOTO_PAYLOAD_TYPE})`);
  }
  if (!isPlainObject(statement) || statement.predicateType !== SLSA_PROVENANCE_V1 || !Array.isArray(statement.subject))
    throw new Error(`--provenance ${file}: its statement is not SLSA provenance v1 (${SLSA_PROVENANCE_V1})`);
  const subjects = new Set<string>();
  for (const s of statement.subject) {
    const sha = isPlainObject(s) && isPlainObject(s.digest) ? s.digest.sha256 : undefined;
    if (typeof sha === 'string') subjects.add(sha);
  }
  return { file, subjects };
}

/**
 * Lists each given bundle beside every file it attests (`FILE.provenance.sigstore.json`) and adds
 * it to the uploads. Refuses a bundle about none of the files, and, when the project requires
 * build provenance, a file no bundle attests (the server would refuse the version).
 */
export async function addAttestations(opts: {
  project: string;
  required: BuilderIdentity | null;
  bundles: string[];
  /** Target path -> the file's entry, for the files of this release. */
  files: Map<string, TargetEntry>;
  listed: Map<string, TargetEntry>;
  uploads: Map<string, { file: string; length: number }>;
}): Promise<string[]> {
  const given = opts.bundles.map(readAttestation);
  const used = new Set<GivenAttestation>();
  const lacking: string[] = [];
  const lines: string[] = [];
  for (const [targetPath, entry] of opts.files) {
    const att = given.find((g) => g.subjects.has(entry.hashes.sha256!));
    if (!att) {
      lacking.push(targetPath);
      continue;
    }
    used.add(att);
    const attPath = attestationPathFor(targetPath);
    const attEntry = await describeFile(att.file);
    opts.listed.set(attPath, attEntry);
    opts.uploads.set(attPath, { file: att.file, length: attEntry.length });
    lines.push(`${targetPath}: attestation ${att.file} listed as ${attPath}`);
  }
  const unused = given.filter((g) => !used.has(g));
  if (unused.length > 0)
    throw new Error(
      `--provenance ${unused.map((g) => g.file).join(', ')}: attests none of the files published (no subject with their sha256)`,
    );
  if (opts.required && lacking.length > 0) {
    throw new Error(
      `${opts.project} requires build provenance by ${describeBuilder(opts.required)} for every file; ` +
        `no --provenance bundle attests ${lacking.join(', ')} (the CI job that built them makes it: tuf-maintainer attest, or actions/attest-build-provenance)`,
    );
  }
  return lines;
}
