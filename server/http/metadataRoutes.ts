import { Router, type Response } from 'express';
import type { CachedFile, MetadataCache } from '../serving/metadataCache.ts';
import { HttpError } from './errors.ts';

export const IMMUTABLE = 'public, max-age=31536000, immutable';

export function sendCached(res: Response, ifNoneMatch: string | undefined, etag: string, cacheControl: string, contentType: string, bytes: Buffer): void {
  res.setHeader('ETag', etag);
  res.setHeader('Cache-Control', cacheControl);
  if (ifNoneMatch && ifNoneMatch.split(',').some((t) => t.trim() === etag || t.trim() === '*')) {
    res.status(304).end();
    return;
  }
  res.setHeader('Content-Type', contentType);
  res.setHeader('Content-Length', bytes.length);
  res.end(bytes);
}

export function metadataRoutes(cache: MetadataCache, timestampMaxAgeSeconds: number): Router {
  const router = Router();
  router.get('/metadata/:name', async (req, res, next) => {
    const name = req.params.name;
    const file: CachedFile | null = await cache.get(name);
    if (!file) return next(new HttpError(404, 'not_found', `no metadata file ${name}`));
    const cacheControl = name === 'timestamp.json' ? `public, max-age=${timestampMaxAgeSeconds}` : IMMUTABLE;
    sendCached(res, req.get('if-none-match'), file.etag, cacheControl, 'application/json', file.bytes);
  });
  return router;
}
