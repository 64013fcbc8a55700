// The console: a page shell and a small script (no build step, no CDN) under /console/, and the
// read-only catalog API it reads beside the admin and maintainer APIs. Pages render what the JSON
// API answers, nothing else; admin pages send the token the person typed (kept in the tab's
// sessionStorage) as a bearer header, never in a URL. There is no write action anywhere.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Router, type Response } from 'express';
import type { Knex } from 'knex';
import { z } from 'zod';
import type { Clock } from '../../core/clock.ts';
import { assertDelegatedRoleName } from '../../core/names.ts';
import { parseBody } from '../http/schema.ts';
import type { DelegationIndex } from '../serving/delegationIndex.ts';
import type { MetadataCache } from '../serving/metadataCache.ts';
import { Catalog } from './catalog.ts';

const ASSETS_DIR = path.join(path.dirname(fileURLToPath(import.meta.url)), 'assets');
const TYPES: Record<string, string> = {
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.html': 'text/html; charset=utf-8',
};

/** Scripts and styles from this origin only; no inline code, frames, or other hosts. */
const CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self'",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

const listQuery = z.object({
  q: z.string().max(200).default(''),
  limit: z.coerce.number().int().min(1).max(500).default(50),
  after: z.string().max(256).optional(),
});
const historyQuery = z.object({
  before: z.coerce.number().int().min(1).optional(),
  limit: z.coerce.number().int().min(1).max(200).default(20),
});

function loadAssets(): Map<string, { bytes: Buffer; type: string }> {
  const out = new Map<string, { bytes: Buffer; type: string }>();
  for (const name of fs.readdirSync(ASSETS_DIR)) {
    const type = TYPES[path.extname(name)];
    if (type) out.set(name, { bytes: fs.readFileSync(path.join(ASSETS_DIR, name)), type });
  }
  return out;
}

function secured(res: Response): Response {
  res.setHeader('Content-Security-Policy', CSP);
  res.setHeader('Referrer-Policy', 'no-referrer');
  res.setHeader('X-Content-Type-Options', 'nosniff');
  return res;
}

export function consoleRoutes(deps: {
  knex: Knex;
  cache: MetadataCache;
  delegations: DelegationIndex;
  clock: Clock;
  expiryWarningSeconds: number;
}): Router {
  const router = Router();
  const catalog = new Catalog(deps);
  const assets = loadAssets();
  const shell = assets.get('shell.html')!;

  router.get('/api/v1/repository', async (_req, res) => {
    res.json(await catalog.overview());
  });
  router.get('/api/v1/projects', async (req, res) => {
    const q = parseBody(listQuery, req.query, 'projects query');
    res.json(await catalog.projects(q.q, q.limit, q.after ?? null));
  });
  router.get('/api/v1/projects/:project/history', async (req, res) => {
    const project = String(req.params.project);
    assertDelegatedRoleName(project);
    const q = parseBody(historyQuery, req.query, 'history query');
    res.json(await catalog.history(project, q.before ?? null, q.limit));
  });

  // Express matches /console/ here too (routing is not strict): only the bare path moves.
  router.get('/console', (req, res, next) => (req.path === '/console' ? res.redirect(301, '/console/') : next()));
  router.get('/console/assets/:name', (req, res, next) => {
    const asset = req.params.name === 'shell.html' ? undefined : assets.get(String(req.params.name));
    if (!asset) return next();
    secured(res).type(asset.type).setHeader('Cache-Control', 'no-cache');
    res.end(asset.bytes);
  });
  // Every page is the same shell; the script renders the one its path names.
  router.get(['/console/', '/console/*page'], (_req, res) => {
    secured(res).type(shell.type).setHeader('Cache-Control', 'no-cache');
    res.end(shell.bytes);
  });
  return router;
}
