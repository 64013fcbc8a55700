import { Router } from 'express';
import type { Knex } from 'knex';
import type { Clock } from '../../core/clock.ts';
import type { MetadataCache } from '../metadataCache.ts';
import type { Metrics } from '../metrics.ts';
import { offlineExpiry } from '../expiry.ts';

export function healthRoutes(deps: { knex: Knex; cache: MetadataCache; clock: Clock; metrics: Metrics; readyMinTimestampRemainingSeconds: number; expiryWarningSeconds: number }): Router {
  const router = Router();
  router.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });
  router.get('/readyz', async (_req, res) => {
    const checks: Record<string, { ok: boolean; detail?: string }> = {};
    try {
      await deps.knex.raw('select 1').timeout(2000);
      checks.database = { ok: true };
    } catch (err) {
      checks.database = { ok: false, detail: 'database unreachable' };
    }
    const root = deps.cache.head('root');
    checks.bootstrapped = root ? { ok: true } : { ok: false, detail: 'no root yet: run the key ceremony and bootstrap' };
    const ts = deps.cache.head('timestamp');
    const remaining = ts ? Math.round((ts.expires.getTime() - deps.clock.now().getTime()) / 1000) : -1;
    checks.timestamp = ts && remaining >= deps.readyMinTimestampRemainingSeconds
      ? { ok: true, detail: `expires in ${remaining} s` }
      : { ok: false, detail: ts ? `timestamp expires in ${remaining} s` : 'no timestamp yet' };
    // Offline roles close to expiry are a warning, not a reason to stop serving; expired ones are.
    const offline = offlineExpiry(deps.cache, deps.clock, deps.expiryWarningSeconds);
    const expired = offline.filter((o) => o.expired);
    checks.offlineRoles = expired.length === 0 ? { ok: true } : { ok: false, detail: `${expired.map((o) => o.role).join(' and ')} expired: run a ceremony` };
    const warnings = offline.filter((o) => o.warning && !o.expired).map((o) => `${o.role} v${o.version} expires in ${Math.floor(o.expiresInSeconds / 86_400)} days (${o.expires}): schedule a ceremony`);
    const ready = Object.values(checks).every((c) => c.ok);
    res.status(ready ? 200 : 503).json({ status: ready ? 'ready' : 'not ready', checks, warnings });
  });
  router.get('/metrics', async (_req, res) => {
    res.setHeader('Content-Type', deps.metrics.registry.contentType);
    res.end(await deps.metrics.registry.metrics());
  });
  return router;
}
