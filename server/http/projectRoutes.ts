// The maintainer API: registration requests, project state, and signed uploads.
import express, { Router, type RequestHandler } from 'express';
import { z } from 'zod';
import type { Metrics } from '../metrics.ts';
import type { ProjectService } from '../projects/projectService.ts';
import type { RegistrationService } from '../projects/registrations.ts';
import { toHttp } from './errors.ts';
import { parseBody } from './schema.ts';
import { jsonShapeGuard } from './limits.ts';

const uploadBody = z
  .object({
    metadata: z.record(z.string(), z.unknown()),
    files: z.record(z.string().min(1).max(1024), z.string().regex(/^[A-Za-z0-9+/]*={0,2}$/, 'must be base64')).default({}),
  })
  .strict();

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
  maxUploadBytes: number;
  maxMetadataBytes: number;
}

export function projectRoutes(deps: ProjectRouteDeps): Router {
  const router = Router();
  const { projects, metrics } = deps;
  const json: RequestHandler[] = [express.json({ limit: deps.maxMetadataBytes }), jsonShapeGuard()];

  router.get('/api/v1/config', (_req, res) => {
    res.json({ sigstore: deps.sigstore });
  });

  router.post('/api/v1/registrations', ...json, async (req, res, next) => {
    try {
      const { registration, created } = await deps.registrations.register(req.body);
      metrics.uploads.inc({ kind: 'registration', result: 'accepted', reason: '' });
      res.status(created ? 201 : 200).json({ registration });
    } catch (err) {
      metrics.uploads.inc({ kind: 'registration', result: 'refused', reason: toHttp(err).body.error.code });
      next(err);
    }
  });

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

  router.post('/api/v1/projects/:project/uploads', express.json({ limit: deps.maxUploadBytes }), jsonShapeGuard(), async (req, res, next) => {
    try {
      const body = parseBody(uploadBody, req.body, 'upload');
      const files = new Map<string, Buffer>();
      for (const [path, b64] of Object.entries(body.files)) files.set(path, Buffer.from(b64, 'base64'));
      const result = await projects.upload(String(req.params.project), body.metadata, files);
      metrics.uploads.inc({ kind: 'project', result: result.status === 'published' ? 'accepted' : 'pending', reason: '' });
      res.status(result.status === 'published' ? 201 : 202).json(result);
    } catch (err) {
      metrics.uploads.inc({ kind: 'project', result: 'refused', reason: toHttp(err).body.error.code });
      next(err);
    }
  });

  return router;
}
