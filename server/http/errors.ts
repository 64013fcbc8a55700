// The one place where domain errors become HTTP responses.
import type { ErrorRequestHandler } from 'express';
import { TufError, type TufErrorCode } from '../../core/errors.ts';
import { unavailableMessage } from '../failures.ts';
import { lingerOnClose } from './lingeringClose.ts';

export type HttpErrorCode =
  | TufErrorCode
  | 'unauthorized'
  | 'not_found'
  | 'too_large'
  | 'too_deep'
  | 'rate_limited'
  | 'bad_request'
  | 'unavailable'
  | 'body_timeout'
  | 'internal';

/** Errors raised by the HTTP layer itself (auth, schema, size). */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: HttpErrorCode,
    message: string,
    readonly details?: Record<string, unknown>,
  ) {
    super(message);
  }
}

const STATUS: Record<TufErrorCode, number> = {
  malformed: 400,
  wrong_type: 400,
  unsupported_spec_version: 400,
  bad_role_name: 400,
  bad_target_path: 400,
  duplicate_signature: 400,
  unsupported_key: 400,
  unknown_key: 400,
  threshold_not_met: 403,
  version_not_next: 409,
  already_bootstrapped: 409,
  not_bootstrapped: 409,
  signed_mismatch: 409,
  expired: 422,
  expiry_too_far: 422,
  online_keys_mismatch: 422,
  consistent_snapshot_required: 422,
  unknown_metadata: 404,
  target_file_missing: 422,
  target_hash_mismatch: 422,
  target_too_large: 413,
  upload_not_found: 404,
  too_many_targets: 422,
  not_delegated: 404,
  path_not_delegated: 403,
  already_delegated: 409,
  reserved_name: 409,
  confusable_name: 409,
  contested_project: 409,
  registration_limit_identity: 429,
  registration_limit_project: 409,
  stale_request: 422,
  nested_delegation: 400,
  provenance_missing: 422,
  provenance_invalid: 422,
  targets_resign_required: 409,
  bin_layout_changed: 409,
  not_an_offline_role: 409,
};

export interface ErrorBody {
  error: { code: HttpErrorCode; message: string; details?: Record<string, unknown> };
}

export function toHttp(err: unknown): { status: number; body: ErrorBody } {
  if (err instanceof TufError) {
    return {
      status: STATUS[err.code],
      body: { error: { code: err.code, message: err.message, ...(err.details ? { details: err.details } : {}) } },
    };
  }
  if (err instanceof HttpError) {
    return {
      status: err.status,
      body: { error: { code: err.code, message: err.message, ...(err.details ? { details: err.details } : {}) } },
    };
  }
  const unavailable = unavailableMessage(err);
  if (unavailable !== null) return { status: 503, body: { error: { code: 'unavailable', message: unavailable } } };
  const e = err as { type?: string; status?: number; limit?: number };
  if (e?.type === 'entity.too.large') {
    return { status: 413, body: { error: { code: 'too_large', message: `request body exceeds the limit of ${e.limit} bytes` } } };
  }
  if (e?.type === 'entity.parse.failed') {
    return { status: 400, body: { error: { code: 'malformed', message: 'request body is not valid JSON' } } };
  }
  if (typeof e?.status === 'number' && e.status >= 400 && e.status < 500) {
    return { status: e.status, body: { error: { code: 'bad_request', message: 'bad request' } } };
  }
  return { status: 500, body: { error: { code: 'internal', message: 'internal error; see the server log with this request id' } } };
}

export const errorHandler: ErrorRequestHandler = (err, req, res, _next) => {
  const { status, body } = toHttp(err);
  if (status >= 500) req.log?.error({ err }, 'request failed');
  else req.log?.info({ code: body.error.code }, 'request refused');
  res.locals.errorCode = body.error.code;
  // Refused before its body was read (too large, not delegated, no such upload...): close the
  // connection after answering rather than read the rest of what may be a hostile body.
  if (!req.complete && !res.headersSent) {
    res.setHeader('Connection', 'close');
    lingerOnClose(req.socket);
  }
  if (status === 503 && !res.getHeader('Retry-After')) res.setHeader('Retry-After', '5');
  res.status(status).json(body);
};
