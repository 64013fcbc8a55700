// A mirror between clients and a test repository that serves each URL as the test decides: the
// repository's answer, or whatever bytes a hostile mirror would send instead (null: 404). Shared
// by the hostile-mirror tests of the client, of TAP 16 proofs and of the auditor.
import assert from 'node:assert/strict';
import type http from 'node:http';
import request from 'supertest';
import { buildTargetsSigned, describeTarget, expiresAfter } from '../../core/metadata.ts';
import { listen } from '../../server/runtime.ts';
import { signAs, type TestRepo } from './repo.ts';

/** What the mirror sends for a URL path; `upstream` fetches the repository's own answer. */
export type Rewrite = (urlPath: string, upstream: () => Promise<Buffer | null>) => Promise<Buffer | null | 'endless'>;

export interface Mirror {
  url: string;
  close(): Promise<void>;
}

/** The repository's answer to `urlPath`: its bytes, or null for anything but 2xx. */
export async function fetchUpstream(t: TestRepo, urlPath: string): Promise<Buffer | null> {
  const res = await fetch(`${t.baseUrl}${urlPath}`);
  return res.ok ? Buffer.from(await res.arrayBuffer()) : null;
}

/** Starts a mirror of `t` that asks `rewrite()` (read at each request, so a test may swap it) what to send. */
export async function startMirror(t: TestRepo, rewrite: () => Rewrite): Promise<Mirror> {
  const server: http.Server = await listen(
    async (req, res) => {
      const urlPath = req.url ?? '/';
      try {
        const body = await rewrite()(urlPath, () => fetchUpstream(t, urlPath));
        if (body === 'endless') return endless(res);
        if (!body) return void res.writeHead(404).end();
        res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': body.length }).end(body);
      } catch {
        res.writeHead(502).end();
      }
    },
    '127.0.0.1',
    0,
  );
  const addr = server.address();
  return {
    url: `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}`,
    async close() {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    },
  };
}

/** 64 MB of `{` for as long as the client reads: the "endless data" attack. */
function endless(res: http.ServerResponse): void {
  res.writeHead(200, { 'content-type': 'application/octet-stream' });
  const chunk = Buffer.alloc(64 * 1024, 0x7b);
  let sent = 0;
  const pump = () => {
    while (sent < 64 * 1024 * 1024) {
      sent += chunk.length;
      if (!res.write(chunk)) return void res.once('drain', pump);
    }
    res.end();
  };
  res.on('close', () => (sent = Infinity));
  pump();
}

/** Publishes `demo/app.tgz` with `content` as version `version` of project demo, signed by `identity`. */
export async function publishDemo(t: TestRepo, identity: string, version: number, content: string): Promise<void> {
  const file = Buffer.from(content);
  const env = await signAs(
    t,
    buildTargetsSigned({ version, expires: expiresAfter(t.clock.now(), 30 * 86_400), targets: { 'demo/app.tgz': describeTarget(file) } }),
    [{ identity }],
  );
  const res = await request(t.baseUrl)
    .post('/api/v1/projects/demo/uploads')
    .send({ metadata: env, files: { 'demo/app.tgz': file.toString('base64') } });
  assert.equal(res.status, 201, JSON.stringify(res.body));
}
