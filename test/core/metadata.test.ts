// parseMetadata is the gate every uploaded root and targets document passes: it must refuse every
// shape we (or TUF clients) cannot represent exactly, with a code, and accept what we build ourselves.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { Root, Targets } from '@tufjs/models';
import { canonicalBytes, type JsonObject, type JsonValue } from '../../core/canonical.ts';
import { TufError, isTufError, type TufErrorCode } from '../../core/errors.ts';
import { identityKey } from '../../core/identity.ts';
import { generatePrivateKey, keyidOf, tufPublicKey } from '../../core/keys.ts';
import {
  buildRootSigned,
  buildTargetsSigned,
  describeTarget,
  parseMetadata,
  servedBytes,
  signEnvelope,
  type Envelope,
} from '../../core/metadata.ts';
import { privateKeySigner } from '../../core/signer.ts';

const EXPIRES = '2030-01-01T00:00:00Z';
const refusedWith = (code: TufErrorCode) => (e: unknown) => isTufError(e, code);

// ---------------------------------------------------------------------------------------------
// Fixtures: a root and a targets document built by the same module that parses them.

const rootSigner = privateKeySigner(generatePrivateKey('ed25519'));
const targetsKey = tufPublicKey(generatePrivateKey('ecdsa')); // a PEM key: its keyval holds newlines
const onlineKey = tufPublicKey(generatePrivateKey('ed25519'));

function rootSigned(): JsonObject {
  return buildRootSigned({
    version: 1,
    expires: EXPIRES,
    roles: {
      root: { keys: [rootSigner.publicKey], threshold: 1 },
      targets: { keys: [targetsKey], threshold: 1 },
      snapshot: { keys: [onlineKey], threshold: 1 },
      timestamp: { keys: [onlineKey], threshold: 1 },
    },
  });
}

const identity = identityKey('alice@example.com', 'https://issuer.example');
const identityId = keyidOf(identity);
const delegatedRole = (name: string): JsonObject => ({ name, keyids: [identityId], threshold: 1, paths: [`${name}/*`], terminating: true });

function targetsSigned(roleNames: string[] = ['demo']): JsonObject {
  return buildTargetsSigned({
    version: 3,
    expires: EXPIRES,
    targets: { 'sigstore/trusted_root.json': describeTarget(Buffer.from('{}')) },
    delegations: { keys: { [identityId]: identity as unknown as JsonObject }, roles: roleNames.map(delegatedRole) },
  });
}

const envelope = (signed: JsonObject, signatures: Envelope['signatures'] = []): Envelope => ({ signed, signatures });

// ---------------------------------------------------------------------------------------------
// Acceptance

test('accepts a signed root built by buildRootSigned, with its canonical signed bytes and model', async () => {
  const signed = rootSigned();
  const env = await signEnvelope(signed, [rootSigner]);
  const parsed = parseMetadata(env, 'root');
  assert.equal(parsed.type, 'root');
  assert.equal(parsed.version, 1);
  assert.equal(parsed.expires.toISOString(), '2030-01-01T00:00:00.000Z');
  assert.deepEqual(parsed.signedBytes, canonicalBytes(signed));
  assert.equal(parsed.envelope, env, 'the envelope is the document given');
  assert.ok(parsed.model instanceof Root);
  assert.equal(parsed.model.consistentSnapshot, true);
  assert.deepEqual(parsed.model.roles.targets?.keyIDs, [keyidOf(targetsKey)]);
  assert.equal(parsed.envelope.signatures[0]?.keyid, rootSigner.keyid);
});

test('accepts a targets document built by buildTargetsSigned, with delegations', () => {
  const signed = targetsSigned(['demo', 'other-project']);
  const parsed = parseMetadata(envelope(signed, [{ keyid: identityId, sig: 'ab', bundle: { anything: true } }]), 'targets');
  assert.equal(parsed.type, 'targets');
  assert.equal(parsed.version, 3);
  assert.ok(parsed.model instanceof Targets);
  assert.deepEqual(Object.keys(parsed.model.targets), ['sigstore/trusted_root.json']);
  assert.deepEqual(Object.keys(parsed.model.delegations?.roles ?? {}), ['demo', 'other-project']);
  assert.deepEqual(parsed.signedBytes, canonicalBytes(signed));
  // Extra signature fields (a TAP 18 bundle) stay in the envelope.
  assert.deepEqual(parsed.envelope.signatures[0]?.bundle, { anything: true });
});

test('the default "where" is the role type; a given one prefixes messages', () => {
  assert.throws(
    () => parseMetadata(null, 'root'),
    (e: unknown) => isTufError(e, 'malformed') && e.message.startsWith('root:'),
  );
  assert.throws(
    () => parseMetadata(null, 'targets', 'upload demo'),
    (e: unknown) => isTufError(e, 'malformed') && e.message.startsWith('upload demo:'),
  );
});

// ---------------------------------------------------------------------------------------------
// Envelope shape

test('refuses values that are not a JSON object', () => {
  for (const value of [null, undefined, 'root', 42, true, [], [envelope(rootSigned())]]) {
    assert.throws(() => parseMetadata(value, 'root'), refusedWith('malformed'), JSON.stringify(value) ?? 'undefined');
  }
});

test('refuses a missing or ill-typed "signed"', () => {
  for (const signed of [undefined, null, 'x', 1, [], [rootSigned()]]) {
    assert.throws(() => parseMetadata({ signed, signatures: [] }, 'root'), refusedWith('malformed'), JSON.stringify(signed) ?? 'undefined');
  }
  assert.throws(() => parseMetadata({ signatures: [] }, 'root'), refusedWith('malformed'));
});

test('refuses a missing or ill-typed "signatures" and ill-typed signature entries', () => {
  const signed = rootSigned();
  for (const signatures of [undefined, null, {}, 'sig', 1]) {
    assert.throws(() => parseMetadata({ signed, signatures }, 'root'), refusedWith('malformed'), JSON.stringify(signatures) ?? 'undefined');
  }
  assert.throws(() => parseMetadata({ signed }, 'root'), refusedWith('malformed'));
  const badEntries: unknown[] = [
    null,
    'ab',
    [],
    {},
    { keyid: 'k' },
    { sig: 'ab' },
    { keyid: 1, sig: 'ab' },
    { keyid: 'k', sig: null },
    { keyid: 'k', sig: ['ab'] },
  ];
  for (const entry of badEntries) {
    assert.throws(() => parseMetadata({ signed, signatures: [entry] }, 'root'), refusedWith('malformed'), JSON.stringify(entry));
  }
});

test('refuses unexpected top-level fields', () => {
  const signed = rootSigned();
  for (const extra of ['signatures_extra', 'signed2', '_type', 'x-custom']) {
    assert.throws(() => parseMetadata({ signed, signatures: [], [extra]: 1 }, 'root'), refusedWith('malformed'), extra);
  }
  // Even an empty or null one: the served document is exactly {signed, signatures}.
  assert.throws(() => parseMetadata({ signed, signatures: [], extra: null }, 'root'), refusedWith('malformed'));
});

test('refuses two signatures with the same keyid (duplicate_signature), even when they differ', () => {
  const signed = rootSigned();
  const sigs = [
    { keyid: 'aa', sig: '01' },
    { keyid: 'bb', sig: '02' },
    { keyid: 'aa', sig: '03' },
  ];
  assert.throws(() => parseMetadata(envelope(signed, sigs), 'root'), refusedWith('duplicate_signature'));
  assert.throws(() => parseMetadata(envelope(signed, [sigs[0]!, { ...sigs[0]! }]), 'root'), refusedWith('duplicate_signature'));
  // Distinct keyids are fine, whatever the signatures hold.
  parseMetadata(envelope(signed, sigs.slice(0, 2)), 'root');
});

// ---------------------------------------------------------------------------------------------
// signed: type, spec version, version, expires

test('refuses a document of another _type (wrong_type)', () => {
  assert.throws(() => parseMetadata(envelope(rootSigned()), 'targets'), refusedWith('wrong_type'));
  assert.throws(() => parseMetadata(envelope(targetsSigned()), 'root'), refusedWith('wrong_type'));
  for (const type of ['snapshot', 'timestamp', 'Root', 'root ', '', null, 1]) {
    assert.throws(() => parseMetadata(envelope({ ...rootSigned(), _type: type }), 'root'), refusedWith('wrong_type'), String(type));
  }
  const { _type, ...untyped } = rootSigned();
  void _type;
  assert.throws(() => parseMetadata(envelope(untyped), 'root'), refusedWith('wrong_type'));
});

test('refuses an unsupported spec_version', () => {
  for (const spec of ['2.0.0', '0.9', '1', '1.', '1.0.31-rc1', 'v1.0.31', ' 1.0.31', '1.0.0.1', 1, 1.0, null, undefined]) {
    const signed = { ...rootSigned(), spec_version: spec } as JsonObject;
    if (spec === undefined) delete signed.spec_version;
    assert.throws(
      () => parseMetadata(envelope(signed), 'root'),
      refusedWith('unsupported_spec_version'),
      JSON.stringify(spec) ?? 'undefined',
    );
  }
  for (const spec of ['1.0', '1.0.0', '1.0.31', '1.20.3']) {
    parseMetadata(envelope({ ...rootSigned(), spec_version: spec }), 'root');
  }
});

test('refuses a version that is not a positive safe integer', () => {
  for (const version of [0, -1, 1.5, '1', null, true, 2 ** 53, Number.NaN, Infinity, undefined]) {
    const signed = { ...targetsSigned(), version } as JsonObject;
    if (version === undefined) delete signed.version;
    assert.throws(() => parseMetadata(envelope(signed), 'targets'), refusedWith('malformed'), String(version));
  }
  assert.equal(parseMetadata(envelope({ ...targetsSigned(), version: 2 ** 53 - 1 }), 'targets').version, 2 ** 53 - 1);
});

test('refuses expires in any form other than YYYY-MM-DDTHH:MM:SSZ', () => {
  const bad: unknown[] = [
    '2030-01-01T00:00:00.000Z', // milliseconds
    '2030-01-01T00:00:00.5Z',
    '2030-01-01T00:00:00', // no Z
    '2030-01-01T00:00:00+00:00',
    '2030-01-01T00:00:00z',
    '2030-01-01 00:00:00Z',
    '2030-01-01',
    '2030-1-1T00:00:00Z',
    '+02030-01-01T00:00:00Z',
    '2030-13-01T00:00:00Z', // matches the pattern but is no date
    '2030-01-01T25:00:00Z',
    ' 2030-01-01T00:00:00Z',
    '',
    1893456000,
    null,
  ];
  for (const expires of bad) {
    assert.throws(
      () => parseMetadata(envelope({ ...rootSigned(), expires } as JsonObject), 'root'),
      refusedWith('malformed'),
      JSON.stringify(expires),
    );
  }
});

test('refuses expires that names an impossible calendar date (other TUF clients cannot parse it)', () => {
  for (const expires of ['2030-02-30T00:00:00Z', '2030-02-31T00:00:00Z', '2030-04-31T00:00:00Z', '2030-01-01T24:00:00Z']) {
    assert.throws(() => parseMetadata(envelope({ ...rootSigned(), expires }), 'root'), refusedWith('malformed'), expires);
  }
});

// ---------------------------------------------------------------------------------------------
// Delegated roles, and what tuf-js would read back

test('refuses a delegated role name listed twice', () => {
  assert.throws(() => parseMetadata(envelope(targetsSigned(['demo', 'demo'])), 'targets'), refusedWith('malformed'));
  assert.throws(() => parseMetadata(envelope(targetsSigned(['demo', 'other', 'demo'])), 'targets'), refusedWith('malformed'));
  // With different contents too: the second would silently replace the first in tuf-js's map.
  const signed = targetsSigned(['demo']);
  const delegations = signed.delegations as { roles: JsonObject[] };
  delegations.roles.push({ ...delegatedRole('demo'), paths: ['elsewhere/*'] });
  assert.throws(() => parseMetadata(envelope(signed), 'targets'), refusedWith('malformed'));
});

test('refuses delegations whose integer-like role names tuf-js would reorder', () => {
  // tuf-js keeps roles in an object keyed by name; integer-like keys move to the front in
  // ascending order, so toJSON lists them in another order than the signed bytes do.
  for (const names of [
    ['b', '1'],
    ['10', '2'],
    ['demo', '0', 'x'],
  ]) {
    assert.throws(() => parseMetadata(envelope(targetsSigned(names)), 'targets'), refusedWith('malformed'), names.join(','));
  }
  // The same names in the order tuf-js would produce anyway read back to the same bytes.
  for (const names of [
    ['1', 'b'],
    ['2', '10'],
    ['b', 'a'],
    ['a', '1.5'],
  ]) {
    const parsed = parseMetadata(envelope(targetsSigned(names)), 'targets');
    assert.deepEqual(Object.keys(parsed.model.delegations?.roles ?? {}), names);
  }
});

test('refuses documents tuf-js reads back to other signed bytes, or cannot read at all', () => {
  const base = targetsSigned([]);
  // A targets document without "targets": the model adds an empty map.
  const { targets, ...noTargets } = buildTargetsSigned({ version: 1, expires: EXPIRES, targets: {} });
  void targets;
  assert.throws(() => parseMetadata(envelope(noTargets), 'targets'), refusedWith('malformed'));
  // Explicit roles and succinct roles together: the model keeps only one of them.
  const both = {
    ...base,
    delegations: { keys: {}, roles: [], succinct_roles: { keyids: [], threshold: 1, bit_length: 8, name_prefix: 'bin' } },
  };
  assert.throws(() => parseMetadata(envelope(both), 'targets'), refusedWith('malformed'));
  // Documents the model refuses outright are malformed too.
  const { consistent_snapshot, ...noConsistent } = rootSigned();
  void consistent_snapshot;
  assert.throws(() => parseMetadata(envelope(noConsistent), 'root'), refusedWith('malformed'));
  const roles = structuredClone(rootSigned().roles) as JsonObject;
  delete roles.timestamp;
  assert.throws(() => parseMetadata(envelope({ ...rootSigned(), roles }), 'root'), refusedWith('malformed'));
  assert.throws(() => parseMetadata(envelope({ ...base, delegations: null }), 'targets'), refusedWith('malformed'));
  const noTerminating = { ...base, delegations: { keys: {}, roles: [{ name: 'demo', keyids: [], threshold: 1, paths: ['demo/*'] }] } };
  assert.throws(() => parseMetadata(envelope(noTerminating), 'targets'), refusedWith('malformed'));
  // Floats have no canonical JSON form.
  const float = { ...base, targets: { 'demo/a': { length: 1.5, hashes: { sha256: 'a'.repeat(64) } } } };
  assert.throws(() => parseMetadata(envelope(float), 'targets'), refusedWith('malformed'));
});

test('keeps fields tuf-js preserves (unrecognized fields, key extras) byte for byte', () => {
  const root = rootSigned();
  const keys = structuredClone(root.keys) as Record<string, JsonObject>;
  keys[keyidOf(onlineKey)]!['x-tuf-on-ci-keyowner'] = '@someone';
  const signed = { ...root, keys, x_extension: { a: [1, 'b'] } };
  const parsed = parseMetadata(envelope(signed), 'root');
  assert.deepEqual(parsed.signedBytes, canonicalBytes(signed));
});

// ---------------------------------------------------------------------------------------------
// servedBytes

test('servedBytes is compact JSON of the envelope, valid JSON even where canonical JSON is not', async () => {
  const env = await signEnvelope(rootSigned(), [rootSigner]);
  const served = servedBytes(env);
  const text = served.toString('utf8');
  assert.equal(text, JSON.stringify(env));
  assert.ok(!/\n|": |, /.test(text), 'no whitespace between tokens');
  assert.deepEqual(JSON.parse(text), env);
  // The PEM key holds newlines: canonical JSON writes them raw (not JSON), servedBytes escapes them.
  assert.ok(canonicalBytes(env.signed).includes('\n'));
  assert.throws(() => JSON.parse(canonicalBytes(env).toString('utf8')));
  assert.ok(text.includes('\\n'));
  // What is served parses back to the same signed bytes.
  assert.deepEqual(parseMetadata(JSON.parse(text), 'root').signedBytes, canonicalBytes(env.signed));
});

test('servedBytes drops the formatting and duplicate keys of an upload', async () => {
  const env = await signEnvelope(rootSigned(), [rootSigner]);
  const pretty = JSON.stringify(env, null, 2);
  // A duplicate "signatures" key: JSON.parse keeps the last one, and so does what we serve.
  const uploaded = `{"signatures": [], ${pretty.slice(1)}`;
  const parsed = parseMetadata(JSON.parse(uploaded), 'root');
  const served = servedBytes(parsed.envelope).toString('utf8');
  assert.deepEqual(JSON.parse(served), env);
  assert.equal(served.split('"signatures"').length, 2, 'one "signatures" key');
  assert.ok(!/\n|": |, /.test(served), 'no whitespace between tokens');
  // Key order follows the upload (the first occurrence of a duplicate key): not canonical JSON.
  assert.ok(served.startsWith('{"signatures":[{"keyid":'));
});

// ---------------------------------------------------------------------------------------------
// Property: whatever junk arrives, the only error is a TufError.

const interestingKey = fc.constantFrom(
  'signed',
  'signatures',
  '_type',
  'spec_version',
  'version',
  'expires',
  'keyid',
  'sig',
  'bundle',
  'targets',
  'delegations',
  'keys',
  'roles',
  'name',
  'keyids',
  'threshold',
  'paths',
  'path_hash_prefixes',
  'terminating',
  'succinct_roles',
  'length',
  'hashes',
  'sha256',
  'custom',
  'consistent_snapshot',
  'keytype',
  'scheme',
  'keyval',
  'public',
  'root',
  'snapshot',
  'timestamp',
  '__proto__',
  'constructor',
  'toString',
  'hasOwnProperty',
  '0',
  '10',
  '',
);
const interestingScalar = fc.constantFrom<JsonValue>(
  'root',
  'targets',
  '1.0.31',
  '2.0.0',
  EXPIRES,
  '2030-01-01T00:00:00.000Z',
  'demo',
  'demo/*',
  'a'.repeat(64),
  0,
  1,
  -1,
  2 ** 53,
  1.5,
  1e300,
  -0,
  true,
  false,
  null,
  '',
  '__proto__',
);
const { junk } = fc.letrec<{ junk: JsonValue; scalar: JsonValue }>((tie) => ({
  scalar: fc.oneof(
    interestingScalar,
    fc.string({ maxLength: 8 }),
    fc.integer(),
    fc.double({ noNaN: true, noDefaultInfinity: true }),
    fc.boolean(),
    fc.constant(null),
  ),
  junk: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    tie('scalar'),
    fc.array(tie('junk'), { maxLength: 4 }),
    fc.dictionary(fc.oneof(interestingKey, fc.string({ maxLength: 6 })), tie('junk'), { maxKeys: 5 }),
  ),
}));

/** A copy of `doc` with the part reached by `steps` (child indexes) replaced, deleted, or given a new field. */
function mutate(doc: JsonValue, steps: number[], op: 'replace' | 'delete' | 'add', key: string, value: JsonValue): JsonValue {
  const root = { doc: structuredClone(doc) } as JsonObject;
  let parent: JsonObject | JsonValue[] = root;
  let slot: string | number = 'doc';
  for (const step of steps) {
    const here: JsonValue = (parent as Record<string | number, JsonValue>)[slot]!;
    if (typeof here !== 'object' || here === null) break;
    const children: (string | number)[] = Array.isArray(here) ? here.map((_, i) => i) : Object.keys(here);
    if (children.length === 0) break;
    parent = here;
    slot = children[step % children.length]!;
  }
  const target: JsonValue = (parent as Record<string | number, JsonValue>)[slot]!;
  if (op === 'add' && typeof target === 'object' && target !== null && !Array.isArray(target)) {
    Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
  } else if (op === 'delete' && parent !== root) {
    if (Array.isArray(parent)) parent.splice(slot as number, 1);
    else delete parent[slot as string];
  } else {
    (parent as Record<string | number, JsonValue>)[slot] = value;
  }
  return root.doc!;
}

function onlyTufErrors(value: unknown, type: 'root' | 'targets'): void {
  let parsed;
  try {
    parsed = parseMetadata(value, type);
  } catch (err) {
    if (!(err instanceof TufError)) throw new Error(`parseMetadata threw a ${(err as Error)?.name ?? typeof err}: ${String(err)}`);
    return;
  }
  // Whatever is accepted has signed bytes that tuf-js reads back identically.
  assert.deepEqual(parsed.signedBytes, canonicalBytes(parsed.envelope.signed));
  assert.ok(Number.isSafeInteger(parsed.version) && parsed.version >= 1);
  assert.ok(!Number.isNaN(parsed.expires.getTime()));
}

test('property: arbitrary JSON-ish junk is either parsed or refused with a TufError', () => {
  fc.assert(
    fc.property(junk, fc.constantFrom('root' as const, 'targets' as const), (value, type) => {
      onlyTufErrors(value, type);
      onlyTufErrors({ signed: value, signatures: [] }, type);
      // Through JSON text, as uploads arrive (own "__proto__" keys and all).
      onlyTufErrors(JSON.parse(JSON.stringify({ signed: value, signatures: [] })), type);
    }),
    { numRuns: 400 },
  );
});

test('property: valid documents with one part replaced, removed or added are parsed or refused with a TufError', async () => {
  const validRoot = (await signEnvelope(rootSigned(), [rootSigner])) as unknown as JsonValue;
  const validTargets = envelope(targetsSigned(['demo', 'other']), [{ keyid: identityId, sig: 'ab', bundle: {} }]) as unknown as JsonValue;
  fc.assert(
    fc.property(
      fc.constantFrom('root' as const, 'targets' as const),
      fc.array(fc.nat(), { maxLength: 7 }), // the depth of the part changed
      fc.constantFrom('replace' as const, 'delete' as const, 'add' as const),
      fc.oneof(interestingKey, fc.string({ maxLength: 6 })),
      junk,
      (type, steps, op, key, value) => {
        const doc = mutate(type === 'root' ? validRoot : validTargets, steps, op, key, value);
        onlyTufErrors(doc, type);
        onlyTufErrors(JSON.parse(JSON.stringify(doc)), type);
      },
    ),
    { numRuns: 800 },
  );
});
