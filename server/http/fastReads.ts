// The read fast path (issue 14): metadata and target GETs and HEADs answered before express, with
// no request logger, router or per-request metrics objects in the way. A metadata file's headers
// are computed once per file and representation (identity, gzip) and written with one writeHead;
// counts and latencies go to typed arrays (requestStats.ts); a request log line is written only
// when the debug level is on. Anything this path does not recognise exactly (percent-encoded or
// odd paths, other methods) goes on to the express app, whose routes answer it as before; the
// answers here are the same, header for header, as metadataRoutes.ts and targetRoutes.ts give.
import { randomUUID } from 'node:crypto';
import type http from 'node:http';
import { pipeline } from 'node:stream/promises';
import type { Logger } from 'pino';
import { targetPathProblem } from '../../core/names.ts';
import type { RequestStats, RouteId } from '../requestStats.ts';
import type { CachedFile, MetadataCache } from '../serving/metadataCache.ts';
import type { TargetFiles } from '../serving/targetFiles.ts';
import { HttpError, toHttp } from './errors.ts';
import { acceptsGzip, IMMUTABLE } from './metadataRoutes.ts';

export interface FastReadDeps {
  cache: MetadataCache;
  targetFiles: TargetFiles;
  timestampMaxAgeSeconds: number;
  stats: RequestStats;
  logger: Logger;
}

/** One representation of a file: its status-200 and status-304 headers, ready for writeHead. */
interface Representation {
  etag: string;
  ok: string[];
  notModified: string[];
  bytes: Buffer;
}

interface Prepared {
  cacheControl: string;
  identity: Representation;
  /** Undefined until compressed (null: too small to be worth it). */
  gzip: Representation | null | undefined;
}

/**
 * A request header from the raw list, without node building the parsed headers object (a
 * measurable part of a read). Repeated headers are joined with ", " as node joins them.
 */
function header(req: http.IncomingMessage, lowerName: string): string | undefined {
  const raw = req.rawHeaders;
  let found: string | undefined;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    if (name.length === lowerName.length && name.toLowerCase() === lowerName)
      found = found === undefined ? raw[i + 1] : `${found}, ${raw[i + 1]}`;
  }
  return found;
}

/** If-None-Match, as metadataRoutes.ts's sendCached reads it. */
function matches(ifNoneMatch: string | undefined, etag: string): boolean {
  if (ifNoneMatch === undefined) return false;
  if (ifNoneMatch === etag) return true;
  return ifNoneMatch.split(',').some((t) => t.trim() === etag || t.trim() === '*');
}

function representation(bytes: Buffer, etag: string, cacheControl: string, gzip: boolean): Representation {
  const head = ['Vary', 'Accept-Encoding', ...(gzip ? ['Content-Encoding', 'gzip'] : []), 'ETag', etag, 'Cache-Control', cacheControl];
  return { etag, bytes, notModified: head, ok: [...head, 'Content-Type', 'application/json', 'Content-Length', String(bytes.length)] };
}

export function withFastReads(deps: FastReadDeps, fallback: http.RequestListener): http.RequestListener {
  const { cache, stats, logger } = deps;
  const prepared = new WeakMap<CachedFile, Prepared>();
  const timestampCacheControl = `public, max-age=${deps.timestampMaxAgeSeconds}`;
  const routes = {
    GET: { metadata: stats.route('GET', '/metadata/:name'), targets: stats.route('GET', '/targets/*segments') },
    HEAD: { metadata: stats.route('HEAD', '/metadata/:name'), targets: stats.route('HEAD', '/targets/*segments') },
  };
  // Accept-Encoding values are few distinct strings: each is read once.
  const gzipAccepted = new Map<string, boolean>();
  const acceptsGzipCached = (header: string | undefined): boolean => {
    if (header === undefined) return false;
    let yes = gzipAccepted.get(header);
    if (yes === undefined) {
      yes = acceptsGzip(header);
      if (gzipAccepted.size < 256) gzipAccepted.set(header, yes);
    }
    return yes;
  };

  function preparedFor(file: CachedFile, name: string): Prepared {
    let p = prepared.get(file);
    if (!p) {
      const cacheControl = name === 'timestamp.json' ? timestampCacheControl : IMMUTABLE;
      p = { cacheControl, identity: representation(file.bytes, file.etag, cacheControl, false), gzip: undefined };
      prepared.set(file, p);
    }
    return p;
  }

  function finish(route: RouteId, req: http.IncomingMessage, status: number, started: number): void {
    const ms = performance.now() - started;
    stats.record(route, status, ms / 1000);
    if (logger.isLevelEnabled('debug')) {
      logger.debug({ req: { method: req.method, url: req.url }, res: { statusCode: status }, responseTime: ms }, 'request completed');
    }
  }

  function send(req: http.IncomingMessage, res: http.ServerResponse, r: Representation, route: RouteId, started: number): void {
    if (matches(header(req, 'if-none-match'), r.etag)) {
      res.writeHead(304, r.notModified).end();
      return finish(route, req, 304, started);
    }
    res.writeHead(200, r.ok).end(r.bytes);
    finish(route, req, 200, started);
  }

  function fail(req: http.IncomingMessage, res: http.ServerResponse, err: unknown, route: RouteId, started: number): void {
    if (res.headersSent) {
      // A download cut short (the client went away, a piece could not be read): nothing more to say.
      res.destroy();
      return finish(route, req, res.statusCode, started);
    }
    const { status, body } = toHttp(err);
    const headers = ['Content-Type', 'application/json; charset=utf-8'];
    if (status >= 500) {
      // The answer says to look for this id in the log, as express's answers do.
      const given = req.headers['x-request-id'];
      const id = typeof given === 'string' && /^[A-Za-z0-9._-]{1,64}$/.test(given) ? given : randomUUID();
      logger.error({ err, req: { id, method: req.method, url: req.url } }, 'request failed');
      headers.push('X-Request-Id', id);
    }
    const text = JSON.stringify(body);
    headers.push('Content-Length', String(Buffer.byteLength(text)));
    if (status === 503) headers.push('Retry-After', '5');
    res.writeHead(status, headers).end(text);
    finish(route, req, status, started);
  }

  function metadata(req: http.IncomingMessage, res: http.ServerResponse, name: string, route: RouteId, started: number): void {
    const file = cache.getNow(name);
    if (file === undefined) {
      cache.get(name).then(
        (found) => (found ? serveFile(req, res, found, name, route, started) : notFound(req, res, name, route, started)),
        (err) => fail(req, res, err, route, started),
      );
      return;
    }
    if (file === null) return notFound(req, res, name, route, started);
    serveFile(req, res, file, name, route, started);
  }

  function serveFile(req: http.IncomingMessage, res: http.ServerResponse, file: CachedFile, name: string, route: RouteId, started: number) {
    const p = preparedFor(file, name);
    if (p.gzip !== null && acceptsGzipCached(header(req, 'accept-encoding'))) {
      if (p.gzip) return send(req, res, p.gzip, route, started);
      // The first request for the compressed variant waits for it (compressed once, off the main thread).
      const compressed = cache.gzipped(file);
      if (!compressed) {
        p.gzip = null;
        return send(req, res, p.identity, route, started);
      }
      compressed.then(
        (bytes) => {
          // Its own strong ETag: the compressed bytes are another representation of the file.
          p.gzip ??= representation(bytes, `${file.etag.slice(0, -1)}.gz"`, p.cacheControl, true);
          send(req, res, p.gzip, route, started);
        },
        (err) => fail(req, res, err, route, started),
      );
      return;
    }
    send(req, res, p.identity, route, started);
  }

  function notFound(req: http.IncomingMessage, res: http.ServerResponse, name: string, route: RouteId, started: number): void {
    const text = JSON.stringify({ error: { code: 'not_found', message: `no metadata file ${name}` } });
    res.writeHead(404, ['Content-Type', 'application/json; charset=utf-8', 'Content-Length', String(Buffer.byteLength(text))]).end(text);
    finish(route, req, 404, started);
  }

  async function target(req: http.IncomingMessage, res: http.ServerResponse, segments: string[], route: RouteId, started: number) {
    const last = segments.at(-1)!;
    const m = /^([0-9a-f]{64})\.(.+)$/.exec(last);
    const path = m ? [...segments.slice(0, -1), m[2]].join('/') : '';
    if (!m || targetPathProblem(path)) return fail(req, res, new HttpError(404, 'not_found', 'no such target'), route, started);
    const sha256 = m[1]!;
    const download = await deps.targetFiles.download(path, sha256);
    if (!download) return fail(req, res, new HttpError(404, 'not_found', `no target ${path} with sha256 ${sha256}`), route, started);
    // A file in object storage answered by a redirect (TARGET_DOWNLOADS=redirect): express answers
    // it, as it does everything this path does not take; the client's download goes elsewhere anyway.
    if (download.kind === 'redirect') return fallback(req, res);
    const content = download.content;
    const etag = `"${sha256}"`;
    if (matches(header(req, 'if-none-match'), etag)) {
      res.writeHead(304, ['ETag', etag, 'Cache-Control', IMMUTABLE]).end();
      return finish(route, req, 304, started);
    }
    res.writeHead(200, [
      'ETag',
      etag,
      'Cache-Control',
      IMMUTABLE,
      'Content-Type',
      'application/octet-stream',
      'Content-Length',
      String(content.length),
    ]);
    if (req.method === 'HEAD') {
      res.end();
      return finish(route, req, 200, started);
    }
    // Piece by piece from the database; a client that stops reading stops the reads.
    try {
      await pipeline(content.stream(), res);
      finish(route, req, 200, started);
    } catch (err) {
      fail(req, res, err, route, started);
    }
  }

  return (req, res) => {
    const method = req.method;
    const url = req.url ?? '';
    if ((method === 'GET' || method === 'HEAD') && url.indexOf('%') < 0) {
      const r = method === 'GET' ? routes.GET : routes.HEAD;
      const q = url.indexOf('?');
      const path = q < 0 ? url : url.slice(0, q);
      if (path.startsWith('/metadata/')) {
        const name = path.slice(10);
        if (name !== '' && name.indexOf('/') < 0) return metadata(req, res, name, r.metadata, performance.now());
      } else if (path.startsWith('/targets/')) {
        const segments = path.slice(9).split('/');
        if (segments.every((s) => s !== '' && s !== '.' && s !== '..')) {
          const started = performance.now();
          target(req, res, segments, r.targets, started).catch((err) => fail(req, res, err, r.targets, started));
          return;
        }
      }
    }
    fallback(req, res);
  };
}
