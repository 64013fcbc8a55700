import express, { Router, type Request } from 'express';
import type { Knex } from 'knex';
import { z } from 'zod';
import { sha256Hex } from '../../core/canonical.ts';
import { listAudit } from '../db/auditRepo.ts';
import { putBlob } from '../db/targetsRepo.ts';
import { appendAudit } from '../db/auditRepo.ts';
import type { MetadataCache } from '../metadataCache.ts';
import type { Metrics } from '../metrics.ts';
import type { Clock } from '../../core/clock.ts';
import { offlineExpiry } from '../expiry.ts';
import { currentOnlinePublicKeys, type OnlineKeyStore } from '../onlineKeys.ts';
import type { RepositoryService } from '../services/repository.ts';
import { requireAdmin } from './adminAuth.ts';
import { HttpError, toHttp } from './errors.ts';
import { parseBody } from './schema.ts';
import { jsonShapeGuard } from './limits.ts';

const jsonObject = z.record(z.string(), z.unknown());
const bootstrapBody = z.object({ root: jsonObject, targets: jsonObject }).strict();
const rootWithTargets = z.object({ root: jsonObject, targets: jsonObject }).strict();
const auditQuery = z.object({
  after: z.coerce.number().int().min(0).optional(),
  limit: z.coerce.number().int().min(1).max(1000).default(100),
});

export interface AdminRouteDeps {
  knex: Knex;
  service: RepositoryService;
  cache: MetadataCache;
  keyStore: OnlineKeyStore;
  metrics: Metrics;
  clock: Clock;
  maxMetadataBytes: number;
  maxTargetBytes: number;
  expiryWarningSeconds: number;
}

export function adminRoutes(deps: AdminRouteDeps): Router {
  const router = Router();
  const { service, metrics } = deps;
  router.use('/admin', requireAdmin(deps.knex));
  const json: express.RequestHandler[] = [express.json({ limit: deps.maxMetadataBytes, strict: true }), jsonShapeGuard()];
  const actor = (req: Request) => String(req.res?.locals.actor ?? 'unknown');

  /** Counts accepted and refused uploads by kind and reason, then passes errors on. */
  const counted = (kind: string, handler: (req: Request) => Promise<unknown>) =>
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

  router.post('/admin/bootstrap', ...json, counted('bootstrap', async (req) => {
    const body = parseBody(bootstrapBody, req.body, 'bootstrap');
    return service.bootstrap(body.root, body.targets, actor(req));
  }));

  // Either a root document, or {root, targets} when the root changes the targets keys.
  router.post('/admin/metadata/root', ...json, counted('root', async (req) => {
    const body = parseBody(jsonObject, req.body, 'root');
    if ('root' in body || 'targets' in body) {
      const pair = parseBody(rootWithTargets, body, 'root with targets');
      return service.submitRoot(pair.root, actor(req), pair.targets);
    }
    return service.submitRoot(body, actor(req));
  }));

  router.post('/admin/metadata/targets', ...json, counted('targets', async (req) => {
    return service.submitTargets(parseBody(jsonObject, req.body, 'targets'), actor(req));
  }));

  router.put(
    '/admin/blobs',
    express.raw({ type: () => true, limit: deps.maxTargetBytes }),
    counted('blob', async (req) => {
      if (!Buffer.isBuffer(req.body)) throw new HttpError(400, 'bad_request', 'send the file as the request body');
      const content = req.body as Buffer;
      const sha256 = sha256Hex(content);
      const created = await putBlob(deps.knex, sha256, content);
      if (created) await appendAudit(deps.knex, { actor: actor(req), action: 'blob.stored', details: { sha256, length: content.length } });
      return { sha256, length: content.length, created };
    }),
  );

  router.get('/admin/status', async (_req, res) => {
    const roles: Record<string, { version: number; expires: string }> = {};
    for (const role of ['root', 'targets', 'snapshot', 'timestamp']) {
      const head = deps.cache.head(role);
      if (head) roles[role] = { version: head.version, expires: head.expires.toISOString() };
    }
    res.json({
      bootstrapped: roles.root !== undefined,
      roles,
      onlineKeys: await currentOnlinePublicKeys(deps.keyStore),
      offlineExpiry: offlineExpiry(deps.cache, deps.clock, deps.expiryWarningSeconds),
    });
  });

  router.get('/admin/audit', async (req, res) => {
    const q = parseBody(auditQuery, req.query, 'audit query');
    const rows = await listAudit(deps.knex, { limit: q.limit, ...(q.after !== undefined ? { afterId: q.after } : {}) });
    res.json({ entries: rows.map((r) => ({ ...r, id: Number(r.id) })) });
  });

  return router;
}
