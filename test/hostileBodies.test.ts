// Hostile request bodies (issue 19, part 1): oversized, array-first, deeply nested, and slow-sent
// bodies on every write route are refused with a clear code, unread where the size or the route
// already says no, and nothing is stored. (How long reads wait meanwhile is measured by the bench,
// `npm run bench`, "Hostile load"; tests assert codes and behaviour only.)
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { after, before, test } from 'node:test';
import request from 'supertest';
import { buildTargetsSigned, describeTarget, expiresAfter } from '../core/metadata.ts';
import { bootstrappedWithSigstore, delegateProject, signAs, startTestRepo, type TestRepo } from './helpers/repo.ts';

const ALICE = 'alice@example.com';
const MiB = 1024 * 1024;
let t: TestRepo;

before(async () => {
  // Every body that is not tiny goes to the parsing workers; slow senders get one second.
  const started = await bootstrappedWithSigstore({
    env: { WRITE_RATE_LIMIT_PER_MINUTE: '0', PARSE_OFF_THREAD_BYTES: '1024', BODY_TIMEOUT_SECONDS: '1', HEADERS_TIMEOUT_SECONDS: '1' },
  });
  t = started.t;
  await delegateProject(t, started.keys, 'demo', [ALICE]);
  await delegateProject(t, started.keys, 'slow', [ALICE]);
});
after(async () => t.close());

async function state(repo: TestRepo = t): Promise<string> {
  const rows = await repo.repo.knex.raw(`select
    (select count(*) from metadata_versions) as metadata, (select count(*) from pending_uploads) as pending,
    (select count(*) from registrations) as registrations, (select count(*) from target_blobs) as blobs,
    (select count(*) from target_blob_chunks) as chunks, (select count(*) from audit_log) as audit`);
  return JSON.stringify(rows.rows[0]);
}

interface Answer {
  status: number;
  code: string | undefined;
  /** The server closed the connection after answering (it did not read the rest). */
  closed: boolean;
}

/**
 * Sends `size` bytes made by `fill` (with Content-Length unless `chunked`), resolving on the
 * answer: a server that refuses early answers before the body is sent, and may close on us.
 */
function send(
  method: string,
  path: string,
  size: number,
  fill: (offset: number, n: number) => Buffer,
  opts: { chunked?: boolean; headers?: Record<string, string>; readAfterMs?: number } = {},
): Promise<Answer> {
  // A raw socket, not http.request: a server that answers and closes before the body is sent
  // makes the client's next write fail (EPIPE), and http.request then drops the answer it had
  // already received. Here every byte the server sent is read until it closes the connection.
  return new Promise((resolve, reject) => {
    const { hostname, port } = new URL(t.baseUrl);
    const socket = net.connect(Number(port), hostname);
    const received: Buffer[] = [];
    let done = false;
    // A client busy sending does not read at once: the answer waits in its kernel's buffer, where
    // a server that closes with our bytes unread (a TCP reset) would have it thrown away.
    let deaf = (opts.readAfterMs ?? 0) > 0;
    if (deaf) {
      socket.pause();
      setTimeout(() => {
        deaf = false;
        socket.resume();
      }, opts.readAfterMs);
    }
    /** The answer once its head and its Content-Length of body are in; null before. */
    const answer = (): Answer | null => {
      const bytes = Buffer.concat(received);
      const end = bytes.indexOf('\r\n\r\n');
      if (end < 0) return null;
      const head = bytes.subarray(0, end).toString('utf8').toLowerCase();
      const status = /^http\/1\.1 (\d{3})/.exec(head);
      const length = /\r\ncontent-length: (\d+)/.exec(head);
      const body = bytes.subarray(end + 4);
      if (!status || !length || body.length < Number(length[1])) return null;
      let code: string | undefined;
      try {
        code = JSON.parse(body.subarray(0, Number(length[1])).toString('utf8')).error?.code;
      } catch {
        code = undefined;
      }
      return { status: Number(status[1]), code, closed: /\r\nconnection: close/.test(head) };
    };
    const finish = () => {
      const a = answer();
      if (done || !a) return;
      done = true;
      socket.destroy();
      resolve(a);
    };
    socket.on('data', (d: Buffer) => {
      received.push(d);
      finish();
    });
    socket.on('error', () => {}); // EPIPE or ECONNRESET once the server has closed: judged on close
    socket.on('close', () => {
      finish();
      if (!done) reject(new Error(`no complete answer before the server closed the connection (${Buffer.concat(received).length} bytes)`));
    });
    const headers: Record<string, string> = { host: `${hostname}:${port}`, 'content-type': 'application/json', ...opts.headers };
    if (opts.chunked) headers['transfer-encoding'] = 'chunked';
    else headers['content-length'] = String(size);
    socket.write(
      `${method} ${path} HTTP/1.1\r\n${Object.entries(headers)
        .map(([k, v]) => `${k}: ${v}\r\n`)
        .join('')}\r\n`,
    );
    let offset = 0;
    const pump = () => {
      while (offset < size && (deaf || received.length === 0) && !socket.destroyed) {
        const n = Math.min(256 * 1024, size - offset);
        const piece = fill(offset, n);
        const ok = socket.write(opts.chunked ? Buffer.concat([Buffer.from(`${n.toString(16)}\r\n`), piece, Buffer.from('\r\n')]) : piece);
        offset += n;
        if (!ok) return void socket.once('drain', pump);
      }
      if (!socket.destroyed && opts.chunked && offset >= size) socket.write('0\r\n\r\n');
    };
    pump();
  });
}

/** `{"metadata": {"signed": [0,0,0,...` : an array first, as large as asked. */
const arrayFirst = (size: number) => {
  const head = Buffer.from('{"metadata": {"signed": [');
  return (offset: number, n: number) => {
    const out = Buffer.alloc(n, offset % 2 === 0 ? '0,' : ',0');
    if (offset === 0) head.copy(out, 0, 0, Math.min(n, head.length));
    if (offset + n === size) out[n - 1] = 0x30;
    return out;
  };
};

test('oversized bodies are refused by size, a large one without being read', async () => {
  const before = await state();
  const cases: [string, () => Promise<Answer>, number, string, boolean][] = [
    [
      '20 MB array-first upload',
      () => send('POST', '/api/v1/projects/demo/uploads', 20 * MiB, arrayFirst(20 * MiB)),
      413,
      'too_large',
      true,
    ],
    [
      '20 MB array-first upload, chunked',
      () => send('POST', '/api/v1/projects/demo/uploads', 20 * MiB, arrayFirst(20 * MiB), { chunked: true }),
      413,
      'too_large',
      true,
    ],
    [
      '120 MB upload',
      () => send('POST', '/api/v1/projects/demo/uploads', 120 * MiB, (_o, n) => Buffer.alloc(n, 0x20)),
      413,
      'too_large',
      true,
    ],
    [
      '24 MB upload by a client that reads its answer half a second late',
      () => send('POST', '/api/v1/projects/demo/uploads', 24 * MiB, (_o, n) => Buffer.alloc(n, 0x20), { readAfterMs: 500 }),
      413,
      'too_large',
      true,
    ],
    [
      'a registration of 40 KiB',
      () => send('POST', '/api/v1/registrations', 40 * 1024, (_o, n) => Buffer.alloc(n, 0x20)),
      413,
      'too_large',
      false,
    ],
    [
      '20 MB of admin metadata without a token',
      () => send('POST', '/admin/metadata/targets', 20 * MiB, arrayFirst(20 * MiB)),
      401,
      'unauthorized',
      true,
    ],
    [
      '20 MB file for an upload nobody opened',
      () => send('PUT', `/api/v1/projects/demo/uploads/${'c'.repeat(64)}/files/demo/x.tgz`, 20 * MiB, (_o, n) => Buffer.alloc(n, 1)),
      404,
      'upload_not_found',
      true,
    ],
  ];
  for (const [what, run, status, code, closed] of cases) {
    const answer = await run();
    assert.equal(answer.status, status, `${what}: ${JSON.stringify(answer)}`);
    assert.equal(answer.code, code, what);
    if (closed) assert.equal(answer.closed, true, `${what}: the connection is closed rather than the body read`);
  }
  assert.equal(await state(), before);
});

test('a refused client that goes on sending is read only for a while, then cut off', async () => {
  // Announces 8 GB and never stops: the server answers 413, drops what comes for a bounded time
  // and number of bytes (server/http/lingeringClose.ts) and closes while the client is still far
  // from done.
  const size = 8 * 1024 * MiB;
  const { hostname, port } = new URL(t.baseUrl);
  const outcome = await new Promise<{ head: string; sent: number }>((resolve) => {
    // Half-open allowed: the server's FIN does not end our side, we go on sending.
    const socket = net.connect({ port: Number(port), host: hostname, allowHalfOpen: true });
    let head = '';
    let sent = 0;
    socket.on('data', (d: Buffer) => (head += d.toString('latin1')));
    socket.on('error', () => {});
    socket.on('close', () => resolve({ head, sent }));
    socket.write(
      `POST /api/v1/projects/demo/uploads HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: ${size}\r\n\r\n`,
    );
    const piece = Buffer.alloc(256 * 1024, 0x20);
    const pump = () => {
      while (!socket.destroyed && sent < size) {
        sent += piece.length;
        if (!socket.write(piece)) return void socket.once('drain', pump);
      }
    };
    pump();
  });
  assert.match(outcome.head, /^HTTP\/1\.1 413/);
  assert.match(outcome.head, /"too_large"/);
  assert.ok(outcome.sent < size, `the connection was closed after ${outcome.sent} of ${size} bytes`);
});

test('hostile bodies under the size limit are refused by the parsing worker with a clear code', async () => {
  const before = await state();
  // Just under 2 MiB: a million and one values in the array that comes first.
  const values = Array.from({ length: 1_000_001 }, () => '0').join(',');
  const tooMany = `{"metadata": {"signed": {"_type": "targets", "x": [${values}]}, "signatures": []}, "files": {}}`;
  const arrayInsteadOfObject = `{"metadata": {"signed": [${Array.from({ length: 200_000 }, () => '1').join(',')}], "signatures": []}, "files": {}}`;
  const deep = `{"metadata": {"signed": ${'['.repeat(500_000)}${']'.repeat(500_000)}, "signatures": []}}`;
  const manyKeys = `{${Array.from({ length: 100_000 }, (_, i) => `"k${i}": ${i}`).join(',')}}`;
  // Tuf-js reads targets in quadratic time: a role with too many is refused before it does.
  const manyTargets = JSON.stringify({
    metadata: {
      signed: buildTargetsSigned({
        version: 1,
        expires: expiresAfter(t.clock.now(), 86_400),
        targets: Object.fromEntries(
          Array.from({ length: 1001 }, (_, i) => [`demo/f${i}`, { length: 1, hashes: { sha256: 'a'.repeat(64) } }]),
        ),
      }),
      signatures: [{ keyid: 'x', sig: 'x' }],
    },
  });
  const cases: [string, string, string, number, string][] = [
    ['a million values, array first', '/api/v1/projects/demo/uploads', tooMany, 413, 'too_large'],
    ['an array where signed belongs', '/api/v1/projects/demo/uploads', arrayInsteadOfObject, 400, 'malformed'],
    ['nested 500,000 deep', '/api/v1/projects/demo/uploads', deep, 400, 'too_deep'],
    ['100,000 unknown fields', '/api/v1/projects/demo/uploads', manyKeys, 400, 'bad_request'],
    ['1,001 targets', '/api/v1/projects/demo/uploads', manyTargets, 422, 'too_many_targets'],
    ['a deep registration', '/api/v1/registrations', `${'['.repeat(10_000)}${']'.repeat(10_000)}`, 400, 'too_deep'],
    ['admin metadata nested 500,000 deep (with a token)', '/admin/metadata/targets', deep, 400, 'too_deep'],
  ];
  for (const [what, path, body, status, code] of cases) {
    assert.ok(Buffer.byteLength(body) < 2 * MiB, what);
    const res = await request(t.baseUrl)
      .post(path)
      .set('content-type', 'application/json')
      .set('authorization', `Bearer ${t.adminToken}`)
      .send(body);
    assert.equal(res.status, status, `${what}: ${res.status} ${JSON.stringify(res.body).slice(0, 300)}`);
    assert.equal(res.body.error?.code, code, what);
  }
  assert.equal(await state(), before);
});

test('slow senders are cut off: headers, JSON bodies and streamed files', async () => {
  const before = await state();
  // Headers trickled: node answers 408 after HEADERS_TIMEOUT_SECONDS and closes.
  const trickled = await new Promise<string>((resolve) => {
    const socket = net.connect(Number(new URL(t.baseUrl).port), '127.0.0.1');
    let text = '';
    socket.on('data', (d) => (text += d.toString('latin1')));
    socket.on('close', () => resolve(text));
    socket.on('error', () => {});
    socket.write('POST /api/v1/registrations HTTP/1.1\r\nHost: x\r\n');
    const drip = setInterval(() => socket.write('X-Slow: 1\r\n'), 300);
    socket.on('close', () => clearInterval(drip));
  });
  assert.match(trickled, /^HTTP\/1\.1 408/);

  // A JSON body that never completes: 408 body_timeout.
  const slowJson = await new Promise<Answer>((resolve, reject) => {
    const req = http.request(
      `${t.baseUrl}/api/v1/registrations`,
      { method: 'POST', headers: { 'content-type': 'application/json', 'content-length': '1000' } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({ status: res.statusCode!, code: JSON.parse(Buffer.concat(chunks).toString()).error?.code, closed: true }),
        );
      },
    );
    req.on('error', reject);
    req.write('{"signed": ');
  });
  assert.deepEqual([slowJson.status, slowJson.code], [408, 'body_timeout']);

  // A file that stalls halfway: 408 body_timeout, nothing stored.
  const file = Buffer.alloc(300_000, 9);
  const env = await signAs(
    t,
    buildTargetsSigned({ version: 1, expires: expiresAfter(t.clock.now(), 86_400), targets: { 'slow/s.tgz': describeTarget(file) } }),
    [{ identity: ALICE }],
  );
  const opened = await request(t.baseUrl).post('/api/v1/projects/slow/uploads').send({ metadata: env });
  assert.equal(opened.body.status, 'awaiting_files', JSON.stringify(opened.body));
  const afterOpen = await state();
  const stalled = await new Promise<Answer>((resolve, reject) => {
    const req = http.request(
      `${t.baseUrl}/api/v1/projects/slow/uploads/${opened.body.signedSha256}/files/slow/s.tgz`,
      { method: 'PUT', headers: { 'content-length': String(file.length) } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({ status: res.statusCode!, code: JSON.parse(Buffer.concat(chunks).toString()).error?.code, closed: true }),
        );
      },
    );
    req.on('error', reject);
    req.write(file.subarray(0, 100_000));
  });
  assert.deepEqual([stalled.status, stalled.code], [408, 'body_timeout']);
  assert.equal(await state(), afterOpen, 'nothing of the stalled file was stored');
  assert.notEqual(afterOpen, before);
});

test('bodies held at once are bounded per process: beyond MAX_BUFFERED_BODY_BYTES, 503', async () => {
  const small = await startTestRepo({ env: { MAX_BUFFERED_BODY_BYTES: '1024' } });
  try {
    const res = await request(small.baseUrl)
      .post('/api/v1/registrations')
      .set('content-type', 'application/json')
      .send(`{"pad": "${'x'.repeat(4096)}"}`);
    assert.deepEqual([res.status, res.body.error.code], [503, 'unavailable']);
    assert.ok(Number(res.headers['retry-after']) > 0);
    assert.equal((await request(small.baseUrl).post('/api/v1/registrations').send({})).status, 400, 'a small body still gets through');
  } finally {
    await small.close();
  }
});
