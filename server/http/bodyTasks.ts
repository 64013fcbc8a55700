// What a parsing worker does with a request body, and the same work on the main thread for small
// bodies. A task's answer is plain data (codes and messages, verdicts), never a parsed document:
// handing a large object tree back would cost the event loop as much as parsing it.
import { z } from 'zod';
import { sha256Hex } from '../../core/canonical.ts';
import { assertTargetCount } from '../../core/delegations.ts';
import { TufError, type TufErrorCode } from '../../core/errors.ts';
import { jsonShapeProblem, jsonTextShapeProblem, type JsonShapeLimits } from '../../core/jsonShape.ts';
import { parseMetadata, readSignedDocument } from '../../core/metadata.ts';
import { checkTargetEntries } from '../../core/updates.ts';
import { signaturesToVerify, type SignatureVerifier } from '../../core/verify.ts';
import type { SigningAuthority } from '../projects/projectService.ts';
import { HttpError, type HttpErrorCode } from './errors.ts';
import { parseBody } from './schema.ts';

/**
 * POST /api/v1/projects/NAME/uploads: the signed role metadata, and optionally small files as
 * base64 (all within MAX_PROJECT_METADATA_BYTES); larger files are streamed afterwards.
 */
export const uploadBody = z
  .object({
    metadata: z.record(z.string(), z.unknown()),
    files: z.record(z.string().min(1).max(1024), z.string().regex(/^[A-Za-z0-9+/]*={0,2}$/, 'must be base64')).default({}),
  })
  .strict();

export type UploadBody = z.infer<typeof uploadBody>;

const own = (value: unknown, key: string) =>
  typeof value === 'object' && value !== null && Object.prototype.hasOwnProperty.call(value, key);

/**
 * The upload body, refused with a 400 when it or its metadata or files carry a `__proto__` key:
 * the schema would otherwise drop that key silently, and what was sent would differ from what is
 * checked.
 */
export function parseUploadBody(value: unknown): UploadBody {
  const body = value as { metadata?: unknown; files?: unknown } | null;
  if (own(body, '__proto__') || own(body?.metadata, '__proto__') || own(body?.files, '__proto__')) {
    throw new HttpError(400, 'bad_request', 'upload: "__proto__" is not a valid field, file or target name');
  }
  return parseBody(uploadBody, value, 'upload');
}

export type BodyTask =
  | { kind: 'json'; bytes: Uint8Array; limits: JsonShapeLimits }
  | { kind: 'upload'; bytes: Uint8Array; limits: JsonShapeLimits; project: string; authority: SigningAuthority; maxTargets: number };

export type TaskError =
  | { kind: 'tuf'; code: TufErrorCode; message: string; details?: Record<string, unknown> }
  | { kind: 'http'; status: number; code: HttpErrorCode; message: string };

export type BodyTaskResult =
  { ok: true; version?: number; signedSha256?: string; validKeyids?: string[]; invalidKeyids?: string[] } | { ok: false; error: TaskError };

/** JSON.parse with the shape limits; a clear 4xx for whatever is wrong. */
export function parseJsonText(bytes: Uint8Array, limits: JsonShapeLimits): unknown {
  if (bytes.length === 0) throw new HttpError(400, 'bad_request', 'the request has no body; send JSON');
  // On the text first: a hostile value is refused before JSON.parse builds it.
  const early = jsonTextShapeProblem(bytes, limits);
  if (early) throw new HttpError(early.code === 'too_deep' ? 400 : 413, early.code, early.message);
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8'));
  } catch {
    throw new HttpError(400, 'malformed', 'request body is not valid JSON');
  }
  const problem = jsonShapeProblem(value, limits);
  if (problem) throw new HttpError(problem.code === 'too_deep' ? 400 : 413, problem.code, problem.message);
  return value;
}

/**
 * Everything about an upload body that does not need the database, in the order the main thread
 * refuses it, with one exception: tuf-js reads the document (its quadratic maps) only once a
 * signature by a key of the delegation verified, so a stranger cannot make it run at all. Before
 * that: JSON and its shape, the body schema, core's cheap checks and canonical bytes, the target
 * entries, the number of targets; then a verdict for every signature by a delegated key.
 */
function preflightUpload(task: Extract<BodyTask, { kind: 'upload' }>, verifier: SignatureVerifier): BodyTaskResult {
  const body = parseUploadBody(parseJsonText(task.bytes, task.limits));
  const doc = readSignedDocument(body.metadata, 'targets', task.project);
  checkTargetEntries(doc);
  if (doc.envelope.signed.delegations !== undefined) throw new TufError('nested_delegation', `${task.project} may not delegate further`);
  assertTargetCount(task.project, doc.envelope.signed.targets, task.maxTargets);
  const validKeyids: string[] = [];
  const invalidKeyids: string[] = [];
  for (const { key, signature } of signaturesToVerify(doc.envelope.signatures, task.authority.keys, task.authority.role)) {
    let valid: boolean;
    try {
      valid = verifier.verify(key, signature, doc.signedBytes) === true;
    } catch {
      valid = false; // fail closed
    }
    (valid ? validKeyids : invalidKeyids).push(signature.keyid);
  }
  // Signed by a delegated identity: now the tuf-js round trip, so the main thread can skip it.
  if (validKeyids.length > 0) parseMetadata(body.metadata, 'targets', task.project);
  return { ok: true, version: doc.version, signedSha256: sha256Hex(doc.signedBytes), validKeyids, invalidKeyids };
}

export function taskErrorOf(err: unknown): TaskError {
  if (err instanceof TufError) {
    let details: Record<string, unknown> | undefined;
    try {
      details = err.details ? structuredClone(err.details) : undefined;
    } catch {
      details = undefined;
    }
    return { kind: 'tuf', code: err.code, message: err.message, ...(details ? { details } : {}) };
  }
  if (err instanceof HttpError) return { kind: 'http', status: err.status, code: err.code, message: err.message };
  // Anything else is a bug or exhaustion (a stack overflow on a pathological value): refuse the body.
  return { kind: 'http', status: 400, code: 'malformed', message: 'the request body could not be processed' };
}

export function rethrowTaskError(error: TaskError): never {
  if (error.kind === 'tuf') throw new TufError(error.code, error.message, error.details);
  throw new HttpError(error.status, error.code, error.message);
}

/** Runs one task; never throws. */
export function runBodyTask(task: BodyTask, verifier: SignatureVerifier): BodyTaskResult {
  try {
    if (task.kind === 'json') {
      parseJsonText(task.bytes, task.limits);
      return { ok: true };
    }
    return preflightUpload(task, verifier);
  } catch (err) {
    return { ok: false, error: taskErrorOf(err) };
  }
}
