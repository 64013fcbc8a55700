// No name reaches Object.prototype (issue 19, part 3): `constructor`, `prototype`, `__proto__`,
// `toString`, `hasOwnProperty` and `valueOf` as project names, registrations, file names in an
// upload, target paths, role names and keyids in admin metadata, and in a hostile targets.json
// handed to tuf-offline: a clear 4xx (or exit 1) or correct handling, never a 500 or a crash.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import request from 'supertest';
import { sha256Hex, type JsonObject } from '../core/canonical.ts';
import { editedTargetsSigned } from '../core/ceremony.ts';
import { isTufError } from '../core/errors.ts';
import { explainRole } from '../core/explain.ts';
import { IdentitySignatureVerifier } from '../core/identity.ts';
import { generatePrivateKey } from '../core/keys.ts';
import { buildTargetsSigned, describeTarget, expiresAfter, signEnvelope, type Envelope } from '../core/metadata.ts';
import { roleNameProblem } from '../core/names.ts';
import { privateKeySigner } from '../core/signer.ts';
import { verifyHistory } from '../server/admin/historyCheck.ts';
import { runCli } from './helpers/cli.ts';
import { bootstrappedWithSigstore, delegateProject, signAs, type CeremonyKeys, type TestRepo } from './helpers/repo.ts';

const NAMES = ['constructor', 'prototype', '__proto__', 'toString', 'hasOwnProperty', 'valueOf'];
const VALID_ROLES = NAMES.filter((n) => roleNameProblem(n) === null); // constructor, prototype
const ALICE = 'alice@example.com';
let t: TestRepo;
let keys: CeremonyKeys;
let work: string;

before(async () => {
  ({ t, keys } = await bootstrappedWithSigstore({ env: { WRITE_RATE_LIMIT_PER_MINUTE: '0' } }));
  await delegateProject(t, keys, 'demo', [ALICE]);
  await delegateProject(t, keys, 'constructor', [ALICE]);
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'tuf-hostile-names-'));
});
after(async () => t.close());

const never5xx = (res: request.Response, what: string) => assert.ok(res.status < 500, `${what}: ${res.status} ${JSON.stringify(res.body)}`);

test('project names: GET project, pending and registrations answer a clear 4xx or the right answer', async () => {
  assert.deepEqual(VALID_ROLES, ['constructor', 'prototype']);
  for (const name of NAMES) {
    for (const suffix of ['', '/pending', '/registrations']) {
      const res = await request(t.baseUrl).get(`/api/v1/projects/${encodeURIComponent(name)}${suffix}`);
      never5xx(res, `${name}${suffix}`);
      if (!VALID_ROLES.includes(name)) assert.equal(res.body.error.code, 'bad_role_name', `${name}${suffix}`);
    }
  }
  const delegated = await request(t.baseUrl).get('/api/v1/projects/constructor');
  assert.equal(delegated.status, 200);
  assert.equal(delegated.body.delegated, true);
  assert.deepEqual(
    delegated.body.maintainers.map((m: { identity: string }) => m.identity),
    [ALICE],
  );
  const notDelegated = await request(t.baseUrl).get('/api/v1/projects/prototype');
  assert.equal(notDelegated.body.delegated, false);
  assert.equal((await request(t.baseUrl).get('/api/v1/projects/prototype/pending')).body.error.code, 'not_delegated');
  assert.equal((await request(t.baseUrl).get('/api/v1/projects/constructor/pending')).status, 200);
});

test('registrations for each name', async () => {
  const issuer = t.sigstore.sigstore.issuerUrl;
  for (const name of NAMES) {
    const signed = { _type: 'registration', project: name, identity: ALICE, issuer, requested_at: expiresAfter(t.clock.now(), 0) };
    const res = await request(t.baseUrl)
      .post('/api/v1/registrations')
      .send(await signAs(t, signed, [{ identity: ALICE }]));
    never5xx(res, name);
    const expected = name === 'constructor' ? 'already_delegated' : name === 'prototype' ? null : 'bad_role_name';
    if (expected) assert.equal(res.body.error.code, expected, name);
    else assert.equal(res.status, 201, name);
  }
});

test('file names in an upload: listed ones are published and served, unlisted ones refused', async () => {
  const files = Object.fromEntries(NAMES.map((n) => [`constructor/${n}`, Buffer.from(`file ${n}`)]));
  const targets = Object.fromEntries(Object.entries(files).map(([p, b]) => [p, describeTarget(b)]));
  const signed = buildTargetsSigned({ version: 1, expires: expiresAfter(t.clock.now(), 30 * 86_400), targets });
  assert.deepEqual(Object.keys(signed.targets as JsonObject).sort(), Object.keys(files).sort(), 'built with every path as its own key');
  const metadata = await signAs(t, signed, [{ identity: ALICE }]);
  // Bare names as file keys, not listed by the metadata, sent as raw JSON text (own "__proto__" key).
  for (const name of NAMES) {
    const stray = Buffer.from(`stray file ${name}`);
    const body = `{"metadata": ${JSON.stringify(metadata)}, "files": {"${name}": "${stray.toString('base64')}"}}`;
    const res = await request(t.baseUrl).post('/api/v1/projects/constructor/uploads').set('content-type', 'application/json').send(body);
    never5xx(res, `file key ${name}`);
    // Refused with a 4xx, never stored.
    assert.ok(res.status >= 400 && res.status < 500, `file key ${name} must be refused: ${res.status}`);
    assert.equal(
      await t.repo
        .knex('target_blobs')
        .where({ sha256: sha256Hex(stray) })
        .first('sha256'),
      undefined,
      `file key ${name}: nothing stored`,
    );
  }
  const res = await request(t.baseUrl)
    .post('/api/v1/projects/constructor/uploads')
    .send({ metadata, files: Object.fromEntries(Object.entries(files).map(([p, b]) => [p, b.toString('base64')])) });
  assert.equal(res.status, 201, JSON.stringify(res.body));
  for (const [p, bytes] of Object.entries(files)) {
    const name = p.split('/')[1]!;
    const served = await request(t.baseUrl)
      .get(`/targets/constructor/${sha256Hex(bytes)}.${name}`)
      .buffer(true)
      .parse((r, cb) => {
        const chunks: Buffer[] = [];
        r.on('data', (c: Buffer) => chunks.push(c));
        r.on('end', () => cb(null, Buffer.concat(chunks)));
      });
    assert.equal(served.status, 200, p);
    assert.ok((served.body as Buffer).equals(bytes), p);
  }
  // Target paths named like prototype members, outside the project: refused as such.
  const outside = await signAs(
    t,
    buildTargetsSigned({
      version: 2,
      expires: expiresAfter(t.clock.now(), 86_400),
      targets: { toString: describeTarget(Buffer.from('x')) },
    }),
    [{ identity: ALICE }],
  );
  const refused = await request(t.baseUrl).post('/api/v1/projects/constructor/uploads').send({ metadata: outside, files: {} });
  assert.equal(refused.body.error.code, 'path_not_delegated');
  // The history check reads a role named "constructor" like any other.
  const history = await verifyHistory(t.repo.knex, new IdentitySignatureVerifier(t.sigstore.setup.trustedRoot));
  assert.deepEqual(
    history.problems.filter((p) => p.role === 'constructor'),
    [],
  );
});

test('admin metadata: target paths, role names and keyids named like prototype members', async () => {
  const current = (await t.repo.current.targets())!;
  const key = privateKeySigner(generatePrivateKey('ed25519')).publicKey;
  const blobs = NAMES.map((n) => Buffer.from(`top-level ${n}`));
  for (const b of blobs)
    assert.ok(
      (
        await request(t.baseUrl)
          .put('/admin/blobs')
          .set('authorization', `Bearer ${t.adminToken}`)
          .set('content-type', 'application/octet-stream')
          .send(b)
      ).status < 300,
    );
  const withPaths = editedTargetsSigned(
    current.envelope.signed,
    { add: Object.fromEntries(NAMES.map((n, i) => [n, describeTarget(blobs[i]!)])) },
    t.clock.now(),
  );
  assert.deepEqual(
    NAMES.filter((n) => !Object.hasOwn(withPaths.targets as JsonObject, n)),
    [],
    'every path kept as its own key',
  );
  const delegations = withPaths.delegations as { keys: JsonObject; roles: JsonObject[] };
  for (const n of VALID_ROLES.filter((r) => r !== 'constructor')) {
    delegations.roles.push({ name: n, keyids: ['__proto__'], threshold: 1, paths: [`${n}/*`], terminating: true });
  }
  Object.defineProperty(delegations.keys, '__proto__', { value: key, enumerable: true, writable: true, configurable: true });
  const send = async (signed: JsonObject) =>
    request(t.baseUrl)
      .post('/admin/metadata/targets')
      .set('authorization', `Bearer ${t.adminToken}`)
      .set('content-type', 'application/json')
      .send(JSON.stringify(await signEnvelope(signed, [privateKeySigner(keys.targets[0]!)])));
  const res = await send(withPaths);
  assert.equal(res.status, 201, JSON.stringify(res.body));
  for (const [i, n] of NAMES.entries()) {
    const served = await request(t.baseUrl).get(`/targets/${sha256Hex(blobs[i]!)}.${n}`);
    assert.equal(served.status, 200, n);
  }
  const prototypeInfo = await request(t.baseUrl).get('/api/v1/projects/prototype');
  assert.equal(prototypeInfo.body.delegated, true);
  // Role names outside the grammar are refused with a code.
  const after = (await t.repo.current.targets())!;
  for (const n of NAMES.filter((x) => !VALID_ROLES.includes(x))) {
    const bad = editedTargetsSigned(after.envelope.signed, {}, t.clock.now());
    (bad.delegations as { roles: JsonObject[] }).roles.push({
      name: n,
      keyids: ['__proto__'],
      threshold: 1,
      paths: ['x/*'],
      terminating: true,
    });
    const refused = await send(bad);
    never5xx(refused, n);
    assert.equal(refused.body.error.code, 'bad_role_name', n);
  }
});

test('core: a report on a role named like a prototype member is a clear refusal', async () => {
  const targets = (await t.repo.current.targets())!.envelope;
  const role = await signAs(t, buildTargetsSigned({ version: 1, expires: expiresAfter(t.clock.now(), 86_400), targets: {} }), [
    { identity: ALICE },
  ]);
  const verifier = new IdentitySignatureVerifier(t.sigstore.setup.trustedRoot);
  for (const name of ['toString', 'hasOwnProperty', 'valueOf', '__proto__', 'nothing']) {
    assert.throws(
      () => explainRole(role, targets, name, verifier),
      (err) => isTufError(err, 'not_delegated'),
      name,
    );
  }
  assert.equal(explainRole(role, targets, 'constructor', verifier).role, 'constructor');
});

test('tuf-offline on a hostile targets.json: correct handling or a clear error, never a crash', async () => {
  const key = privateKeySigner(generatePrivateKey('ed25519')).publicKey;
  const entry = describeTarget(Buffer.from('x'));
  const targets = NAMES.map((n) => `"${n}": ${JSON.stringify(entry)}`).join(', ');
  const keysText = ['constructor', '__proto__'].map((k) => `"${k}": ${JSON.stringify(key)}`).join(', ');
  const text = `{"signed": {"_type": "targets", "spec_version": "1.0.31", "version": 3, "expires": "2099-01-01T00:00:00Z", "targets": {${targets}},
    "delegations": {"keys": {${keysText}}, "roles": [{"name": "constructor", "keyids": ["__proto__"], "threshold": 1, "paths": ["constructor/*"], "terminating": true},
      {"name": "prototype", "keyids": ["constructor"], "threshold": 1, "paths": ["prototype/*"], "terminating": true}]}}, "signatures": []}`;
  const file = path.join(work, 'hostile.targets.json');
  fs.writeFileSync(file, text);
  fs.writeFileSync(path.join(work, 'local'), 'local bytes');
  const out = (n: string) => path.join(work, `${n}.json`);
  const run = async (args: string[]) => {
    const res = await runCli('keys-offline/main.ts', args);
    assert.ok(
      [0, 1, 2, 3].includes(res.status) && !/TypeError|at .*\.ts:\d+/.test(res.stderr),
      `${args.join(' ')}: ${res.status} ${res.stderr}`,
    );
    return res;
  };
  assert.equal((await run(['status', file])).status, 3, 'no threshold met: exit 3');
  assert.equal(
    (await run(['edit-targets', '--from', file, '--out', out('removed'), '--remove', 'toString', '--remove', '__proto__'])).status,
    0,
  );
  const removed = JSON.parse(fs.readFileSync(out('removed'), 'utf8')) as Envelope;
  assert.deepEqual(Object.keys(removed.signed.targets as JsonObject).sort(), ['constructor', 'hasOwnProperty', 'prototype', 'valueOf']);
  const notListed = await run(['edit-targets', '--from', out('removed'), '--out', out('x'), '--remove', 'toString']);
  assert.equal(notListed.status, 1);
  assert.match(notListed.stderr, /cannot remove toString: not listed/);
  assert.equal(
    (await run(['edit-targets', '--from', out('removed'), '--out', out('added'), '--add', `__proto__=${path.join(work, 'local')}`])).status,
    0,
  );
  const added = JSON.parse(fs.readFileSync(out('added'), 'utf8')) as Envelope;
  assert.ok(Object.hasOwn(added.signed.targets as JsonObject, '__proto__'), 'the path "__proto__" is a target like any other');
  assert.equal((added.signed.targets as Record<string, { length: number }>)['__proto__']!.length, 'local bytes'.length);
  assert.equal((await run(['status', out('added'), '--previous', file])).status, 3);
  assert.equal(
    (
      await run([
        'delegate',
        '--from',
        file,
        '--out',
        out('delegated'),
        '--project',
        'prototype',
        '--identity',
        ALICE,
        '--issuer',
        'https://issuer.example',
      ])
    ).status,
    0,
  );
  const badName = await run([
    'delegate',
    '--from',
    file,
    '--out',
    out('bad'),
    '--project',
    'valueOf',
    '--identity',
    ALICE,
    '--issuer',
    'https://issuer.example',
  ]);
  assert.equal(badName.status, 1);
  assert.match(badName.stderr, /role name "valueOf"/);
  assert.equal((await run(['undelegate', '--from', file, '--out', out('undelegated'), '--project', 'hasownproperty'])).status, 1);
  assert.equal((await run(['undelegate', '--from', file, '--out', out('undelegated'), '--project', 'constructor'])).status, 0);
});
