import { Router } from 'express';
import type { Metrics } from '../metrics.ts';
import type { ReadinessCheck } from '../serving/readiness.ts';

export function healthRoutes(deps: { readiness: ReadinessCheck; metrics: Metrics }): Router {
  const router = Router();
  router.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });
  router.get('/readyz', async (_req, res) => {
    const { ready, checks, warnings } = await deps.readiness.check();
    res.status(ready ? 200 : 503).json({ status: ready ? 'ready' : 'not ready', checks, warnings });
  });
  router.get('/metrics', async (_req, res) => {
    res.setHeader('Content-Type', deps.metrics.registry.contentType);
    res.end(await deps.metrics.text());
  });
  return router;
}
