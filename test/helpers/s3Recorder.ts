// An HTTP relay in front of an S3 gateway that records, in the order the gateway confirmed them,
// every object written through it (PutObject, CopyObject, a completed multipart upload), and
// keeps the bodies of the writes of one name (timestamp.json) so a test can check, write by
// write, that everything a timestamp reaches was in the bucket before it.
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface RecordedWrite {
  /** The object key (path-style: without the bucket). */
  key: string;
  bucket: string;
  /** The request body, for keys ending in `keepBodiesOf`. */
  body?: Buffer;
}

export interface S3Recorder {
  /** Point AWS_ENDPOINT_URL_S3 here. */
  url: string;
  writes: RecordedWrite[];
  close(): Promise<void>;
}

export async function startS3Recorder(target: string, keepBodiesOf = 'timestamp.json'): Promise<S3Recorder> {
  const upstream = new URL(target);
  const writes: RecordedWrite[] = [];
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://relay');
    const [, bucket = '', ...rest] = decodeURIComponent(url.pathname).split('/');
    const key = rest.join('/');
    const isWrite =
      (req.method === 'PUT' && !url.searchParams.has('partNumber') && key !== '') ||
      (req.method === 'POST' && url.searchParams.has('uploadId'));
    const keep = isWrite && key.endsWith(keepBodiesOf);
    const chunks: Buffer[] = [];
    const { expect: _expect, ...headers } = req.headers;
    const out = http.request({ host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers }, (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(res);
      answer.on('end', () => {
        // Recorded once the gateway confirmed it, before the client hears back.
        if (isWrite && (answer.statusCode ?? 500) < 300) writes.push({ key, bucket, ...(keep ? { body: Buffer.concat(chunks) } : {}) });
      });
    });
    out.on('error', () => {
      res.destroy();
    });
    req.on('data', (d: Buffer) => {
      if (keep) chunks.push(d);
      out.write(d);
    });
    req.on('end', () => out.end());
    req.on('error', () => out.destroy());
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    writes,
    async close() {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    },
  };
}
