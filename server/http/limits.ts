// Input limits in front of the handlers: nesting depth of JSON bodies, and a write rate per client.
import type { RequestHandler } from 'express';
import type { Clock } from '../../core/clock.ts';
import { HttpError } from './errors.ts';

/**
 * Refuses JSON bodies nested deeper than `maxDepth` or with more than `maxNodes` values: the
 * canonical JSON encoder recurses, and a deep body must not become a stack overflow.
 */
export function jsonShapeGuard(maxDepth = 64, maxNodes = 1_000_000): RequestHandler {
  return (req, _res, next) => {
    const body: unknown = req.body;
    if (typeof body !== 'object' || body === null || Buffer.isBuffer(body)) return next();
    const stack: [unknown, number][] = [[body, 1]];
    let nodes = 0;
    while (stack.length > 0) {
      const [value, depth] = stack.pop()!;
      nodes += 1;
      if (depth > maxDepth) return next(new HttpError(400, 'too_deep', `JSON body nested deeper than ${maxDepth} levels`));
      if (nodes > maxNodes) return next(new HttpError(413, 'too_large', `JSON body has more than ${maxNodes} values`));
      if (typeof value === 'object' && value !== null) {
        for (const child of Array.isArray(value) ? value : Object.values(value)) {
          if (typeof child === 'object' && child !== null) stack.push([child, depth + 1]);
          else nodes += 1;
        }
      }
    }
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
