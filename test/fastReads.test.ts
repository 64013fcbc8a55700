// The read fast path (server/http/fastReads.ts) answers exactly as the express routes do: every
// metadata and target read is compared, status, headers and body, with the same read sent in a form
// only express takes (a percent-encoded name), for GET and HEAD, with and without gzip, If-None-Match
// and missing files. Its counts reach /metrics, it logs reads only at debug level, and a database
// failure behind a read is a 503 like express gives.
import assert from 'node:assert/strict';
import http from 'node:http';
import { after, before, test } from 'node:test';
import { Writable } from 'node:stream';
import pino from 'pino';
import { sha256Hex } from '../core/canonical.ts';
import { createKnex, SILENT_KNEX_LOG } from '../server/db/knex.ts';
import { withFastReads } from '../server/http/fastReads.ts';
import { listen } from '../server/runtime.ts';
import { RequestStats } from '../server/requestStats.ts';
import { MetadataCache } from '../server/serving/metadataCache.ts';
import { SnapshotFollower } from '../server/serving/snapshotFollower.ts';
import type { TargetFiles } from '../server/serving/targetFiles.ts';
import { bootstrapWithBins, startTestRepo, type TestRepo } from './helpers/repo.ts';

let t: TestRepo;
let targetPath = '';

before(async () => {
  t = await startTestRepo();
  await bootstrapWithBins(t, 64); // a top-level targets of well over 4 KB: served gzip'd too
  const targets = JSON.parse((await get('/metadata/1.targets.json')).body.toString()) as { signed: { targets: Record<string, unknown> } };
  targetPath = Object.keys(targets.signed.targets)[0]!;
});
after(async () => t.close());

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

function get(path: string, headers: Record<string, string> = {}, method = 'GET'): Promise<Answer> {
  const url = new URL(t.baseUrl);
  return new Promise((resolve, reject) => {
    const req = http.request({ host: url.hostname, port: url.port, path, method, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks) }));
    });
    req.on('error', reject);
    req.end();
  });
}

/** What a client can see of an answer, without what differs between any two answers (date, request id). */
function comparable(a: Answer): unknown {
  const { date: _date, 'x-request-id': _id, ...headers } = a.headers;
  return { status: a.status, headers, body: a.body.toString('base64') };
}

/** The same path in a form the fast path leaves to express: its last '.' percent-encoded. */
function viaExpress(path: string): string {
  const i = path.lastIndexOf('.');
  return `${path.slice(0, i)}%2E${path.slice(i + 1)}`;
}

test('metadata reads: the fast path answers as the express route, for GET and HEAD, gzip, If-None-Match and missing files', async () => {
  const ts = await get('/metadata/timestamp.json');
  const big = await get('/metadata/1.targets.json');
  assert.ok(big.body.length >= 4096, 'a file served compressed too');
  const gzEtag = `"${sha256Hex(big.body)}.gz"`;
  const names = [
    'timestamp.json',
    '1.root.json',
    '1.targets.json',
    '1.snapshot.json',
    '1.bin-00.json',
    '2.root.json',
    '1.timestamp.json',
    '1.nothing.json',
  ];
  const variants: Record<string, string>[] = [
    {},
    { 'accept-encoding': 'gzip' },
    { 'accept-encoding': 'br;q=1, gzip;q=0.5' },
    { 'accept-encoding': 'gzip;q=0' },
    { 'if-none-match': String(ts.headers.etag) },
    { 'if-none-match': String(big.headers.etag) },
    { 'if-none-match': `"nope", ${String(big.headers.etag)}` },
    { 'if-none-match': '*' },
    { 'accept-encoding': 'gzip', 'if-none-match': gzEtag },
    { 'accept-encoding': 'identity', 'if-none-match': gzEtag },
  ];
  let compared = 0;
  for (const name of names) {
    for (const headers of variants) {
      for (const method of ['GET', 'HEAD']) {
        const fast = await get(`/metadata/${name}`, headers, method);
        const slow = await get(viaExpress(`/metadata/${name}`), headers, method);
        assert.deepEqual(comparable(fast), comparable(slow), `${method} ${name} ${JSON.stringify(headers)}`);
        compared += 1;
      }
    }
  }
  // What the comparison covered: answers of each kind.
  assert.equal((await get('/metadata/1.targets.json', { 'accept-encoding': 'gzip' })).headers['content-encoding'], 'gzip');
  assert.equal((await get('/metadata/1.targets.json', { 'if-none-match': '*' })).status, 304);
  assert.equal((await get('/metadata/2.root.json')).status, 404);
  assert.equal((await get('/metadata/1.root.json', {}, 'HEAD')).body.length, 0);
  assert.equal(compared, names.length * variants.length * 2);
  // Query strings are ignored, as express ignores them.
  assert.deepEqual(comparable(await get('/metadata/1.root.json?x=1')), comparable(await get(viaExpress('/metadata/1.root.json'))));
});

test('target reads: the fast path answers as the express route', async () => {
  const bytes = (await get('/metadata/1.targets.json')).body;
  const sha256 = (JSON.parse(bytes.toString()) as { signed: { targets: Record<string, { hashes: { sha256: string } }> } }).signed.targets[
    targetPath
  ]!.hashes.sha256;
  const dir = targetPath.split('/').slice(0, -1).join('/');
  const file = targetPath.split('/').at(-1)!;
  const paths = [`/targets/${dir}/${sha256}.${file}`, `/targets/${dir}/${'0'.repeat(64)}.${file}`, `/targets/${dir}/${file}`];
  for (const path of paths) {
    for (const headers of [{}, { 'if-none-match': `"${sha256}"` }] as Record<string, string>[]) {
      for (const method of ['GET', 'HEAD']) {
        assert.deepEqual(
          comparable(await get(path, headers, method)),
          comparable(await get(viaExpress(path), headers, method)),
          `${method} ${path}`,
        );
      }
    }
  }
  assert.equal((await get(paths[0]!)).status, 200);
});

test('fast reads are counted in /metrics by route and status', async () => {
  const metric = async (status: number) => {
    const text = (await get('/metrics')).body.toString();
    const m = new RegExp(`^http_requests_total\\{method="GET",route="/metadata/:name",status="${status}"\\} (\\d+)`, 'm').exec(text);
    return Number(m?.[1] ?? 0);
  };
  const [ok, missing] = [await metric(200), await metric(404)];
  for (let i = 0; i < 5; i++) await get('/metadata/timestamp.json');
  await get('/metadata/9.root.json');
  assert.equal(await metric(200), ok + 5);
  assert.equal(await metric(404), missing + 1);
  assert.match(
    (await get('/metrics')).body.toString(),
    /^http_request_duration_seconds_count\{method="GET",route="\/metadata\/:name"\} \d+/m,
  );
});

/** A fast path over `cache` alone, logging into `lines` at `level`. */
async function standalone(cache: MetadataCache, level: string, lines: string[]): Promise<{ url: string; close(): Promise<void> }> {
  const sink = new Writable({ write: (chunk, _e, cb) => (lines.push(String(chunk)), cb()) });
  const handler = withFastReads(
    { cache, targetFiles: {} as TargetFiles, timestampMaxAgeSeconds: 30, stats: new RequestStats(), logger: pino({ level }, sink) },
    (_req, res) => res.writeHead(418).end(),
  );
  const server = await listen(handler, '127.0.0.1', 0);
  return {
    url: `http://127.0.0.1:${(server.address() as { port: number }).port}`,
    close: () => new Promise((r) => server.close(() => r())),
  };
}

test('reads are logged only when the debug level is on; a database failure behind a read answers 503 with a request id', async () => {
  // Nothing listens on port 1: any read that needs the database fails to connect.
  const knex = createKnex('postgres://nobody@127.0.0.1:1/nothing', 1, { log: SILENT_KNEX_LOG });
  const cache = new MetadataCache(knex, 'test', pino({ level: 'silent' }), 1 << 20, new SnapshotFollower(knex, 4, true));
  const bytes = Buffer.from('{"signed":{},"signatures":[]}');
  await cache.applyPublished([
    { role: 'root', version: 3, file: { bytes, sha256: sha256Hex(bytes), expires: new Date(Date.now() + 1e9) } },
  ]);
  for (const level of ['info', 'debug']) {
    const lines: string[] = [];
    const s = await standalone(cache, level, lines);
    try {
      assert.equal((await fetch(`${s.url}/metadata/3.root.json`)).status, 200);
      const failed = await fetch(`${s.url}/metadata/2.root.json`); // known to exist, not held: read from the database
      assert.equal(failed.status, 503);
      assert.equal(failed.headers.get('retry-after'), '5');
      assert.match(failed.headers.get('x-request-id') ?? '', /^[0-9a-f-]{36}$/);
      assert.equal(((await failed.json()) as { error: { code: string } }).error.code, 'unavailable');
      assert.equal((await fetch(`${s.url}/metadata/x/y`)).status, 418, 'what the fast path does not take goes on');
      const reads = lines.filter((l) => l.includes('request completed'));
      assert.equal(reads.length, level === 'debug' ? 2 : 0, `${level}: ${lines.join('')}`);
      assert.equal(lines.filter((l) => l.includes('request failed')).length, 1, 'a failure is logged at any level');
    } finally {
      await s.close();
    }
  }
  await knex.destroy();
});
