// Node's own ceiling for the read cases: node's http module answering every request with one file's
// bytes and the server's headers, computed once, from as many processes (node:cluster) as the
// server runs, and nothing else: no routing, cache lookup, counters or checks. The server cannot
// answer faster than this on the same machine; the gap between this and nginx is node's HTTP stack.
// Usage: node --import tsx bench/nodeCeiling.ts FILE PORT WORKERS CACHE_CONTROL
import cluster from 'node:cluster';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';

const [file, port, workers, cacheControl] = process.argv.slice(2);
if (!file || !port || !workers || !cacheControl) throw new Error('usage: nodeCeiling.ts FILE PORT WORKERS CACHE_CONTROL');

if (cluster.isPrimary && Number(workers) > 1) {
  for (let i = 0; i < Number(workers); i++) cluster.fork();
  process.on('SIGTERM', () => {
    for (const w of Object.values(cluster.workers ?? {})) w?.process.kill('SIGTERM');
    process.exit(0);
  });
} else {
  const bytes = fs.readFileSync(file);
  const etag = `"${createHash('sha256').update(bytes).digest('hex')}"`;
  const headers = ['Vary', 'Accept-Encoding', 'ETag', etag, 'Cache-Control', cacheControl, 'Content-Type', 'application/json'];
  headers.push('Content-Length', String(bytes.length));
  http.createServer((_req, res) => res.writeHead(200, headers).end(bytes)).listen(Number(port), '127.0.0.1');
}
