// Composition of the read-only views (issue 15): the transparency monitor (server/monitor/) and
// the console with its catalog API (server/console/). Each is built once per process.
import type { Knex } from 'knex';
import type { Logger } from 'pino';
import type client from 'prom-client';
import type { Router } from 'express';
import { systemClock, type Clock } from '../core/clock.ts';
import type { Config } from './config.ts';
import { consoleRoutes } from './console/routes.ts';
import type { TransparencyMonitor } from './monitor/monitor.ts';
import { monitorRoutes } from './monitor/routes.ts';
import { createMonitor } from './monitor/setup.ts';
import { DelegationIndex } from './serving/delegationIndex.ts';
import type { MetadataCache } from './serving/metadataCache.ts';

export function readOnlyViews(o: {
  config: Config;
  /** The repository's clock (expiry on the console); the monitor keeps the wall clock of the log. */
  clock: Clock;
  knex: Knex;
  cache: MetadataCache;
  log: Logger;
  trustedRoot: unknown;
  advertisedRekorUrl: string;
  registry: client.Registry;
  holder: string;
}): { monitor: TransparencyMonitor | null; routers: Router[] } {
  const delegations = new DelegationIndex(o.cache);
  const monitor = createMonitor({
    config: o.config.monitor,
    advertisedRekorUrl: o.advertisedRekorUrl,
    knex: o.knex,
    delegations,
    // The log's times are wall-clock times: the grace period and staleness are measured against them.
    clock: systemClock,
    log: o.log,
    trustedRoot: o.trustedRoot,
    registry: o.registry,
    holder: o.holder,
  });
  const console = consoleRoutes({
    knex: o.knex,
    cache: o.cache,
    delegations,
    clock: o.clock,
    expiryWarningSeconds: o.config.expiryWarningSeconds,
  });
  return { monitor, routers: [monitorRoutes(monitor), console] };
}
