// Builds the express app from explicit dependencies. No globals: tests build as many apps as they like.
import { randomUUID } from 'node:crypto';
import type http from 'node:http';
import express from 'express';
import type { Logger } from 'pino';
import { pinoHttp } from 'pino-http';
import type { Router } from 'express';
import type { Clock } from '../../core/clock.ts';
import type { AdminService } from '../admin/adminService.ts';
import type { AdminTokens } from '../admin/adminTokens.ts';
import type { AdmissionService } from '../admission/adminMetadata.ts';
import type { Metrics } from '../metrics.ts';
import type { ProjectService } from '../projects/projectService.ts';
import type { RegistrationService } from '../projects/registrations.ts';
import type { MetadataCache } from '../serving/metadataCache.ts';
import type { SnapshotFollower } from '../serving/snapshotFollower.ts';
import type { ReadinessCheck } from '../serving/readiness.ts';
import type { TargetFiles } from '../serving/targetFiles.ts';
import { adminRoutes } from './adminRoutes.ts';
import { errorHandler, HttpError } from './errors.ts';
import { healthRoutes } from './healthRoutes.ts';
import { merkleRoutes } from './merkleRoutes.ts';
import { metadataRoutes } from './metadataRoutes.ts';
import { projectRoutes, type SigstoreAdvert } from './projectRoutes.ts';
import { targetRoutes } from './targetRoutes.ts';
import { writeRateLimit } from './limits.ts';
import { withFastReads } from './fastReads.ts';
import { BodyBudget } from './body.ts';
import { DEFAULT_JSON_SHAPE } from '../../core/jsonShape.ts';
import type { BodyTaskRunner } from '../verifyPool.ts';

export interface AppDeps {
  admission: AdmissionService;
  admin: AdminService;
  tokens: AdminTokens;
  projects: ProjectService;
  registrations: RegistrationService;
  cache: MetadataCache;
  /** Snapshot versions and their TAP 16 trees: proofs are served from it. */
  snapshots: SnapshotFollower;
  targetFiles: TargetFiles;
  readiness: ReadinessCheck;
  sigstore: SigstoreAdvert;
  /** Dev mode: the local Sigstore, mounted at /dev/sigstore. */
  devSigstoreRouter?: Router;
  /** Read-only views with routes of their own (the console and its API, the transparency monitor's status), mounted after health. */
  readOnlyRouters?: Router[];
  metrics: Metrics;
  clock: Clock;
  logger: Logger;
  /** Parses large JSON bodies off the event loop (the verifier pool's workers); null: on the main thread. */
  bodyTasks: BodyTaskRunner | null;
  config: {
    timestampMaxAgeSeconds: number;
    maxRegistrationBytes: number;
    maxProjectMetadataBytes: number;
    maxTargetsPerProjectRole: number;
    maxAdminMetadataBytes: number;
    maxTargetBytes: number;
    parseOffThreadBytes: number;
    maxBufferedBodyBytes: number;
    bodyTimeoutSeconds: number;
    maxConcurrentFileUploads: number;
    writeRateLimitPerMinute: number;
  };
}

/**
 * What the HTTP server runs: the read fast path (fastReads.ts) for metadata and target reads, the
 * express app for everything else and for whatever the fast path does not take.
 */
export function createHandler(deps: AppDeps): http.RequestListener {
  const app = createApp(deps);
  return withFastReads(
    {
      cache: deps.cache,
      targetFiles: deps.targetFiles,
      timestampMaxAgeSeconds: deps.config.timestampMaxAgeSeconds,
      stats: deps.metrics.requests,
      logger: deps.logger,
    },
    app,
  );
}

const PROBES = new Set(['/healthz', '/readyz', '/metrics']);

export function createApp(deps: AppDeps): express.Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false); // ETags are the files' SHA-256, set by the routes
  app.set('query parser', 'simple');

  app.use(
    pinoHttp({
      logger: deps.logger,
      genReqId: (req, res) => {
        const given = req.headers['x-request-id'];
        const id = typeof given === 'string' && /^[A-Za-z0-9._-]{1,64}$/.test(given) ? given : randomUUID();
        res.setHeader('X-Request-Id', id);
        return id;
      },
      // Metadata reads are the hot path: log them only at debug level. Probes too, whatever they
      // answer: a 503 from /readyz is not an error, and ReadinessCheck logs each change once.
      customLogLevel: (req, res, err) =>
        PROBES.has((req.url ?? '').split('?')[0]!)
          ? 'debug'
          : err || res.statusCode >= 500
            ? 'error'
            : req.method === 'GET'
              ? 'debug'
              : 'info',
      serializers: {
        req: (req) => ({ id: req.id, method: req.method, url: req.url }),
        res: (res) => ({ statusCode: res.statusCode }),
      },
    }),
  );

  const stats = deps.metrics.requests;
  app.use((req, res, next) => {
    const started = performance.now();
    res.on('finish', () => {
      const route = req.route?.path ? String(req.baseUrl + req.route.path) : 'unmatched';
      stats.record(stats.route(req.method, route), res.statusCode, (performance.now() - started) / 1000);
    });
    next();
  });

  app.use(writeRateLimit(deps.config.writeRateLimitPerMinute, deps.clock));
  app.use(metadataRoutes(deps.cache, deps.config.timestampMaxAgeSeconds));
  app.use(merkleRoutes(deps.snapshots, deps.cache));
  app.use(targetRoutes(deps.targetFiles));
  app.use(healthRoutes(deps));
  for (const router of deps.readOnlyRouters ?? []) app.use(router);
  // One budget for every JSON body this process holds, one parsing policy for every route.
  const c = deps.config;
  const budget = new BodyBudget(c.maxBufferedBodyBytes);
  const parsing = { offThreadBytes: c.parseOffThreadBytes, limits: DEFAULT_JSON_SHAPE, runner: deps.bodyTasks };
  app.use(
    projectRoutes({
      ...deps,
      bodies: {
        maxRegistrationBytes: c.maxRegistrationBytes,
        maxProjectMetadataBytes: c.maxProjectMetadataBytes,
        maxTargetsPerProjectRole: c.maxTargetsPerProjectRole,
        bodyTimeoutSeconds: c.bodyTimeoutSeconds,
        maxConcurrentFileUploads: c.maxConcurrentFileUploads,
        budget,
        parsing,
      },
    }),
  );
  if (deps.devSigstoreRouter) app.use('/dev/sigstore', deps.devSigstoreRouter);
  app.use(
    adminRoutes({
      ...deps,
      bodies: {
        maxAdminMetadataBytes: c.maxAdminMetadataBytes,
        maxTargetBytes: c.maxTargetBytes,
        bodyTimeoutSeconds: c.bodyTimeoutSeconds,
        budget,
        parsing,
      },
    }),
  );
  app.use((_req, _res, next) => next(new HttpError(404, 'not_found', 'no such endpoint')));
  app.use(errorHandler);
  return app;
}
