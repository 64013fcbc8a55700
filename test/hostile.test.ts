// Hostile input: every endpoint refuses garbage with a 4xx that says what is wrong, never a 5xx,
// and nothing changes in the database. Ends with 10,000 generated requests (fast-check), half of
// them to a real server of two workers (WEB_CONCURRENCY=2) on the same database.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import fc from 'fast-check';
import request from 'supertest';
import { canonicalBytes, type JsonObject } from '../core/canonical.ts';
import { registrationSigned } from '../core/delegations.ts';
import { buildTargetsSigned, describeTarget, expiresAfter, type Envelope } from '../core/metadata.ts';
import { verifyHistory } from '../server/admin/historyCheck.ts';
import { IdentitySignatureVerifier } from '../core/identity.ts';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { startServerProcess, type ServerProcess } from './helpers/serverProcess.ts';
import { bootstrappedWithSigstore, delegateProject, signAs, startTestRepo, type CeremonyKeys, type TestRepo } from './helpers/repo.ts';

const ALICE = 'alice@example.com';
let t: TestRepo;
let keys: CeremonyKeys;
let published: Envelope; // demo v1, already published: any replay or mutation of it must be refused
let registration: Envelope;
const file = Buffer.from('demo 1.0');
let cluster: ServerProcess;
let scratch: string;

before(async () => {
  // PARSE_OFF_THREAD_BYTES 0: every body here, the 10,000 generated ones too, goes through the
  // parsing workers (http/bodyTasks.ts); the other test files take the main-thread path.
  ({ t, keys } = await bootstrappedWithSigstore({
    env: { WRITE_RATE_LIMIT_PER_MINUTE: '0', MAX_ADMIN_METADATA_BYTES: '262144', MAX_TARGET_BYTES: '1048576', PARSE_OFF_THREAD_BYTES: '0' },
  }));
  await delegateProject(t, keys, 'demo', [ALICE]);
  const signed = buildTargetsSigned({
    version: 1,
    expires: expiresAfter(t.clock.now(), 30 * 86_400),
    targets: { 'demo/demo-1.0.tgz': describeTarget(file) },
  });
  published = await signAs(t, signed, [{ identity: ALICE }]);
  const res = await upload(published, { 'demo/demo-1.0.tgz': file.toString('base64') });
  assert.equal(res.status, 201);
  registration = await signAs(t, registrationSigned('other', { identity: ALICE, issuer: t.sigstore.sigstore.issuerUrl }, t.clock.now()), [
    { identity: ALICE },
  ]);
  assert.equal((await request(t.baseUrl).post('/api/v1/registrations').send(registration)).status, 201);
  // The same repository served by a supervisor and two workers, with the same limits.
  scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'tuf-hostile-'));
  fs.writeFileSync(path.join(scratch, 'sigstore-root.json'), JSON.stringify(t.sigstore.setup.trustedRoot));
  cluster = await startServerProcess({
    NODE_ENV: 'production',
    DATABASE_URL: t.databaseUrl,
    TUF_HOME: t.home,
    SIGSTORE_TRUSTED_ROOT: path.join(scratch, 'sigstore-root.json'),
    LOG_LEVEL: 'warn',
    WEB_CONCURRENCY: '2',
    WRITE_RATE_LIMIT_PER_MINUTE: '0',
    MAX_ADMIN_METADATA_BYTES: '262144',
    MAX_TARGET_BYTES: '1048576',
    PARSE_OFF_THREAD_BYTES: '0',
  });
});
after(async () => {
  await cluster?.stop();
  if (scratch) fs.rmSync(scratch, { recursive: true, force: true });
  await t.close();
});

function upload(metadata: unknown, files: Record<string, string> = {}) {
  return request(t.baseUrl)
    .post('/api/v1/projects/demo/uploads')
    .send({ metadata, files } as object);
}

async function state(): Promise<string> {
  const rows = await t.repo.knex.raw(`select
    (select count(*) from metadata_versions) as metadata, (select count(*) from pending_uploads) as pending,
    (select count(*) from registrations) as registrations, (select count(*) from target_records) as records,
    (select count(*) from audit_log) as audit, (select string_agg(role || ':' || version, ',' order by role) from role_heads) as heads`);
  return JSON.stringify(rows.rows[0]);
}

async function signedBy(signed: JsonObject): Promise<Envelope> {
  return signAs(t, signed, [{ identity: ALICE }]);
}

test('malformed and hostile bodies: a clear 4xx each, nothing changes', async () => {
  const before = await state();
  const v2 = (targets: Record<string, unknown>, extra: JsonObject = {}) =>
    ({ ...buildTargetsSigned({ version: 2, expires: expiresAfter(t.clock.now(), 86_400), targets: {} }), targets, ...extra }) as JsonObject;
  // Built as text: JSON.stringify itself overflows the stack on such a value.
  const deep = `{"metadata": {"signed": ${'['.repeat(100_000)}1${']'.repeat(100_000)}, "signatures": []}, "files": {}}`;
  const bundleFor = (env: Envelope) => env.signatures[0]!.bundle as JsonObject;
  const withoutTlog = structuredClone(bundleFor(published));
  (withoutTlog.verificationMaterial as JsonObject).tlogEntries = [];
  const otherBytes = await signedBy(v2({}, { version: 2 }));

  const cases: [string, () => request.Test, number, string][] = [
    ['body over the size limit', () => upload({ signed: { pad: 'x'.repeat(3_000_000) }, signatures: [] }), 413, 'too_large'],
    [
      'JSON nested 100,000 deep',
      () => request(t.baseUrl).post('/api/v1/projects/demo/uploads').set('content-type', 'application/json').send(deep),
      400,
      'too_deep',
    ],
    [
      'not JSON',
      () => request(t.baseUrl).post('/api/v1/projects/demo/uploads').set('content-type', 'application/json').send('{"metadata": [1,'),
      400,
      'malformed',
    ],
    ['metadata is a string', () => upload('metadata'), 400, 'bad_request'],
    ['files not base64', () => upload(published, { 'demo/demo-1.0.tgz': '%%%' }), 400, 'bad_request'],
    [
      'unknown top-level field',
      () => request(t.baseUrl).post('/api/v1/projects/demo/uploads').send({ metadata: published, files: {}, x: 1 }),
      400,
      'bad_request',
    ],
    ['version as a float', () => upload({ ...published, signed: { ...published.signed, version: 1.5 } }), 400, 'malformed'],
    ['version as a string', () => upload({ ...published, signed: { ...published.signed, version: '2' } }), 400, 'malformed'],
    ['huge version', () => upload({ ...published, signed: { ...published.signed, version: 1e300 } }), 400, 'malformed'],
    [
      'length as a float',
      () => upload({ ...published, signed: v2({ 'demo/a': { length: 1.5, hashes: { sha256: '0'.repeat(64) } } }) }),
      400,
      'malformed',
    ],
    [
      'path with ..',
      () => upload({ ...published, signed: v2({ 'demo/../x': { length: 1, hashes: { sha256: '0'.repeat(64) } } }) }),
      400,
      'bad_target_path',
    ],
    [
      'path with a control character',
      () => upload({ ...published, signed: v2({ 'demo/a\u0007b': { length: 1, hashes: { sha256: '0'.repeat(64) } } }) }),
      400,
      'bad_target_path',
    ],
    [
      'path with a look-alike Unicode letter',
      () => upload({ ...published, signed: v2({ 'dеmo/a': { length: 1, hashes: { sha256: '0'.repeat(64) } } }) }),
      400,
      'bad_target_path',
    ],
    [
      'absolute path',
      () => upload({ ...published, signed: v2({ '/demo/a': { length: 1, hashes: { sha256: '0'.repeat(64) } } }) }),
      400,
      'bad_target_path',
    ],
    [
      'role name with a slash',
      () => request(t.baseUrl).post('/api/v1/projects/de%2Fmo/uploads').send({ metadata: published, files: {} }),
      400,
      'bad_role_name',
    ],
    [
      'role name that looks like a number',
      () => request(t.baseUrl).post('/api/v1/projects/12/uploads').send({ metadata: published, files: {} }),
      400,
      'bad_role_name',
    ],
    [
      'role name with Unicode',
      () =>
        request(t.baseUrl)
          .post(`/api/v1/projects/${encodeURIComponent('dеmo')}/uploads`)
          .send({ metadata: published, files: {} }),
      400,
      'bad_role_name',
    ],
    [
      'two signatures with one keyid',
      () => upload({ ...published, signatures: [published.signatures[0], published.signatures[0]] }),
      400,
      'duplicate_signature',
    ],
    [
      'a forged bundle',
      () =>
        upload({
          ...published,
          signatures: [{ ...published.signatures[0], bundle: { mediaType: 'application/vnd.dev.sigstore.bundle.v0.3+json', x: 'y' } }],
        }),
      403,
      'threshold_not_met',
    ],
    [
      'a bundle for other bytes',
      () => upload({ ...published, signed: { ...published.signed, version: 2 }, signatures: otherBytes.signatures }),
      403,
      'threshold_not_met',
    ],
    [
      'a certificate without its transparency-log entry',
      () =>
        upload({
          ...published,
          signed: { ...published.signed, version: 2 },
          signatures: [{ ...published.signatures[0], bundle: withoutTlog }],
        }),
      403,
      'threshold_not_met',
    ],
    [
      'a replay of the published version',
      () => upload(published, { 'demo/demo-1.0.tgz': file.toString('base64') }),
      409,
      'version_not_next',
    ],
    [
      'expired metadata',
      () => upload({ ...published, signed: { ...published.signed, version: 2, expires: '2020-01-01T00:00:00Z' } }),
      403,
      'threshold_not_met',
    ],
    [
      'registration with extra fields',
      () =>
        request(t.baseUrl)
          .post('/api/v1/registrations')
          .send({ ...registration, signed: { ...registration.signed, admin: true } }),
      400,
      'malformed',
    ],
    ['admin without a token', () => request(t.baseUrl).post('/admin/metadata/targets').send(published), 401, 'unauthorized'],
    [
      'admin with a bad token format',
      () => request(t.baseUrl).post('/admin/metadata/targets').set('authorization', 'Bearer x').send(published),
      401,
      'unauthorized',
    ],
  ];
  for (const [what, send, status, code] of cases) {
    const res = await send();
    assert.equal(res.status, status, `${what}: ${res.status} ${JSON.stringify(res.body).slice(0, 300)}`);
    assert.equal(res.body.error?.code, code, what);
    assert.ok(typeof res.body.error.message === 'string' && res.body.error.message.length > 5, what);
  }
  assert.equal(await state(), before);
});

test('duplicate keys cannot make the server serve other bytes than it verified', async () => {
  // JSON.parse keeps the last of two keys; the server verifies and re-serializes that parse, so
  // whatever a client later reads is exactly what was verified.
  const signed = buildTargetsSigned({
    version: 2,
    expires: expiresAfter(t.clock.now(), 86_400),
    targets: { 'demo/demo-2.0.tgz': describeTarget(Buffer.from('2')) },
  });
  const env = await signedBy(signed);
  const text = JSON.stringify({ metadata: env, files: { 'demo/demo-2.0.tgz': Buffer.from('2').toString('base64') } }).replace(
    '"version":2',
    '"version":99,"version":2',
  );
  const res = await request(t.baseUrl).post('/api/v1/projects/demo/uploads').set('content-type', 'application/json').send(text);
  assert.equal(res.status, 201, JSON.stringify(res.body));
  const served = (await request(t.baseUrl).get('/metadata/2.demo.json')).text;
  assert.ok(!served.includes('"version":99'));
  assert.ok(canonicalBytes(JSON.parse(served).signed).equals(canonicalBytes(signed)));
});

test('10,000 generated requests: no 5xx, no crash, no state change', async () => {
  const before = await state();
  const current = JSON.parse(
    (await request(t.baseUrl).get(`/metadata/${t.repo.cache.head('targets')!.version}.targets.json`)).text,
  ) as Envelope;
  const root = JSON.parse((await request(t.baseUrl).get(`/metadata/${t.repo.cache.head('root')!.version}.root.json`)).text) as Envelope;
  const demoCurrent = JSON.parse((await request(t.baseUrl).get('/metadata/2.demo.json')).text) as Envelope;

  // Mutations of genuine, already-published documents: whatever they become, they cannot be a
  // new valid version (the version is taken and the signatures cover the old bytes).
  const mutate = (doc: unknown) =>
    fc.array(fc.tuple(fc.nat(), fc.oneof(fc.jsonValue(), fc.constant(undefined))), { minLength: 1, maxLength: 4 }).map((edits) => {
      const copy = structuredClone(doc) as Record<string, unknown>;
      for (const [pick, value] of edits) {
        const paths: [Record<string, unknown>, string][] = [];
        const walk = (node: unknown, depth: number) => {
          if (depth > 6 || typeof node !== 'object' || node === null) return;
          for (const k of Object.keys(node)) {
            paths.push([node as Record<string, unknown>, k]);
            walk((node as Record<string, unknown>)[k], depth + 1);
          }
        };
        walk(copy, 0);
        if (paths.length === 0) break;
        const [parent, key] = paths[pick % paths.length]!;
        if (value === undefined) delete parent[key];
        else parent[key] = value;
      }
      return copy;
    });

  const endpoint = fc.constantFrom('upload', 'upload-other-project', 'registration', 'admin-targets', 'admin-root', 'admin-bootstrap');
  const body = fc.oneof(
    { weight: 3, arbitrary: fc.jsonValue() },
    { weight: 2, arbitrary: mutate(demoCurrent) },
    { weight: 2, arbitrary: mutate(current) },
    { weight: 1, arbitrary: mutate(root) },
    { weight: 2, arbitrary: mutate(registration) },
  );
  const raw = fc.oneof({ weight: 9, arbitrary: fc.constant(null) }, { weight: 1, arbitrary: fc.string({ maxLength: 200 }) });
  const samples = fc.sample(fc.tuple(endpoint, body, raw, fc.boolean()), { numRuns: 10_000, seed: 4242 });

  const send = async ([kind, value, rawText, wrap]: [string, unknown, string | null, boolean], base: string) => {
    const paths: Record<string, string> = {
      upload: '/api/v1/projects/demo/uploads',
      'upload-other-project': '/api/v1/projects/nobody/uploads',
      registration: '/api/v1/registrations',
      'admin-targets': '/admin/metadata/targets',
      'admin-root': '/admin/metadata/root',
      'admin-bootstrap': '/admin/bootstrap',
    };
    const payload =
      rawText ??
      JSON.stringify(
        kind.startsWith('upload') && wrap
          ? { metadata: value, files: {} }
          : kind === 'admin-bootstrap' && wrap
            ? { root: value, targets: value }
            : value,
      );
    // A connection of its own each: the two-worker server hands each new connection to the next worker.
    return new Promise<{ status: number; text: string }>((resolve, reject) => {
      const req = http.request(
        `${base}${paths[kind]}`,
        { method: 'POST', agent: false, headers: { 'content-type': 'application/json', authorization: `Bearer ${t.adminToken}` } },
        (res) => {
          let text = '';
          res.on('data', (c) => (text += c));
          res.on('end', () => resolve({ status: res.statusCode!, text }));
        },
      );
      req.on('error', reject);
      req.end(payload);
    });
  };

  const statuses = new Map<number, number>();
  const byServer = new Map<string, number>();
  for (const [i, sample] of samples.entries()) {
    // Every other request to the two-worker server.
    const base = i % 2 === 0 ? t.baseUrl : cluster.url;
    byServer.set(base, (byServer.get(base) ?? 0) + 1);
    const { status, text } = await send(sample as [string, unknown, string | null, boolean], base);
    statuses.set(status, (statuses.get(status) ?? 0) + 1);
    // 200 is an idempotent repeat (a registration already stored); 201/202 would be a change.
    if (status >= 500 || (status < 400 && status !== 200)) {
      assert.fail(`${status} for ${sample[0]} ${JSON.stringify(sample[1]).slice(0, 500)}: ${text.slice(0, 300)}`);
    }
  }
  assert.equal(
    [...statuses.values()].reduce((a, b) => a + b, 0),
    10_000,
  );
  assert.deepEqual([...byServer.values()], [5_000, 5_000]);
  assert.equal((await fetch(`${t.baseUrl}/healthz`)).status, 200);
  assert.equal((await fetch(`${cluster.url}/healthz`)).status, 200);
  assert.match(await (await fetch(`${cluster.url}/metrics`)).text(), /^tuf_server_processes 2$/m, 'both workers still serve');
  assert.equal(await state(), before);
  // And the published history still checks out.
  const history = await verifyHistory(t.repo.knex, new IdentitySignatureVerifier(t.sigstore.setup.trustedRoot));
  assert.deepEqual(history.problems, []);
});

test('write endpoints are rate-limited per client address', async () => {
  const limited = await startTestRepo({ env: { WRITE_RATE_LIMIT_PER_MINUTE: '5' } });
  try {
    const codes: number[] = [];
    for (let i = 0; i < 7; i++) codes.push((await request(limited.baseUrl).post('/api/v1/registrations').send({})).status);
    assert.deepEqual(codes, [400, 400, 400, 400, 400, 429, 429]);
    const res = await request(limited.baseUrl).post('/api/v1/registrations').send({});
    assert.equal(res.body.error.code, 'rate_limited');
    assert.ok(Number(res.headers['retry-after']) > 0);
    assert.equal((await request(limited.baseUrl).get('/metadata/timestamp.json')).status, 404, 'reads are not limited');
    limited.clock.advanceSeconds(61);
    assert.equal((await request(limited.baseUrl).post('/api/v1/registrations').send({})).status, 400);
  } finally {
    await limited.close();
  }
});
