// Request bodies, read by us rather than by express.json: a limit per route checked before and
// while reading, a deadline for slow senders, a budget for all bodies this process holds at once,
// and JSON parsing that moves to worker threads above a small size (server/http/bodyTasks.ts).
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import type { JsonShapeLimits } from '../../core/jsonShape.ts';
import type { BodyTaskRunner } from '../verifyPool.ts';
import { HttpError } from './errors.ts';
import { parseJsonText, rethrowTaskError } from './bodyTasks.ts';

/** Excess over a route's limit that is still read (and dropped) so that the client sees the 413; beyond it the connection is closed. */
const DRAIN_BYTES = 4 * 1024 * 1024;

/** Bytes of request bodies held in memory by this process at once. */
export class BodyBudget {
  private used = 0;
  constructor(readonly maxBytes: number) {}

  reserve(bytes: number): boolean {
    if (this.used + bytes > this.maxBytes) return false;
    this.used += bytes;
    return true;
  }

  release(bytes: number): void {
    this.used = Math.max(0, this.used - bytes);
  }

  get inUse(): number {
    return this.used;
  }
}

export interface RawBodyOptions {
  limitBytes: number;
  /** The whole body must arrive within this. */
  timeoutMs: number;
  budget: BodyBudget;
  /** For messages: "a registration", "project metadata"... */
  what: string;
}

function declaredLength(req: Request): number | null {
  const raw = req.headers['content-length'];
  if (raw === undefined) return null;
  return /^\d{1,15}$/.test(raw) ? Number(raw) : NaN;
}

/**
 * Reads the body into `req.body` (a Buffer). Refuses before reading when Content-Length is over the
 * limit; stops keeping bytes as soon as they pass it; 408 when the body is not whole in time; 503
 * when the process already holds `budget` bytes of bodies. The bytes are released when the answer
 * is sent.
 */
export function rawBody(opts: RawBodyOptions): RequestHandler {
  return (req: Request, res: Response, next: NextFunction) => {
    const encoding = (req.headers['content-encoding'] ?? 'identity').toLowerCase();
    if (encoding !== 'identity')
      return next(new HttpError(415, 'bad_request', `send ${opts.what} without Content-Encoding (got ${encoding})`));
    const declared = declaredLength(req);
    if (Number.isNaN(declared)) return next(new HttpError(400, 'bad_request', 'Content-Length is not a number'));
    const tooLarge = () => new HttpError(413, 'too_large', `${opts.what}: the request body exceeds the limit of ${opts.limitBytes} bytes`);
    if (declared !== null && declared > opts.limitBytes) {
      // A client that overshoots a little gets its answer after the rest is read and dropped;
      // a large body is not read at all (errors.ts closes the connection).
      if (declared - opts.limitBytes > DRAIN_BYTES) return next(tooLarge());
      req.resume();
      req.once('end', () => next(tooLarge()));
      req.once('error', () => {});
      return;
    }
    const chunks: Buffer[] = [];
    let received = 0;
    let held = 0;
    let done = false;
    let refused: HttpError | null = null;
    const release = () => {
      opts.budget.release(held);
      held = 0;
    };
    const busy = () => new HttpError(503, 'unavailable', 'the server is reading too many request bodies at once; retry shortly');
    // With a Content-Length the body is held in one buffer of that size, reserved up front; without
    // one, piece by piece as it arrives.
    let whole: Buffer | null = null;
    if (declared !== null && declared > 0) {
      if (!opts.budget.reserve(declared)) return next(busy());
      held = declared;
      whole = Buffer.allocUnsafe(declared);
    }
    res.once('close', release);
    const finish = (err: HttpError | null) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      req.off('data', onData);
      req.off('end', onEnd);
      if (err) {
        chunks.length = 0;
        whole = null;
        release();
        req.pause();
        return next(err);
      }
      req.body = whole ? whole.subarray(0, received) : chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, received);
      chunks.length = 0;
      next();
    };
    const onData = (chunk: Buffer) => {
      received += chunk.length;
      if (refused) {
        if (received - opts.limitBytes > DRAIN_BYTES) finish(refused);
        return;
      }
      if (received > opts.limitBytes) {
        refused = tooLarge();
        chunks.length = 0;
        release();
        return;
      }
      if (whole) {
        // node's parser never passes more than Content-Length.
        chunk.copy(whole, received - chunk.length);
        return;
      }
      if (!opts.budget.reserve(chunk.length)) return finish(busy());
      held += chunk.length;
      chunks.push(chunk);
    };
    const onEnd = () => finish(refused);
    const timer = setTimeout(
      () =>
        finish(
          new HttpError(408, 'body_timeout', `${opts.what}: the request body did not arrive within ${Math.round(opts.timeoutMs / 1000)} s`),
        ),
      opts.timeoutMs,
    );
    timer.unref();
    req.on('data', onData);
    req.once('end', onEnd);
    req.once('error', () => {
      // The client went away: nothing to answer.
      done = true;
      clearTimeout(timer);
      chunks.length = 0;
      release();
    });
  };
}

export interface JsonParsing {
  /** Bodies larger than this are parsed on a worker thread first. */
  offThreadBytes: number;
  limits: JsonShapeLimits;
  /** The worker pool; null parses every body on the main thread (VERIFY_WORKERS=0). */
  runner: BodyTaskRunner | null;
}

/**
 * The JSON value of a body read by `rawBody`. Above `offThreadBytes` a worker parses it and checks
 * its shape first, so that a hostile body (huge arrays, deep nesting, megabytes of numbers) costs
 * the event loop nothing; only a body that passed is parsed again here.
 */
export async function jsonOf(bytes: Buffer, parsing: JsonParsing): Promise<unknown> {
  if (bytes.length > parsing.offThreadBytes && parsing.runner) {
    const answer = await parsing.runner.run({ kind: 'json', bytes, limits: parsing.limits });
    if (answer === null) throw new HttpError(503, 'unavailable', 'no parsing worker could take the request body; retry shortly');
    if (!answer.result.ok) rethrowTaskError(answer.result.error);
    const back = answer.bytes;
    return JSON.parse(Buffer.from(back.buffer, back.byteOffset, back.byteLength).toString('utf8'));
  }
  return parseJsonText(bytes, parsing.limits);
}

/** `rawBody` then `jsonOf`: `req.body` becomes the parsed value. */
export function jsonBody(opts: RawBodyOptions, parsing: JsonParsing): RequestHandler[] {
  return [
    rawBody(opts),
    (req, _res, next) => {
      jsonOf(req.body as Buffer, parsing).then((value) => {
        req.body = value;
        next();
      }, next);
    },
  ];
}
