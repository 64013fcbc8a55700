// parseMetadata is the gate every uploaded root and targets document passes: it must refuse every
// shape we (or TUF clients) cannot represent exactly, with a code, and accept what we build ourselves.
// Here: property tests over junk and over valid documents with one part changed.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { canonicalBytes, type JsonObject, type JsonValue } from '../../core/canonical.ts';
import { TufError } from '../../core/errors.ts';
import { parseMetadata, signEnvelope } from '../../core/metadata.ts';
import { EXPIRES, rootSigner, rootSigned, identityId, targetsSigned, envelope } from './metadataHelpers.ts';

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
