import { Router, type Response } from 'express';
import type { CachedFile, MetadataCache } from '../serving/metadataCache.ts';
import { HttpError } from './errors.ts';

export const IMMUTABLE = 'public, max-age=31536000, immutable';

export function sendCached(
  res: Response,
  ifNoneMatch: string | undefined,
  etag: string,
  cacheControl: string,
  contentType: string,
  bytes: Buffer,
): void {
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

/** Whether an Accept-Encoding header allows gzip (q=0 refuses it). */
export function acceptsGzip(header: string | undefined): boolean {
  if (!header) return false;
  return header.split(',').some((part) => {
    const [coding, ...params] = part.trim().toLowerCase().split(';');
    if (coding !== 'gzip' && coding !== '*') return false;
    const q = params.map((p) => p.trim()).find((p) => p.startsWith('q='));
    return q === undefined || Number(q.slice(2)) > 0;
  });
}

export function metadataRoutes(cache: MetadataCache, timestampMaxAgeSeconds: number): Router {
  const router = Router();
  router.get('/metadata/:name', async (req, res, next) => {
    const name = req.params.name;
    const file: CachedFile | null = await cache.get(name);
    if (!file) return next(new HttpError(404, 'not_found', `no metadata file ${name}`));
    const cacheControl = name === 'timestamp.json' ? `public, max-age=${timestampMaxAgeSeconds}` : IMMUTABLE;
    res.setHeader('Vary', 'Accept-Encoding');
    const compressed = acceptsGzip(req.get('accept-encoding')) ? cache.gzipped(file) : null;
    if (compressed) {
      // Its own strong ETag: the compressed bytes are another representation of the file.
      res.setHeader('Content-Encoding', 'gzip');
      sendCached(res, req.get('if-none-match'), `${file.etag.slice(0, -1)}.gz"`, cacheControl, 'application/json', await compressed);
      return;
    }
    sendCached(res, req.get('if-none-match'), file.etag, cacheControl, 'application/json', file.bytes);
  });
  return router;
}
