// HTTP downloads with a hard length limit: the body is read chunk by chunk and the connection is
// dropped as soon as it goes past the limit (TUF "endless data" attack), or before reading at all
// when Content-Length already says so.

export type DownloadErrorCode = 'http_status' | 'too_long' | 'network';

export class DownloadError extends Error {
  override readonly name = 'DownloadError';
  constructor(
    readonly code: DownloadErrorCode,
    message: string,
    readonly url: string,
    /** The HTTP status, for `http_status`. */
    readonly status?: number,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** undici says only "fetch failed"; the reason (ECONNREFUSED, ENOTFOUND, a timeout) is in its cause. */
function networkCause(err: unknown): string {
  const e = err as { message?: string; name?: string; cause?: { code?: string; message?: string } };
  if (e.name === 'TimeoutError') return 'no answer within the timeout';
  const cause = e.cause?.code ?? e.cause?.message;
  return cause ? `${e.message ?? 'fetch failed'} (${cause})` : String(e.message ?? err);
}

export function isDownloadError(err: unknown, code?: DownloadErrorCode): err is DownloadError {
  return err instanceof DownloadError && (code === undefined || err.code === code);
}

/** tuf-js's URL join: one "/" between base and path, then WHATWG URL normalization. */
export function joinUrl(base: string, path: string): string {
  return new URL((base.endsWith('/') ? base : `${base}/`) + (path.startsWith('/') ? path.slice(1) : path)).toString();
}

export interface DownloadOptions {
  timeoutMs: number;
}

/**
 * Streams `url` into `sink`, at most `maxLength` bytes. Returns the number of bytes received. Throws
 * DownloadError: `http_status` (with the status), `too_long`, or `network`.
 */
export async function download(
  url: string,
  maxLength: number,
  sink: (chunk: Uint8Array) => void | Promise<void>,
  opts: DownloadOptions,
): Promise<number> {
  let res: Response;
  try {
    res = await fetch(url, { signal: AbortSignal.timeout(opts.timeoutMs), redirect: 'follow' });
  } catch (err) {
    throw new DownloadError('network', `Failed to download ${url}: ${networkCause(err)}`, url, undefined, { cause: err });
  }
  if (!res.ok || !res.body) {
    await res.body?.cancel().catch(() => undefined);
    throw new DownloadError('http_status', `Failed to download ${url}: HTTP ${res.status}`, url, res.status);
  }
  const tooLong = () => new DownloadError('too_long', `${url} exceeds the maximum length of ${maxLength} bytes`, url);
  const declared = Number(res.headers.get('content-length') ?? NaN);
  if (Number.isFinite(declared) && declared > maxLength) {
    await res.body.cancel().catch(() => undefined);
    throw tooLong();
  }
  const reader = res.body.getReader();
  let received = 0;
  try {
    for (;;) {
      let chunk: ReadableStreamReadResult<Uint8Array>;
      try {
        chunk = await reader.read();
      } catch (err) {
        throw new DownloadError('network', `Failed to download ${url}: ${(err as Error).message}`, url, undefined, { cause: err });
      }
      if (chunk.done) break;
      received += chunk.value.length;
      if (received > maxLength) throw tooLong();
      await sink(chunk.value);
    }
  } catch (err) {
    await reader.cancel().catch(() => undefined);
    throw err;
  } finally {
    reader.releaseLock();
  }
  return received;
}

/** The whole body, at most `maxLength` bytes. */
export async function downloadBytes(url: string, maxLength: number, opts: DownloadOptions): Promise<Buffer> {
  const chunks: Uint8Array[] = [];
  await download(url, maxLength, (c) => void chunks.push(c), opts);
  return Buffer.concat(chunks);
}
