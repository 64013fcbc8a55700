// The monitor as the composition root builds it: one per process when MONITOR_ENABLED, watching
// MONITOR_REKOR_URL or else the Rekor the repository tells maintainers to sign with.
import type { Knex } from 'knex';
import type { Logger } from 'pino';
import type client from 'prom-client';
import type { Clock } from '../../core/clock.ts';
import type { DelegationIndex } from '../serving/delegationIndex.ts';
import { TransparencyMonitor } from './monitor.ts';
import type { MonitorConfig } from './monitorConfig.ts';

export function createMonitor(o: {
  config: MonitorConfig;
  advertisedRekorUrl: string;
  knex: Knex;
  delegations: DelegationIndex;
  clock: Clock;
  log: Logger;
  trustedRoot: unknown;
  registry: client.Registry;
  holder: string;
}): TransparencyMonitor | null {
  if (!o.config.enabled) return null;
  const rekorUrl = o.config.rekorUrl ?? o.advertisedRekorUrl;
  return new TransparencyMonitor({
    knex: o.knex,
    delegations: o.delegations,
    clock: o.clock,
    log: o.log.child({ component: 'monitor', log: rekorUrl }),
    trustedRoot: o.trustedRoot,
    config: o.config,
    rekorUrl,
    registry: o.registry,
    holder: o.holder,
  });
}
