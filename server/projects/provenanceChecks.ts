// Build-provenance attestations of an upload (core/provenance.ts), checked where bytes meet the
// metadata: an attestation sent inline or streamed is verified before it is stored (a refused one
// never reaches the database), and every attestation the version lists is verified again under the
// role's lock right before the version is published, against the delegation in force then (the
// bytes may have been held since an earlier version, the requirement may have changed since).
import type { Readable } from 'node:stream';
import { sha256Hex, sha512Hex } from '../../core/canonical.ts';
import type { Delegation } from '../../core/delegate.ts';
import { TufError } from '../../core/errors.ts';
import type { ParsedMetadata } from '../../core/metadata.ts';
import { attestedPathOf, isAttestationPath, MAX_ATTESTATION_BYTES, verifyAttestation } from '../../core/provenance.ts';
import type { ProjectDeps } from './projectTypes.ts';

type Listed = ParsedMetadata<'targets'>['model']['targets'];

function entryOf(listed: Listed, path: string) {
  return Object.prototype.hasOwnProperty.call(listed, path) ? listed[path] : undefined;
}

/** Attestations larger than any real one are refused with the metadata, before a byte is sent. */
export function checkAttestationLengths(candidate: ParsedMetadata<'targets'>): void {
  for (const [path, entry] of Object.entries(candidate.model.targets)) {
    if (isAttestationPath(path) && entry.length > MAX_ATTESTATION_BYTES)
      throw new TufError('provenance_invalid', `attestation ${path}: ${entry.length} bytes listed, more than ${MAX_ATTESTATION_BYTES}`);
  }
}

/** One attestation's bytes against the file it is about and the delegation's builder. */
export function verifyAttestationFor(
  deps: ProjectDeps,
  candidate: ParsedMetadata<'targets'>,
  delegation: Delegation,
  path: string,
  bytes: Buffer,
): void {
  const subject = entryOf(candidate.model.targets, attestedPathOf(path));
  // The listing check (core) already refused orphans; this guards the call on its own.
  if (!subject) throw new TufError('provenance_invalid', `attestation ${path}: ${attestedPathOf(path)} is not listed`);
  verifyAttestation(bytes, {
    sha256: subject.hashes.sha256!,
    required: delegation.provenance ? [delegation.provenance] : [],
    verifier: deps.verifier,
    what: `attestation ${path}`,
  });
}

/** Inline files of an upload (already checked against their entries): every attestation verified. */
export function verifyInlineAttestations(
  deps: ProjectDeps,
  candidate: ParsedMetadata<'targets'>,
  delegation: Delegation,
  files: Map<string, Buffer>,
): void {
  for (const [path, bytes] of files) if (isAttestationPath(path)) verifyAttestationFor(deps, candidate, delegation, path, bytes);
}

/**
 * A streamed attestation: read whole (it is small: its listed length was bounded), checked against
 * its entry's length and hashes, then verified. Returns the bytes for the caller to store.
 */
export async function receiveAttestation(
  source: Readable,
  entry: { length: number; hashes: Record<string, string> },
  what: string,
  signal?: AbortSignal,
): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let length = 0;
  await new Promise<void>((resolve, reject) => {
    const done = (err?: Error) => {
      source.off('data', onData);
      source.off('end', onEnd);
      source.off('error', done);
      source.off('close', onClose);
      signal?.removeEventListener('abort', onAbort);
      if (err) reject(err);
      else resolve();
    };
    const onData = (chunk: Buffer) => {
      length += chunk.length;
      if (length > entry.length) {
        source.pause();
        done(new TufError('target_hash_mismatch', `${what}: more bytes than the ${entry.length} its metadata lists`));
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = () => done();
    const onClose = () => {
      if (!source.readableEnded) done(new Error(`${what}: the client closed the connection before the file was complete`));
    };
    const onAbort = () => done(signal!.reason instanceof Error ? signal!.reason : new Error(String(signal!.reason)));
    source.on('data', onData);
    source.once('end', onEnd);
    source.once('error', done);
    source.once('close', onClose);
    signal?.addEventListener('abort', onAbort, { once: true });
    if (signal?.aborted) onAbort();
  });
  const bytes = Buffer.concat(chunks);
  if (bytes.length !== entry.length)
    throw new TufError('target_hash_mismatch', `${what}: ${bytes.length} bytes, its metadata lists ${entry.length}`);
  if (sha256Hex(bytes) !== entry.hashes.sha256) throw new TufError('target_hash_mismatch', `${what}: sha256 differs from its metadata`);
  if (entry.hashes.sha512 !== undefined && sha512Hex(bytes) !== entry.hashes.sha512)
    throw new TufError('target_hash_mismatch', `${what}: sha512 differs from its metadata`);
  return bytes;
}

async function heldBytes(deps: ProjectDeps, sha256: string, what: string): Promise<Buffer> {
  const blob = await deps.blobs.open(sha256);
  if (!blob) throw new TufError('target_file_missing', `${what}: not held`);
  if (blob.length > MAX_ATTESTATION_BYTES) throw new TufError('provenance_invalid', `${what}: ${blob.length} bytes`);
  const chunks: Buffer[] = [];
  for await (const chunk of blob.stream()) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/** Every attestation the version lists, from the files held, against `delegation` (the one in force now). */
export async function verifyListedAttestations(
  deps: ProjectDeps,
  candidate: ParsedMetadata<'targets'>,
  delegation: Delegation,
): Promise<void> {
  for (const [path, entry] of Object.entries(candidate.model.targets)) {
    if (!isAttestationPath(path)) continue;
    const what = `attestation ${path}`;
    verifyAttestationFor(deps, candidate, delegation, path, await heldBytes(deps, entry.hashes.sha256!, what));
  }
}
