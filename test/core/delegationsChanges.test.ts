// What a new top-level targets means for project roles: changedDelegations names the roles to look
// at, resignReason says why a published role no longer meets its delegation.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { sha256Hex, type JsonObject } from '../../core/canonical.ts';
import { changedDelegations, findDelegation, resignReason, withDelegation, withoutDelegation } from '../../core/delegations.ts';
import { identityKey } from '../../core/identity.ts';
import { expiresAfter } from '../../core/metadata.ts';
import {
  NOW,
  DAY,
  ISSUER,
  alice,
  bob,
  carol,
  idOf,
  fakeVerifier,
  topSigned,
  model,
  pkg,
  projectSigned,
  candidate,
} from './delegationsHelpers.ts';

// ---------------------------------------------------------------------------------------------
// changedDelegations, resignReason

test('changedDelegations: names roles whose identities, threshold or paths changed, and only those', () => {
  let v1 = withDelegation(topSigned(1), 'demo', [alice, bob], 1);
  v1 = withDelegation(v1, 'other', [carol], 1);
  v1 = withDelegation(v1, 'third', [alice], 1);
  const before = model(v1);
  assert.deepEqual(changedDelegations(null, before), ['demo', 'other', 'third'], 'from nothing, every role is new');
  assert.deepEqual(changedDelegations(before, before), []);
  // Unrelated changes: version, expiry, top-level targets.
  const bumped = { ...v1, version: 2, expires: expiresAfter(NOW, 100 * DAY), targets: pkg('sigstore/other.json') as unknown as JsonObject };
  assert.deepEqual(changedDelegations(before, model(bumped)), []);
  // Rewriting a delegation identically is no change.
  assert.deepEqual(changedDelegations(before, model(withDelegation(v1, 'demo', [alice, bob], 1))), []);
  // Listing the same keyids in another order is no change.
  assert.deepEqual(changedDelegations(before, model(withDelegation(v1, 'demo', [bob, alice], 1))), []);

  assert.deepEqual(changedDelegations(before, model(withDelegation(v1, 'demo', [alice, bob, carol], 1))), ['demo'], 'identity added');
  assert.deepEqual(changedDelegations(before, model(withDelegation(v1, 'demo', [alice], 1))), ['demo'], 'identity removed');
  assert.deepEqual(changedDelegations(before, model(withDelegation(v1, 'demo', [alice, bob], 2))), ['demo'], 'threshold');
  assert.deepEqual(changedDelegations(before, model(withoutDelegation(v1, 'other'))), ['other'], 'role removed');
  assert.deepEqual(changedDelegations(before, model(withDelegation(v1, 'new', [bob], 1))), ['new'], 'role added');
  const paths = structuredClone(v1);
  (paths.delegations as { roles: JsonObject[] }).roles.find((r) => r.name === 'third')!.paths = ['third/*', 'shared/*'];
  assert.deepEqual(changedDelegations(before, model(paths)), ['third'], 'paths');
  // Several at once, sorted.
  let many = withDelegation(v1, 'third', [bob], 1);
  many = withDelegation(many, 'demo', [alice, bob], 2);
  assert.deepEqual(changedDelegations(before, model(many)), ['demo', 'third']);
});

test('changedDelegations: the same keyid with other key content is a change', () => {
  const v1 = withDelegation(topSigned(), 'demo', [alice], 1);
  const v2 = structuredClone(v1);
  // Keyids are taken as given when reading: a new key under the old keyid must not go unnoticed.
  (v2.delegations as { keys: Record<string, JsonObject> }).keys[idOf(alice)] = identityKey(
    'mallory@example.com',
    ISSUER,
  ) as unknown as JsonObject;
  assert.deepEqual(changedDelegations(model(v1), model(v2)), ['demo']);
});

test('changedDelegations: a change of path_hash_prefixes is a change of paths', () => {
  const byPrefix = (prefixes: string[]) => {
    const signed = withDelegation(topSigned(), 'demo', [alice], 1);
    const role = (signed.delegations as { roles: JsonObject[] }).roles[0]!;
    delete role.paths;
    role.path_hash_prefixes = prefixes;
    return model(signed);
  };
  // tuf-js (and resignReason) see different delegated paths...
  const target = 'demo/demo-1.0.tgz';
  const prefix = sha256Hex(Buffer.from(target)).slice(0, 2);
  const other = prefix === '00' ? '01' : '00';
  assert.equal(findDelegation(byPrefix([prefix]), 'demo')!.isDelegatedPath(target), true);
  assert.equal(findDelegation(byPrefix([other]), 'demo')!.isDelegatedPath(target), false);
  // ...so the review after a new targets version must look at this role.
  assert.deepEqual(changedDelegations(byPrefix([prefix]), byPrefix([other])), ['demo']);
});

test('resignReason: null while the published role meets its delegation; otherwise why not', () => {
  const v1 = withDelegation(topSigned(), 'demo', [alice, bob], 1);
  const role = candidate(projectSigned({ version: 4 }), [alice]);
  const verifier = fakeVerifier();
  assert.equal(resignReason(role, findDelegation(model(v1), 'demo')!, verifier), null);
  // Threshold raised: 1 valid of 2 required.
  const raised = findDelegation(model(withDelegation(v1, 'demo', [alice, bob], 2)), 'demo')!;
  const reason = resignReason(role, raised, verifier);
  assert.ok(reason);
  assert.match(reason, /^v4 /);
  assert.match(reason, /1 valid signature\(s\) of the 2 now required/);
  // The signer removed: 0 valid.
  const replaced = findDelegation(model(withDelegation(v1, 'demo', [bob, carol], 1)), 'demo')!;
  assert.match(resignReason(role, replaced, verifier) ?? '', /0 valid signature\(s\) of the 1 now required/);
  // Paths narrowed: the listed targets fall outside.
  const narrowed = structuredClone(v1);
  (narrowed.delegations as { roles: JsonObject[] }).roles[0]!.paths = ['demo/sub/*'];
  const outside = resignReason(role, findDelegation(model(narrowed), 'demo')!, verifier);
  assert.ok(outside);
  assert.match(outside, /outside the delegated paths/);
  assert.ok(outside.includes('demo/demo-1.0.tgz'));
});
