// Repositories whose projects are delegated to ordinary ed25519 keys, for tests about publishing
// itself (many uploads, fast signing: identity delegations are tested elsewhere), with the local
// Sigstore's trusted root published as a target so `tuf-client` works against them too.
import type { KeyObject } from 'node:crypto';
import type { JsonObject } from '../../core/canonical.ts';
import { canonicalBytes, sha256Hex } from '../../core/canonical.ts';
import { initialTargetsSigned } from '../../core/ceremony.ts';
import { SIGSTORE_TRUSTED_ROOT_TARGET } from '../../core/identity.ts';
import { generatePrivateKey } from '../../core/keys.ts';
import { buildTargetsSigned, describeTarget, expiresAfter, signEnvelope, type Envelope } from '../../core/metadata.ts';
import { privateKeySigner } from '../../core/signer.ts';

export interface KeyProjects {
  /** project name -> its key */
  keys: Map<string, KeyObject>;
  /** The delegations top-level targets carries for them. */
  delegations: JsonObject;
  /** The next version of each project. */
  next: Map<string, number>;
}

export function keyProjects(names: string[]): KeyProjects {
  const keys = new Map<string, KeyObject>();
  const delegations = { keys: {} as JsonObject, roles: [] as JsonObject[] };
  for (const name of names) {
    const key = generatePrivateKey('ed25519');
    keys.set(name, key);
    const signer = privateKeySigner(key);
    delegations.keys[signer.keyid] = signer.publicKey as unknown as JsonObject;
    delegations.roles.push({ name, keyids: [signer.keyid], threshold: 1, paths: [`${name}/*`], terminating: true });
  }
  return { keys, delegations: delegations as unknown as JsonObject, next: new Map(names.map((n) => [n, 1])) };
}

/** Top-level targets v1 delegating the projects, listing the Sigstore trusted root. */
export async function keyProjectsTargets(
  projects: KeyProjects,
  targetsKey: KeyObject,
  trustedRootBytes: Buffer,
  now: Date,
): Promise<Envelope> {
  return signEnvelope(
    {
      ...initialTargetsSigned(now, { [SIGSTORE_TRUSTED_ROOT_TARGET]: describeTarget(trustedRootBytes) }),
      delegations: projects.delegations,
    },
    [privateKeySigner(targetsKey)],
  );
}

export interface PreparedUpload {
  project: string;
  version: number;
  /** The request body of POST /api/v1/projects/NAME/uploads, the file riding along inline. */
  body: string;
  file: { path: string; bytes: Buffer };
  signed: Buffer;
}

/** The project's next release (one small file), signed; the version counter moves on. */
export async function nextRelease(projects: KeyProjects, project: string, now = new Date()): Promise<PreparedUpload> {
  const version = projects.next.get(project)!;
  projects.next.set(project, version + 1);
  const bytes = Buffer.from(`${project} release ${version} ${sha256Hex(Buffer.from(String(Math.random())))}\n`);
  const path = `${project}/${project}-${version}.bin`;
  const signed = buildTargetsSigned({ version, expires: expiresAfter(now, 30 * 86_400), targets: { [path]: describeTarget(bytes) } });
  const envelope = await signEnvelope(signed, [privateKeySigner(projects.keys.get(project)!)]);
  return {
    project,
    version,
    body: JSON.stringify({ metadata: envelope, files: { [path]: bytes.toString('base64') } }),
    file: { path, bytes },
    signed: canonicalBytes(signed),
  };
}

/** Sends a prepared release; resolves with the status and body. */
export async function sendRelease(
  baseUrl: string,
  upload: PreparedUpload,
  signal?: AbortSignal,
): Promise<{ status: number; text: string }> {
  const res = await fetch(`${baseUrl}/api/v1/projects/${upload.project}/uploads`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: upload.body,
    ...(signal ? { signal } : {}),
  });
  return { status: res.status, text: await res.text() };
}
