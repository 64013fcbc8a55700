import express, { Router, type RequestHandler } from 'express';
import type { Knex } from 'knex';
import { z } from 'zod';
import { appendAudit } from '../db/auditRepo.ts';
import { decideRegistrations, listRegistrations, listResignNeeded } from '../db/projectsRepo.ts';
import type { RegistrationRow } from '../db/rows.ts';
import type { Metrics } from '../metrics.ts';
import type { ProjectService } from '../services/projects.ts';
import { requireAdmin } from './adminAuth.ts';
import { HttpError, toHttp } from './errors.ts';
import { parseBody } from './schema.ts';
import { jsonShapeGuard } from './limits.ts';

const uploadBody = z
  .object({
    metadata: z.record(z.string(), z.unknown()),
    files: z.record(z.string().min(1).max(1024), z.string().regex(/^[A-Za-z0-9+/]*={0,2}$/, 'must be base64')).default({}),
  })
  .strict();
const registrationsQuery = z.object({
  status: z.enum(['pending', 'approved', 'rejected']).optional(),
  project: z.string().max(64).optional(),
});

export interface SigstoreAdvert {
  fulcioUrl: string;
  rekorUrl: string;
  /** Dev mode only: where the local OIDC issuer mints tokens. */
  devTokenUrl: string | null;
  oidcIssuer: string | null;
}

function registrationView(r: RegistrationRow) {
  return { id: Number(r.id), project: r.project, identity: r.identity, issuer: r.issuer, status: r.status, requestedAt: r.requested_at.toISOString(), createdAt: r.created_at.toISOString() };
}

export function projectRoutes(deps: { knex: Knex; projects: ProjectService; metrics: Metrics; sigstore: SigstoreAdvert; maxUploadBytes: number; maxMetadataBytes: number }): Router {
  const router = Router();
  const { projects, metrics } = deps;
  const json: RequestHandler[] = [express.json({ limit: deps.maxMetadataBytes }), jsonShapeGuard()];

  router.get('/api/v1/config', (_req, res) => {
    res.json({ sigstore: deps.sigstore });
  });

  router.post('/api/v1/registrations', ...json, async (req, res, next) => {
    try {
      const { registration, created } = await projects.register(req.body);
      metrics.uploads.inc({ kind: 'registration', result: 'accepted', reason: '' });
      res.status(created ? 201 : 200).json({ registration: registrationView(registration) });
    } catch (err) {
      metrics.uploads.inc({ kind: 'registration', result: 'refused', reason: toHttp(err).body.error.code });
      next(err);
    }
  });

  router.get('/api/v1/projects/:project', async (req, res) => {
    res.json(await projects.info(req.params.project));
  });

  router.get('/api/v1/projects/:project/pending', async (req, res) => {
    res.json({ pending: await projects.pending(req.params.project) });
  });

  router.post('/api/v1/projects/:project/uploads', express.json({ limit: deps.maxUploadBytes }), jsonShapeGuard(), async (req, res, next) => {
    try {
      const body = parseBody(uploadBody, req.body, 'upload');
      const files: Record<string, Buffer> = {};
      for (const [path, b64] of Object.entries(body.files)) files[path] = Buffer.from(b64, 'base64');
      const result = await projects.upload(String(req.params.project), body.metadata, files);
      metrics.uploads.inc({ kind: 'project', result: result.status === 'published' ? 'accepted' : 'pending', reason: '' });
      res.status(result.status === 'published' ? 201 : 202).json(result);
    } catch (err) {
      metrics.uploads.inc({ kind: 'project', result: 'refused', reason: toHttp(err).body.error.code });
      next(err);
    }
  });

  router.get('/admin/registrations', requireAdmin(deps.knex), async (req, res) => {
    const q = parseBody(registrationsQuery, req.query, 'registrations query');
    const rows = await listRegistrations(deps.knex, q);
    res.json({ registrations: rows.map(registrationView) });
  });

  router.get('/admin/projects/resign-needed', requireAdmin(deps.knex), async (_req, res) => {
    const rows = await listResignNeeded(deps.knex);
    res.json({ projects: rows.map((r) => ({ project: r.role, version: r.role_version, targetsVersion: r.targets_version, reason: r.reason, detectedAt: r.detected_at.toISOString() })) });
  });

  router.post('/admin/registrations/:id/reject', requireAdmin(deps.knex), async (req, res) => {
    const id = String(req.params.id);
    if (!/^\d{1,18}$/.test(id)) throw new HttpError(400, 'bad_request', 'registration id must be a number');
    if ((await decideRegistrations(deps.knex, [id], 'rejected')) === 0) throw new HttpError(404, 'not_found', `no pending registration ${id}`);
    await appendAudit(deps.knex, { actor: String(res.locals.actor), action: 'registration.rejected', details: { id: Number(id) } });
    res.json({ rejected: Number(id) });
  });

  return router;
}
