// core/targetsModel.ts builds the tuf-js model of a targets document without tuf-js's quadratic
// maps: it must be the model tuf-js's own fromJSON builds (same JSON back, same order, same
// delegation lookups) and refuse what tuf-js refuses.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { Targets } from '@tufjs/models';
import fc from 'fast-check';
import { canonicalBytes, type JsonObject } from '../../core/canonical.ts';
import { targetsModel } from '../../core/targetsModel.ts';

const hex = (n: number) => fc.string({ unit: fc.constantFrom(...'0123456789abcdef'), minLength: n, maxLength: n });
const extra = fc.option(fc.dictionary(fc.stringMatching(/^x-[a-z]{1,6}$/), fc.oneof(fc.integer(), fc.string({ maxLength: 4 }))), {
  nil: undefined,
});
const key = fc.record(
  {
    keytype: fc.constantFrom('ed25519', 'sigstore-oidc'),
    scheme: fc.constantFrom('ed25519', 'Fulcio'),
    keyval: fc.oneof(fc.record({ public: hex(64) }), fc.record({ identity: fc.emailAddress(), issuer: fc.webUrl() })),
    extra,
  },
  { requiredKeys: ['keytype', 'scheme', 'keyval'] },
);
const roleName = fc.oneof(fc.stringMatching(/^[a-z][a-z0-9._-]{0,10}$/), fc.constantFrom('__proto__', 'constructor', 'toString'));

/** A targets document with random files and delegations, as JSON (tuf-js mutates nothing, but each parser gets its own copy). */
const document = fc
  .record({
    targets: fc.dictionary(
      fc.oneof(fc.stringMatching(/^p\/[a-z0-9._-]{1,10}$/), fc.constant('__proto__')),
      fc.record({ length: fc.nat(), hashes: fc.record({ sha256: hex(64) }) }),
      {
        maxKeys: 8,
      },
    ),
    keys: fc.dictionary(hex(64), key, { maxKeys: 12 }),
    roles: fc.uniqueArray(
      fc.record({
        name: roleName,
        threshold: fc.integer({ min: 1, max: 3 }),
        terminating: fc.boolean(),
        byHash: fc.boolean(),
        extra,
      }),
      { selector: (r) => r.name, maxLength: 12 },
    ),
    delegationsExtra: extra,
    withDelegations: fc.boolean(),
  })
  .map(({ targets, keys, roles, delegationsExtra, withDelegations }) => {
    const keyids = Object.keys(keys);
    const signed: JsonObject = {
      _type: 'targets',
      spec_version: '1.0.31',
      version: 2,
      expires: '2031-01-01T00:00:00Z',
      targets: JSON.parse(JSON.stringify(targets)),
    };
    if (withDelegations) {
      signed.delegations = {
        keys: Object.fromEntries(
          Object.entries(keys).map(([id, k]) => [id, { keytype: k.keytype, scheme: k.scheme, keyval: k.keyval, ...(k.extra ?? {}) }]),
        ),
        roles: roles.map((r, i) => ({
          name: r.name,
          keyids: keyids.slice(0, (i % 3) + 1),
          threshold: r.threshold,
          terminating: r.terminating,
          ...(r.byHash ? { path_hash_prefixes: [(i % 16).toString(16)] } : { paths: [`${r.name}/*`] }),
          ...(r.extra ?? {}),
        })),
        ...(delegationsExtra ?? {}),
      } as unknown as JsonObject;
    }
    return JSON.parse(JSON.stringify(signed)) as JsonObject;
  });

function tufjs(signed: JsonObject): Targets {
  return Targets.fromJSON(structuredClone(signed) as never);
}

test('the linear model is the one tuf-js builds: same JSON, same order, same delegation lookups', () => {
  fc.assert(
    fc.property(document, (signed) => {
      const ours = targetsModel(signed);
      const theirs = tufjs(signed);
      assert.ok(canonicalBytes(ours.toJSON()).equals(canonicalBytes(theirs.toJSON())));
      assert.deepEqual(Object.keys(ours.targets), Object.keys(theirs.targets));
      assert.deepEqual(Object.keys(ours.delegations?.keys ?? {}), Object.keys(theirs.delegations?.keys ?? {}));
      assert.deepEqual(Object.keys(ours.delegations?.roles ?? {}), Object.keys(theirs.delegations?.roles ?? {}));
      for (const name of Object.keys(theirs.delegations?.roles ?? {})) {
        for (const target of [`${name}/f.tgz`, 'other/f.tgz']) {
          assert.deepEqual([...ours.delegations!.rolesForTarget(target)], [...theirs.delegations!.rolesForTarget(target)]);
        }
      }
      // Names such as __proto__ are own entries, as they are in tuf-js's maps; no prototype moved.
      for (const map of [ours.targets, ours.delegations?.roles ?? {}]) assert.equal(Object.getPrototypeOf(map), Object.prototype);
    }),
    { numRuns: 300, seed: 12 },
  );
});

test('the real tuf-on-ci targets reads the same', () => {
  const dir = path.resolve(import.meta.dirname, '../fixtures/tuf-on-ci');
  const signed = JSON.parse(fs.readFileSync(path.join(dir, 'targets.json'), 'utf8')).signed as JsonObject;
  assert.ok(canonicalBytes(targetsModel(signed).toJSON()).equals(canonicalBytes(tufjs(signed).toJSON())));
});

test('what tuf-js refuses is refused, and what it reads oddly reads the same', () => {
  const base = (delegations: unknown): JsonObject =>
    ({ _type: 'targets', spec_version: '1.0.31', version: 1, expires: '2031-01-01T00:00:00Z', targets: {}, delegations }) as JsonObject;
  const k = 'a'.repeat(64);
  const goodKey = { keytype: 'ed25519', scheme: 'ed25519', keyval: { public: 'b'.repeat(64) } };
  const role = (over: JsonObject) => ({ name: 'p', keyids: [k], threshold: 1, terminating: true, paths: ['p/*'], ...over });
  const refused: [string, JsonObject][] = [
    ['a role named like a top-level role', base({ keys: { [k]: goodKey }, roles: [role({ name: 'snapshot' })] })],
    ['paths and path_hash_prefixes together', base({ keys: { [k]: goodKey }, roles: [role({ path_hash_prefixes: ['a'] })] })],
    ['a key without keyval', base({ keys: { [k]: { keytype: 'ed25519', scheme: 'ed25519' } }, roles: [] })],
    ['a key that is not an object', base({ keys: { [k]: 'key' }, roles: [] })],
    ['a role that is not an object', base({ keys: { [k]: goodKey }, roles: ['p'] })],
    ['a threshold that is not a number', base({ keys: { [k]: goodKey }, roles: [role({ threshold: '1' })] })],
    ['keys that are not an object', base({ keys: [goodKey], roles: [] })],
    ['roles that are not an array', base({ keys: { [k]: goodKey }, roles: { p: role({}) } })],
    ['delegations that are not an object', base('none')],
  ];
  let refusedByBoth = 0;
  for (const [what, signed] of refused) {
    const theirs = (() => {
      try {
        return canonicalBytes(tufjs(signed).toJSON());
      } catch {
        return null;
      }
    })();
    if (theirs === null) {
      assert.throws(() => targetsModel(signed), Error, `accepted ${what}`);
      refusedByBoth++;
    }
    // What tuf-js reads its own way (keys as an array) reads the same here; parseMetadata's round trip refuses it.
    else assert.ok(canonicalBytes(targetsModel(signed).toJSON()).equals(theirs), what);
  }
  assert.equal(refusedByBoth, refused.length - 1, 'only keys as an array is read by tuf-js');
  assert.throws(() => targetsModel({ ...base(undefined), targets: { 'p/f': { length: 'x', hashes: {} } } }));
});
