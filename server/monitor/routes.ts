// The monitor's public API: its status and findings, and one identity's view for
// `tuf-maintainer monitor`. Public like the log and the delegations it is computed from.
import { Router } from 'express';
import { z } from 'zod';
import type { MonitorIdentityJson } from '../../core/monitorApi.ts';
import { HttpError } from '../http/errors.ts';
import { parseBody } from '../http/schema.ts';
import { identityKeyOf } from './delegatedIdentities.ts';
import type { TransparencyMonitor } from './monitor.ts';
import { disabledStatus } from './views.ts';

const findingsQuery = z.object({
  identity: z.string().min(1).max(512).optional(),
  issuer: z.string().min(1).max(512).optional(),
  before: z.coerce.number().int().min(1).optional(),
  limit: z.coerce.number().int().min(1).max(500).default(50),
});
const identityQuery = z.object({ identity: z.string().min(1).max(512), issuer: z.string().min(1).max(512) });

export function monitorRoutes(monitor: TransparencyMonitor | null): Router {
  const router = Router();
  router.get('/api/v1/monitor', async (_req, res) => {
    res.json(monitor ? await monitor.status() : disabledStatus());
  });

  router.get('/api/v1/monitor/findings', async (req, res) => {
    const q = parseBody(findingsQuery, req.query, 'findings query');
    if (!monitor) return void res.json({ findings: [] });
    const filter = {
      limit: q.limit,
      ...(q.identity !== undefined ? { identity: q.identity } : {}),
      ...(q.issuer !== undefined ? { issuer: q.issuer } : {}),
      ...(q.before !== undefined ? { beforeId: q.before } : {}),
    };
    res.json({ findings: await monitor.findings(filter) });
  });

  // One identity: is it delegated, is the monitor current, and what was flagged for it.
  router.get('/api/v1/monitor/identity', async (req, res) => {
    const q = parseBody(identityQuery, req.query, 'identity query');
    if (!monitor) throw new HttpError(404, 'not_found', 'this server runs no transparency monitor (MONITOR_ENABLED)');
    const [status, watched, findings, received] = await Promise.all([
      monitor.status(),
      monitor.watched(),
      monitor.findings({ identity: q.identity, issuer: q.issuer, limit: 500 }),
      monitor.received(q.identity, q.issuer),
    ]);
    const body: MonitorIdentityJson = {
      identity: q.identity,
      issuer: q.issuer,
      projects: watched.get(identityKeyOf(q.identity, q.issuer))?.projects ?? [],
      status: { ...status, recentFindings: [] },
      findings,
      received,
    };
    res.json(body);
  });
  return router;
}
