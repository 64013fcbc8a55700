// Everything under /admin/*, behind one guard: admin-signed metadata, files, status, audit log,
// registrations and roles awaiting re-signing.
import express, { Router, type Request } from 'express';
import { z } from 'zod';
import type { AdminService } from '../admin/adminService.ts';
import type { AdminTokens } from '../admin/adminTokens.ts';
import type { AdmissionService } from '../admission/adminMetadata.ts';
import type { Metrics } from '../metrics.ts';
import type { RegistrationService } from '../projects/registrations.ts';
import { requireAdmin } from './adminAuth.ts';
import { HttpError, toHttp } from './errors.ts';
import { jsonBody, type BodyBudget, type JsonParsing } from './body.ts';
import { parseBody } from './schema.ts';

const jsonObject = z.record(z.string(), z.unknown());
const delegatedRoles = z.record(z.string().min(1).max(64), jsonObject);
const bootstrapBody = z.object({ root: jsonObject, targets: jsonObject, delegated: delegatedRoles.optional() }).strict();
const targetsWithDelegated = z.object({ targets: jsonObject, delegated: delegatedRoles }).strict();
const delegatedBody = z.object({ delegated: delegatedRoles }).strict();
/** Own entries only, in order: role names from a request never reach an object's prototype. */
const asMap = (roles: Record<string, Record<string, unknown>> | undefined) => new Map(Object.entries(roles ?? {}));
const rootWithTargets = z.object({ root: jsonObject, targets: jsonObject }).strict();
const auditQuery = z.object({
  after: z.coerce.number().int().min(0).optional(),
  // Newest first from an entry (the console pages back): order=desc, before=ID.
  before: z.coerce.number().int().min(1).optional(),
  order: z.enum(['asc', 'desc']).default('asc'),
  limit: z.coerce.number().int().min(1).max(1000).default(100),
  action: z.string().min(1).max(100).optional(),
  actor: z.string().min(1).max(200).optional(),
  role: z.string().min(1).max(200).optional(),
});
const registrationsQuery = z.object({
  status: z.enum(['pending', 'approved', 'rejected']).optional(),
  project: z.string().max(64).optional(),
});

export interface AdminRouteDeps {
  tokens: AdminTokens;
  admission: AdmissionService;
  admin: AdminService;
  registrations: RegistrationService;
  metrics: Metrics;
  bodies: AdminBodyLimits;
}

export interface AdminBodyLimits {
  maxAdminMetadataBytes: number;
  maxTargetBytes: number;
  bodyTimeoutSeconds: number;
  budget: BodyBudget;
  parsing: JsonParsing;
}

export function adminRoutes(deps: AdminRouteDeps): Router {
  const router = Router();
  const { admission, metrics } = deps;
  router.use('/admin', requireAdmin(deps.tokens));
  // Root, top-level targets and bins can be megabytes: above PARSE_OFF_THREAD_BYTES a worker
  // parses and checks them first (body.ts). The admission checks themselves run here.
  const json: express.RequestHandler[] = jsonBody(
    {
      limitBytes: deps.bodies.maxAdminMetadataBytes,
      timeoutMs: deps.bodies.bodyTimeoutSeconds * 1000,
      budget: deps.bodies.budget,
      what: 'admin metadata',
    },
    deps.bodies.parsing,
  );
  const actor = (req: Request) => String(req.res?.locals.actor ?? 'unknown');

  /** Counts accepted and refused uploads by kind and reason, then passes errors on. */
  const counted =
    (kind: string, handler: (req: Request) => Promise<unknown>) =>
    async (req: Request, res: express.Response, next: express.NextFunction) => {
      try {
        const body = await handler(req);
        metrics.uploads.inc({ kind, result: 'accepted', reason: '' });
        res.status(201).json(body);
      } catch (err) {
        metrics.uploads.inc({ kind, result: 'refused', reason: toHttp(err).body.error.code });
        next(err);
      }
    };

  router.post(
    '/admin/bootstrap',
    ...json,
    counted('bootstrap', async (req) => {
      const body = parseBody(bootstrapBody, req.body, 'bootstrap');
      return admission.bootstrap(body.root, body.targets, actor(req), asMap(body.delegated));
    }),
  );

  // Either a root document, or {root, targets} when the root changes the targets keys.
  router.post(
    '/admin/metadata/root',
    ...json,
    counted('root', async (req) => {
      const body = parseBody(jsonObject, req.body, 'root');
      if ('root' in body || 'targets' in body) {
        const pair = parseBody(rootWithTargets, body, 'root with targets');
        return admission.submitRoot(pair.root, actor(req), pair.targets);
      }
      return admission.submitRoot(body, actor(req));
    }),
  );

  // Either a targets document, or {targets, delegated} with the bins it delegates anew.
  router.post(
    '/admin/metadata/targets',
    ...json,
    counted('targets', async (req) => {
      const body = parseBody(jsonObject, req.body, 'targets');
      if ('targets' in body || 'delegated' in body) {
        const pair = parseBody(targetsWithDelegated, body, 'targets with delegated roles');
        return admission.submitTargets(pair.targets, actor(req), asMap(pair.delegated));
      }
      return admission.submitTargets(body, actor(req));
    }),
  );

  // New versions of delegated roles the admins sign (bins): {"delegated": {"bin-000-003": {...}}}.
  router.post(
    '/admin/metadata/delegated',
    ...json,
    counted('delegated', async (req) => {
      return admission.submitDelegated(asMap(parseBody(delegatedBody, req.body, 'delegated roles').delegated), actor(req));
    }),
  );

  // A file for admin-signed targets, streamed into the blob store (hashed while staged).
  router.put(
    '/admin/blobs',
    counted('blob', async (req) => {
      const encoding = (req.headers['content-encoding'] ?? 'identity').toLowerCase();
      if (encoding !== 'identity') throw new HttpError(415, 'bad_request', `send the file without Content-Encoding (got ${encoding})`);
      const declared = req.headers['content-length'];
      if (declared !== undefined && /^\d{1,15}$/.test(declared) && Number(declared) > deps.bodies.maxTargetBytes) {
        throw new HttpError(413, 'too_large', `the file exceeds the limit of ${deps.bodies.maxTargetBytes} bytes`);
      }
      return deps.admin.storeBlobStream(req, actor(req), deps.bodies.maxTargetBytes);
    }),
  );

  router.get('/admin/status', async (_req, res) => {
    res.json(await deps.admin.status());
  });

  router.get('/admin/audit', async (req, res) => {
    const q = parseBody(auditQuery, req.query, 'audit query');
    const { after, before, ...rest } = q;
    res.json({
      entries: await deps.admin.audit({
        ...rest,
        ...(after !== undefined ? { afterId: after } : {}),
        ...(before !== undefined ? { beforeId: before } : {}),
      }),
    });
  });

  router.get('/admin/registrations', async (req, res) => {
    const q = parseBody(registrationsQuery, req.query, 'registrations query');
    res.json(await deps.registrations.list(q));
  });

  router.post('/admin/registrations/:id/reject', async (req, res) => {
    const id = String(req.params.id);
    if (!/^\d{1,18}$/.test(id)) throw new HttpError(400, 'bad_request', 'registration id must be a number');
    if (!(await deps.registrations.reject(id, actor(req)))) throw new HttpError(404, 'not_found', `no pending registration ${id}`);
    res.json({ rejected: Number(id) });
  });

  router.get('/admin/projects/resign-needed', async (_req, res) => {
    res.json({ projects: await deps.admin.resignNeeded() });
  });

  return router;
}
