// parseMetadata is the gate every uploaded root and targets document passes: it must refuse every
// shape we (or TUF clients) cannot represent exactly, with a code, and accept what we build ourselves.
// Here: delegated roles, and documents tuf-js would read back to other bytes.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { canonicalBytes, type JsonObject } from '../../core/canonical.ts';
import { keyidOf } from '../../core/keys.ts';
import { buildTargetsSigned, parseMetadata } from '../../core/metadata.ts';
import { EXPIRES, refusedWith, onlineKey, rootSigned, delegatedRole, targetsSigned, envelope } from './metadataHelpers.ts';

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
