// A mirror's answer read whole, but never more than a bound: recovery runs as a server starts,
// and a mirror (a CDN, a bucket) that answers with an endless body must not exhaust its memory.
// Content-Length is checked first when given; a body without one is counted as it arrives.

/** The body of `res`, or an error once it passes `maxBytes` (the rest is not read). */
export async function readLimitedBody(res: Response, maxBytes: number, url: string): Promise<Buffer> {
  const tooLong = () => new Error(`${url}: more than ${maxBytes} bytes`);
  const declared = Number(res.headers.get('content-length') ?? NaN);
  if (Number.isFinite(declared) && declared > maxBytes) {
    await res.body?.cancel().catch(() => undefined);
    throw tooLong();
  }
  if (!res.body) return Buffer.alloc(0);
  const chunks: Uint8Array[] = [];
  let received = 0;
  const reader = res.body.getReader();
  try {
    for (;;) {
      const chunk = await reader.read();
      if (chunk.done) break;
      received += chunk.value.length;
      if (received > maxBytes) throw tooLong();
      chunks.push(chunk.value);
    }
  } catch (err) {
    await reader.cancel().catch(() => undefined);
    throw err;
  } finally {
    reader.releaseLock();
  }
  return Buffer.concat(chunks, received);
}
