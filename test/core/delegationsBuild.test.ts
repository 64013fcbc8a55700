// Building delegations of project roles to identities (TAP 18) into top-level targets, and reading
// them back: findDelegation, delegationMaintainers, withDelegation, withoutDelegation.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { JsonObject } from '../../core/canonical.ts';
import { delegationMaintainers, findDelegation, withDelegation, withoutDelegation, type Delegation } from '../../core/delegations.ts';
import { identityKey } from '../../core/identity.ts';
import { generatePrivateKey } from '../../core/keys.ts';
import { parseMetadata } from '../../core/metadata.ts';
import { privateKeySigner } from '../../core/signer.ts';
import { ISSUER, alice, bob, carol, idOf, refusedWith, topSigned, model, delegationFor } from './delegationsHelpers.ts';

// ---------------------------------------------------------------------------------------------
// findDelegation, delegationMaintainers

test('findDelegation: the role, its keys only, its paths, and tuf-js path matching', () => {
  let signed = withDelegation(topSigned(), 'demo', [alice, bob], 2);
  signed = withDelegation(signed, 'other', [carol], 1);
  const targets = model(signed);
  const d = findDelegation(targets, 'demo');
  assert.ok(d);
  assert.equal(d.name, 'demo');
  assert.deepEqual(d.role, { keyids: [idOf(alice), idOf(bob)], threshold: 2 });
  assert.deepEqual(Object.keys(d.keys).sort(), [idOf(alice), idOf(bob)].sort(), 'keys of other roles are not included');
  assert.deepEqual(d.keys[idOf(alice)], identityKey(alice.identity, alice.issuer));
  assert.deepEqual(d.paths, ['demo/*']);
  assert.equal(d.isDelegatedPath('demo/demo-1.0.tgz'), true);
  for (const outside of ['other/x', 'demo', 'demox/a', 'demo/sub/file', 'x/demo/a'])
    assert.equal(d.isDelegatedPath(outside), false, outside);

  assert.equal(findDelegation(targets, 'missing'), null);
  assert.equal(findDelegation(model(topSigned()), 'demo'), null, 'targets without delegations');
  assert.equal(findDelegation(targets, '__proto__'), null);
});

test('findDelegation: a keyid the role lists but "keys" lacks is left out (it can never count)', () => {
  const signed = withDelegation(topSigned(), 'demo', [alice], 1);
  const delegations = signed.delegations as { roles: { keyids: string[] }[] };
  delegations.roles[0]!.keyids.push('ab'.repeat(32));
  const d = findDelegation(model(signed), 'demo');
  assert.ok(d);
  assert.deepEqual(d.role.keyids, [idOf(alice), 'ab'.repeat(32)]);
  assert.deepEqual(Object.keys(d.keys), [idOf(alice)]);
  assert.deepEqual(delegationMaintainers(d), [{ keyid: idOf(alice), ...alice }]);
});

test('delegationMaintainers: identity keys in role order; other and missing keys skipped', () => {
  const ed = privateKeySigner(generatePrivateKey('ed25519'));
  const d: Delegation = {
    ...delegationFor([bob, alice, carol], 1),
  };
  assert.deepEqual(delegationMaintainers(d), [
    { keyid: idOf(bob), ...bob },
    { keyid: idOf(alice), ...alice },
    { keyid: idOf(carol), ...carol },
  ]);
  const mixed: Delegation = {
    ...d,
    keys: { ...d.keys, [ed.keyid]: ed.publicKey },
    role: { keyids: [ed.keyid, idOf(alice), 'ff'.repeat(32)], threshold: 1 },
  };
  assert.deepEqual(delegationMaintainers(mixed), [{ keyid: idOf(alice), ...alice }]);
});

// ---------------------------------------------------------------------------------------------
// withDelegation / withoutDelegation

test('withDelegation: delegates <project>/* to the identities, terminating, and leaves the input alone', () => {
  const before = topSigned(4);
  const snapshot = structuredClone(before);
  const next = withDelegation(before, 'demo', [alice, bob], 1);
  assert.deepEqual(before, snapshot, 'input not mutated');
  assert.equal(next.version, 4, "version and expiry are the caller's to set");
  assert.equal(next.expires, before.expires);
  assert.deepEqual(next.targets, before.targets);
  assert.deepEqual(next.delegations, {
    keys: {
      [idOf(alice)]: identityKey(alice.identity, alice.issuer),
      [idOf(bob)]: identityKey(bob.identity, bob.issuer),
    },
    roles: [{ name: 'demo', keyids: [idOf(alice), idOf(bob)], threshold: 1, paths: ['demo/*'], terminating: true }],
  });
  // What it writes, TUF clients read back byte for byte.
  parseMetadata({ signed: next, signatures: [] }, 'targets');
});

test('withDelegation: threshold between 1 and the number of distinct identities', () => {
  for (const threshold of [0, -1, 3, 1.5, Number.NaN, Infinity]) {
    assert.throws(() => withDelegation(topSigned(), 'demo', [alice, bob], threshold), refusedWith('malformed'), String(threshold));
  }
  for (const threshold of [1, 2]) withDelegation(topSigned(), 'demo', [alice, bob], threshold);
  // The same identity twice is one key: it cannot meet a threshold of 2.
  assert.throws(() => withDelegation(topSigned(), 'demo', [alice, { ...alice }], 2), refusedWith('malformed'));
  const once = withDelegation(topSigned(), 'demo', [alice, { ...alice }], 1);
  assert.deepEqual((once.delegations as { roles: { keyids: string[] }[] }).roles[0]!.keyids, [idOf(alice)]);
  // Same identity at another issuer is another key.
  withDelegation(topSigned(), 'demo', [alice, { ...alice, issuer: 'https://other.example' }], 2);
  assert.throws(() => withDelegation(topSigned(), 'demo', [], 1), refusedWith('malformed'));
});

test('withDelegation: refuses bad role names and bad identities', () => {
  for (const name of [
    '',
    'Demo',
    'root',
    'targets',
    'snapshot',
    'timestamp',
    '12',
    '1.5',
    'a..b',
    '-demo',
    'demo-',
    'de mo',
    'de/mo',
    'x'.repeat(65),
    '__proto__',
  ]) {
    assert.throws(() => withDelegation(topSigned(), name, [alice], 1), refusedWith('bad_role_name'), name);
  }
  for (const m of [
    { identity: '', issuer: ISSUER },
    { identity: 'a b@example.com', issuer: ISSUER },
    { identity: 'a@example.com\n', issuer: ISSUER },
    { identity: 'a@example.com', issuer: 'issuer.example' },
    { identity: 'a@example.com', issuer: 'ftp://issuer.example' },
  ]) {
    assert.throws(() => withDelegation(topSigned(), 'demo', [alice, m], 1), refusedWith('malformed'), JSON.stringify(m));
  }
});

test('withDelegation: replaces an existing delegation of the same name and prunes keys nobody uses', () => {
  let signed = withDelegation(topSigned(), 'demo', [alice, bob], 2);
  signed = withDelegation(signed, 'other', [bob], 1);
  signed = withDelegation(signed, 'demo', [carol], 1);
  const delegations = signed.delegations as { keys: JsonObject; roles: JsonObject[] };
  assert.deepEqual(
    delegations.roles.map((r) => r.name),
    ['other', 'demo'],
  );
  assert.deepEqual(
    delegations.roles.find((r) => r.name === 'demo'),
    { name: 'demo', keyids: [idOf(carol)], threshold: 1, paths: ['demo/*'], terminating: true },
  );
  // alice was only demo's: gone. bob still serves "other": kept.
  assert.deepEqual(Object.keys(delegations.keys).sort(), [idOf(bob), idOf(carol)].sort());
  const d = findDelegation(model(signed), 'demo');
  assert.deepEqual(d?.role, { keyids: [idOf(carol)], threshold: 1 });
});

test('withoutDelegation: removes the role, prunes its unshared keys, refuses what is not delegated', () => {
  let signed = withDelegation(topSigned(), 'demo', [alice, bob], 1);
  signed = withDelegation(signed, 'other', [bob], 1);
  const snapshot = structuredClone(signed);
  const next = withoutDelegation(signed, 'demo');
  assert.deepEqual(signed, snapshot, 'input not mutated');
  const delegations = next.delegations as { keys: JsonObject; roles: JsonObject[] };
  assert.deepEqual(
    delegations.roles.map((r) => r.name),
    ['other'],
  );
  assert.deepEqual(Object.keys(delegations.keys), [idOf(bob)]);
  assert.equal(findDelegation(model(next), 'demo'), null);
  const empty = withoutDelegation(next, 'other');
  assert.deepEqual(empty.delegations, { keys: {}, roles: [] });
  parseMetadata({ signed: empty, signatures: [] }, 'targets');

  assert.throws(() => withoutDelegation(next, 'demo'), refusedWith('not_delegated'));
  assert.throws(() => withoutDelegation(topSigned(), 'demo'), refusedWith('not_delegated'), 'no delegations at all');
});
