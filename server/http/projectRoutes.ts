// The maintainer API: registration requests, project state, and signed uploads. An upload is the
// signed role metadata first (POST .../uploads; small files may ride along inline), then each file
// it lists that the repository lacks, streamed as a raw body (PUT .../uploads/SIGNED_SHA256/files/PATH).
import { Router, type Request, type Response } from 'express';
import { isPlainObject } from '../../core/canonical.ts';
import { TufError } from '../../core/errors.ts';
import { assertTargetPath } from '../../core/names.ts';
import type { Metrics } from '../metrics.ts';
import type { Preverified, ProjectService, UploadResult } from '../projects/projectService.ts';
import type { RegistrationService } from '../projects/registrations.ts';
import { jsonBody, rawBody, type BodyBudget, type JsonParsing } from './body.ts';
import { parseJsonText, parseUploadBody, rethrowTaskError } from './bodyTasks.ts';
import { HttpError, toHttp } from './errors.ts';

export interface SigstoreAdvert {
  fulcioUrl: string;
  rekorUrl: string;
  /** Dev mode only: where the local OIDC issuer mints tokens. */
  devTokenUrl: string | null;
  oidcIssuer: string | null;
}

export interface ProjectRouteDeps {
  projects: ProjectService;
  registrations: RegistrationService;
  metrics: Metrics;
  sigstore: SigstoreAdvert;
  bodies: ProjectBodyLimits;
}

export interface ProjectBodyLimits {
  maxRegistrationBytes: number;
  maxProjectMetadataBytes: number;
  maxTargetsPerProjectRole: number;
  bodyTimeoutSeconds: number;
  maxConcurrentFileUploads: number;
  budget: BodyBudget;
  parsing: JsonParsing;
}

/** Reads the body with `rawBody`'s limits, as a promise. */
function readBody(req: Request, res: Response, opts: Parameters<typeof rawBody>[0]): Promise<Buffer> {
  return new Promise((resolve, reject) => rawBody(opts)(req, res, (err?: unknown) => (err ? reject(err) : resolve(req.body as Buffer))));
}

/**
 * Aborts when the connection has received nothing for `ms` (a stalled or slow-dripping sender).
 * Watches the socket's byte count: listening for the body's data would start it flowing.
 */
function stallWatch(req: Request, ms: number): { signal: AbortSignal; stop(): void } {
  const controller = new AbortController();
  let last = req.socket.bytesRead;
  let quietSince = Date.now();
  const timer = setInterval(
    () => {
      const now = Date.now();
      if (req.socket.bytesRead !== last) {
        last = req.socket.bytesRead;
        quietSince = now;
      } else if (now - quietSince >= ms) {
        controller.abort(
          new HttpError(408, 'body_timeout', `nothing received for ${Math.round(ms / 1000)} s; the file upload was cut off`),
        );
      }
    },
    Math.max(50, Math.min(1000, Math.floor(ms / 4))),
  );
  timer.unref();
  return { signal: controller.signal, stop: () => clearInterval(timer) };
}

/**
 * Inline files by their own keys in the parsed JSON: the schema's record would drop a key named
 * `__proto__`, and a file name the metadata does not list must be refused, not ignored.
 */
function inlineFiles(raw: unknown): Map<string, Buffer> {
  const files = new Map<string, Buffer>();
  const given = isPlainObject(raw) && isPlainObject(raw.files) ? raw.files : {};
  for (const [path, b64] of Object.entries(given)) {
    if (typeof b64 !== 'string') throw new HttpError(400, 'bad_request', `upload: files.${path}: must be base64`);
    files.set(path, Buffer.from(b64, 'base64'));
  }
  return files;
}

const statusOf = (result: UploadResult) => (result.status === 'published' ? 201 : 202);

export function projectRoutes(deps: ProjectRouteDeps): Router {
  const router = Router();
  const { projects, metrics, bodies } = deps;
  const timeoutMs = bodies.bodyTimeoutSeconds * 1000;
  const { parsing } = bodies;
  let fileUploads = 0;

  router.get('/api/v1/config', (_req, res) => {
    res.json({ sigstore: deps.sigstore });
  });

  router.post(
    '/api/v1/registrations',
    ...jsonBody({ limitBytes: bodies.maxRegistrationBytes, timeoutMs, budget: bodies.budget, what: 'a registration' }, parsing),
    async (req, res, next) => {
      try {
        const { registration, created } = await deps.registrations.register(req.body);
        metrics.uploads.inc({ kind: 'registration', result: 'accepted', reason: '' });
        res.status(created ? 201 : 200).json({ registration });
      } catch (err) {
        metrics.uploads.inc({ kind: 'registration', result: 'refused', reason: toHttp(err).body.error.code });
        next(err);
      }
    },
  );

  router.get('/api/v1/projects/:project', async (req, res) => {
    res.json(await projects.info(req.params.project));
  });

  // Public: every registrant sees who else asks for the project (a contest), as the admins do.
  router.get('/api/v1/projects/:project/registrations', async (req, res) => {
    res.json(await deps.registrations.forProject(req.params.project));
  });

  router.get('/api/v1/projects/:project/pending', async (req, res) => {
    res.json({ pending: await projects.pending(req.params.project) });
  });

  // The signed metadata (small files may come inline as base64, within the same limit). Who may
  // sign is known before the body is read: a project nobody may sign for is refused unread. A body
  // above the off-thread size is parsed and its signatures verified on a worker; the event loop
  // parses it only once a signature by a delegated identity verified.
  router.post('/api/v1/projects/:project/uploads', async (req, res, next) => {
    try {
      const project = String(req.params.project);
      const authority = await projects.authority(project);
      let bytes: Uint8Array = await readBody(req, res, {
        limitBytes: bodies.maxProjectMetadataBytes,
        timeoutMs,
        budget: bodies.budget,
        what: 'project metadata',
      });
      let preverified: Preverified | undefined;
      if (bytes.length > parsing.offThreadBytes && parsing.runner) {
        const answer = await parsing.runner.run({
          kind: 'upload',
          bytes,
          limits: parsing.limits,
          project,
          authority,
          maxTargets: bodies.maxTargetsPerProjectRole,
        });
        if (answer === null) throw new HttpError(503, 'unavailable', 'no parsing worker could take the upload; retry shortly');
        bytes = answer.bytes; // moved to the worker and back
        const pre = answer.result;
        if (!pre.ok) rethrowTaskError(pre.error);
        if ((pre.validKeyids ?? []).length === 0) {
          throw new TufError('threshold_not_met', `${project} v${pre.version}: no valid signature by an identity delegated for ${project}`);
        }
        preverified = { authority, signedSha256: pre.signedSha256!, validKeyids: pre.validKeyids!, invalidKeyids: pre.invalidKeyids ?? [] };
      }
      const raw = parseJsonText(bytes, parsing.limits);
      const body = parseUploadBody(raw);
      const result = await projects.upload(project, body.metadata, inlineFiles(raw), preverified);
      metrics.uploads.inc({ kind: 'project', result: result.status === 'published' ? 'accepted' : 'pending', reason: '' });
      res.status(statusOf(result)).json(result);
    } catch (err) {
      metrics.uploads.inc({ kind: 'project', result: 'refused', reason: toHttp(err).body.error.code });
      next(err);
    }
  });

  // One file of an open upload, as the raw body. Nothing is read before the service has checked
  // that verified metadata of this upload lists the path; the bytes are then hashed while staged
  // and cut off at the listed length. The request that brings the last file publishes (201).
  router.put('/api/v1/projects/:project/uploads/:signedSha256/files/*path', async (req, res, next) => {
    let slot = false;
    let watch: { stop(): void } | null = null;
    try {
      const project = String(req.params.project);
      const signedSha256 = String(req.params.signedSha256);
      if (!/^[0-9a-f]{64}$/.test(signedSha256))
        throw new HttpError(400, 'bad_request', 'the upload is named by the sha256 of its signed metadata (64 lowercase hex characters)');
      const path = ((req.params as unknown as { path: string[] }).path ?? []).join('/');
      assertTargetPath(path);
      const encoding = (req.headers['content-encoding'] ?? 'identity').toLowerCase();
      if (encoding !== 'identity') throw new HttpError(415, 'bad_request', `send the file without Content-Encoding (got ${encoding})`);
      const lengthHeader = req.headers['content-length'];
      if (lengthHeader !== undefined && !/^\d{1,15}$/.test(lengthHeader))
        throw new HttpError(400, 'bad_request', 'Content-Length is not a number');
      if (fileUploads >= bodies.maxConcurrentFileUploads)
        throw new HttpError(503, 'unavailable', `${bodies.maxConcurrentFileUploads} file uploads are in progress here; retry shortly`);
      fileUploads += 1;
      slot = true;
      const stall = stallWatch(req, timeoutMs);
      watch = stall;
      const result = await projects.receiveFile(project, signedSha256, path, req, {
        contentLength: lengthHeader === undefined ? null : Number(lengthHeader),
        signal: stall.signal,
      });
      metrics.uploads.inc({ kind: 'file', result: result.status === 'published' ? 'accepted' : 'pending', reason: '' });
      res.status(statusOf(result)).json(result);
    } catch (err) {
      metrics.uploads.inc({ kind: 'file', result: 'refused', reason: toHttp(err).body.error.code });
      next(err);
    } finally {
      watch?.stop();
      if (slot) fileUploads -= 1;
    }
  });

  return router;
}
