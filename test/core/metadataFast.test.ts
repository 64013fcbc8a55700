// parseMetadata for targets roles whose tuf-js round trip was checked already (on a worker, or
// before they were stored): the model must be the one tuf-js's own fromJSON builds.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Metadata, MetadataKind } from '@tufjs/models';
import fc from 'fast-check';
import { canonicalBytes, type JsonObject } from '../../core/canonical.ts';
import { assertTargetCount } from '../../core/delegations.ts';
import { isTufError } from '../../core/errors.ts';
import { buildTargetsSigned, parseMetadata, readSignedDocument } from '../../core/metadata.ts';

// Canonical JSON has no floats: integers, strings, booleans, null, and small containers of them.
const value = fc.oneof(
  fc.integer(),
  fc.string({ maxLength: 5 }),
  fc.boolean(),
  fc.constant(null),
  fc.array(fc.integer(), { maxLength: 3 }),
  fc.dictionary(fc.string({ maxLength: 3 }), fc.string({ maxLength: 3 })),
);
const hex = (n: number) => fc.string({ unit: fc.constantFrom(...'0123456789abcdef'), minLength: n, maxLength: n });
const entry = fc.record(
  {
    length: fc.nat(),
    hashes: fc.record({ sha256: hex(64), sha512: hex(128) }),
    custom: fc.option(fc.dictionary(fc.string({ maxLength: 5 }), value), { nil: undefined }),
  },
  { requiredKeys: ['length', 'hashes'] },
);

test('the model of a checked targets role equals the one tuf-js builds', () => {
  fc.assert(
    fc.property(
      fc.dictionary(fc.stringMatching(/^p\/[a-z0-9._-]{1,12}$/), entry, { maxKeys: 20 }),
      fc.option(fc.dictionary(fc.stringMatching(/^x-[a-z]{1,6}$/), value), { nil: undefined }),
      (targets, extra) => {
        const signed = {
          ...buildTargetsSigned({ version: 3, expires: '2031-01-01T00:00:00Z', targets: targets as never }),
          ...(extra ?? {}),
        } as JsonObject;
        const envelope = JSON.parse(JSON.stringify({ signed, signatures: [] }));
        const slow = {
          ...parseMetadata(envelope, 'targets', 'p'),
          model: Metadata.fromJSON(MetadataKind.Targets, structuredClone(envelope)).signed,
        };
        const fast = parseMetadata(envelope, 'targets', 'p', { roundTripChecked: true });
        assert.ok(canonicalBytes(fast.model.toJSON()).equals(canonicalBytes(slow.model.toJSON())));
        assert.ok(fast.signedBytes.equals(slow.signedBytes));
        assert.deepEqual(Object.keys(fast.model.targets), Object.keys(slow.model.targets));
        for (const [path, file] of Object.entries(slow.model.targets)) {
          assert.deepEqual(fast.model.targets[path]!.hashes, file.hashes);
          assert.deepEqual(fast.model.targets[path]!.unrecognizedFields, file.unrecognizedFields);
        }
        assert.deepEqual(
          { ...readSignedDocument(envelope, 'targets', 'p') },
          { type: slow.type, envelope: slow.envelope, signedBytes: slow.signedBytes, version: slow.version, expires: slow.expires },
        );
      },
    ),
    { numRuns: 200, seed: 19 },
  );
});

test('a project role may list at most MAX_TARGETS_PER_PROJECT_ROLE targets', () => {
  const targets = Object.fromEntries(Array.from({ length: 11 }, (_, i) => [`p/f${i}`, {}]));
  assert.doesNotThrow(() => assertTargetCount('p', targets, 11));
  assert.throws(
    () => assertTargetCount('p', targets, 10),
    (err) => isTufError(err, 'too_many_targets'),
  );
  assert.doesNotThrow(() => assertTargetCount('p', undefined, 0));
});
