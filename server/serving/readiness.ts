// /readyz: whether this process should get traffic, and what an operator should plan for.
import type { Knex } from 'knex';
import type { Logger } from 'pino';
import type { Clock } from '../../core/clock.ts';
import { databaseAnswers } from '../db/unavailable.ts';
import { offlineExpiry } from './expiry.ts';
import type { MetadataCache } from './metadataCache.ts';

export interface Readiness {
  ready: boolean;
  checks: Record<string, { ok: boolean; detail?: string }>;
  warnings: string[];
}

export interface ReadinessDeps {
  knex: Knex;
  cache: MetadataCache;
  clock: Clock;
  readyMinTimestampRemainingSeconds: number;
  expiryWarningSeconds: number;
  /** Where each change of readiness is logged, once: not ready at warn (with the failing checks), ready again at info. */
  log?: Logger;
  /** Checks of other parts (the copy to a bucket, issue 20): each a named check and, when set, a warning. */
  extraChecks?: () => Promise<ExtraCheck[]>;
}

export interface ExtraCheck {
  name: string;
  ok: boolean;
  detail?: string;
  warning?: string;
}

export class ReadinessCheck {
  /** The failing checks last seen ('' when ready); null before the first check. */
  private lastFailing: string | null = null;

  constructor(private readonly deps: ReadinessDeps) {}

  async check(): Promise<Readiness> {
    const result = await readiness(this.deps);
    this.logChange(result);
    return result;
  }

  /** Probes come every few seconds: the log gets the moments the answer changes, not every 503. */
  private logChange(result: Readiness): void {
    const failing = Object.entries(result.checks).filter(([, c]) => !c.ok);
    const key = failing.map(([name]) => name).join(',');
    if (key === this.lastFailing) return;
    const first = this.lastFailing === null;
    this.lastFailing = key;
    if (!this.deps.log) return;
    if (failing.length === 0) {
      if (!first) this.deps.log.info('ready: /readyz answers 200');
      return;
    }
    const reasons = failing.map(([name, c]) => `${name}: ${c.detail ?? 'failed'}`).join('; ');
    this.deps.log.warn({ checks: Object.fromEntries(failing) }, `not ready: /readyz answers 503 (${reasons})`);
  }
}

async function readiness(deps: ReadinessDeps): Promise<Readiness> {
  const checks: Record<string, { ok: boolean; detail?: string }> = {};
  checks.database = (await databaseAnswers(deps.knex, 2000)) ? { ok: true } : { ok: false, detail: 'database unreachable' };
  const root = deps.cache.head('root');
  checks.bootstrapped = root ? { ok: true } : { ok: false, detail: 'no root yet: run the key ceremony and bootstrap' };
  const ts = deps.cache.head('timestamp');
  const remaining = ts ? Math.round((ts.expires.getTime() - deps.clock.now().getTime()) / 1000) : -1;
  checks.timestamp =
    ts && remaining >= deps.readyMinTimestampRemainingSeconds
      ? { ok: true, detail: `expires in ${remaining} s` }
      : { ok: false, detail: ts ? `timestamp expires in ${remaining} s` : 'no timestamp yet' };
  // Offline roles close to expiry are a warning, not a reason to stop serving; expired ones are.
  const offline = offlineExpiry(deps.cache, deps.clock, deps.expiryWarningSeconds);
  const expired = offline.filter((o) => o.expired);
  checks.offlineRoles =
    expired.length === 0 ? { ok: true } : { ok: false, detail: `${expired.map((o) => o.role).join(' and ')} expired: run a ceremony` };
  const warnings = offline
    .filter((o) => o.warning && !o.expired)
    .map((o) => `${o.role} v${o.version} expires in ${Math.floor(o.expiresInSeconds / 86_400)} days (${o.expires}): schedule a ceremony`);
  for (const extra of deps.extraChecks ? await deps.extraChecks() : []) {
    checks[extra.name] = { ok: extra.ok, ...(extra.detail ? { detail: extra.detail } : {}) };
    if (extra.warning) warnings.push(extra.warning);
  }
  return { ready: Object.values(checks).every((c) => c.ok), checks, warnings };
}
