import { pipeline } from 'node:stream/promises';
import { Router } from 'express';
import { targetPathProblem } from '../../core/names.ts';
import type { TargetFiles } from '../serving/targetFiles.ts';
import { HttpError } from './errors.ts';
import { IMMUTABLE } from './metadataRoutes.ts';

/** `/targets/<dir>/<sha256>.<name>`: the consistent-snapshot layout clients build from the first hash. */
export function targetRoutes(files: TargetFiles): Router {
  const router = Router();
  router.get('/targets/*segments', async (req, res, next) => {
    const segments = (req.params as unknown as { segments: string[] }).segments;
    const last = segments.at(-1) ?? '';
    const m = /^([0-9a-f]{64})\.(.+)$/.exec(last);
    const path = m ? [...segments.slice(0, -1), m[2]].join('/') : '';
    if (!m || targetPathProblem(path)) return next(new HttpError(404, 'not_found', 'no such target'));
    const sha256 = m[1]!;
    const download = await files.download(path, sha256);
    if (!download) return next(new HttpError(404, 'not_found', `no target ${path} with sha256 ${sha256}`));
    if (download.kind === 'redirect') {
      // Held in object storage (TARGET_DOWNLOADS=redirect): the client fetches it there and verifies it as always.
      res.setHeader('Cache-Control', download.cacheControl);
      res.redirect(302, download.url);
      return;
    }
    const content = download.content;
    const etag = `"${sha256}"`;
    res.setHeader('ETag', etag);
    res.setHeader('Cache-Control', IMMUTABLE);
    const ifNoneMatch = req.get('if-none-match');
    if (ifNoneMatch && ifNoneMatch.split(',').some((t) => t.trim() === etag || t.trim() === '*')) {
      res.status(304).end();
      return;
    }
    res.setHeader('Content-Type', 'application/octet-stream');
    res.setHeader('Content-Length', content.length);
    if (req.method === 'HEAD') {
      res.end();
      return;
    }
    // Piece by piece from the database; a client that stops reading stops the reads.
    try {
      await pipeline(content.stream(), res);
    } catch (err) {
      if (!res.headersSent) return next(err);
      res.destroy();
    }
  });
  return router;
}
