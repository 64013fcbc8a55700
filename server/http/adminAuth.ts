// The one guard in front of /admin/*: a bearer admin token (see admin/adminTokens.ts).
import type { RequestHandler } from 'express';
import type { AdminTokens } from '../admin/adminTokens.ts';
import { HttpError } from './errors.ts';

export function requireAdmin(tokens: AdminTokens): RequestHandler {
  return async (req, res, next) => {
    const m = /^Bearer (\S+)$/.exec(req.get('authorization') ?? '');
    if (!m) return next(new HttpError(401, 'unauthorized', 'admin endpoints need "Authorization: Bearer <admin token>"'));
    const actor = await tokens.authenticate(m[1]!);
    if (!actor) return next(new HttpError(401, 'unauthorized', 'unknown or revoked admin token'));
    res.locals.actor = actor;
    next();
  };
}
