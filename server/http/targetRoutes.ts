import { Router } from 'express';
import { targetPathProblem } from '../../core/names.ts';
import type { TargetFiles } from '../serving/targetFiles.ts';
import { HttpError } from './errors.ts';
import { IMMUTABLE, sendCached } from './metadataRoutes.ts';

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
    const content = await files.get(path, sha256);
    if (!content) return next(new HttpError(404, 'not_found', `no target ${path} with sha256 ${sha256}`));
    sendCached(res, req.get('if-none-match'), `"${sha256}"`, IMMUTABLE, 'application/octet-stream', content);
  });
  return router;
}
