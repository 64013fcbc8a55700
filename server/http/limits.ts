// Input limits in front of the handlers: nesting depth and size of JSON values, and a write rate per client.
import type { RequestHandler } from 'express';
import type { Clock } from '../../core/clock.ts';
import { DEFAULT_JSON_SHAPE, jsonShapeProblem } from '../../core/jsonShape.ts';
import { HttpError } from './errors.ts';

/**
 * Refuses JSON bodies nested deeper than `maxDepth` or with more than `maxNodes` values: the
 * canonical JSON encoder recurses, and a deep body must not become a stack overflow. The walk is
 * core's `jsonShapeProblem`, which the parsing workers run too.
 */
export function jsonShapeGuard(maxDepth = DEFAULT_JSON_SHAPE.maxDepth, maxNodes = DEFAULT_JSON_SHAPE.maxNodes): RequestHandler {
  return (req, _res, next) => {
    const body: unknown = req.body;
    if (typeof body !== 'object' || body === null || Buffer.isBuffer(body)) return next();
    const problem = jsonShapeProblem(body, { maxDepth, maxNodes });
    if (problem) return next(new HttpError(problem.code === 'too_deep' ? 400 : 413, problem.code, problem.message));
    next();
  };
}

/**
 * A fixed-window limit on write requests per client address, per process. A deployment behind a
 * proxy should set `trust proxy` so the address is the client's; several processes each apply it.
 */
export function writeRateLimit(perMinute: number, clock: Clock): RequestHandler {
  const windows = new Map<string, { start: number; count: number }>();
  return (req, res, next) => {
    if (perMinute <= 0 || req.method === 'GET' || req.method === 'HEAD') return next();
    const now = clock.now().getTime();
    const key = req.ip ?? 'unknown';
    let w = windows.get(key);
    if (!w || now - w.start >= 60_000) {
      w = { start: now, count: 0 };
      windows.set(key, w);
      if (windows.size > 100_000) {
        for (const [k, v] of windows) if (now - v.start >= 60_000) windows.delete(k);
      }
    }
    w.count += 1;
    if (w.count > perMinute) {
      res.setHeader('Retry-After', String(Math.ceil((w.start + 60_000 - now) / 1000)));
      return next(new HttpError(429, 'rate_limited', `more than ${perMinute} write requests a minute from this address; retry later`));
    }
    next();
  };
}
