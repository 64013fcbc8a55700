// Delegated roles in the trusted set: verification under the delegator's keys, and the TUF 5.6.7
// search: preorder depth first, in order of appearance, terminating delegations, cycles, the bound
// on visited roles, path_hash_prefixes and TAP 15 succinct hash bins.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { test } from 'node:test';
import type { JsonObject } from '../../core/canonical.ts';
import { isTrustError } from '../../core/trustedSet.ts';
import {
  code,
  delegations,
  envelope,
  fixture,
  loaded,
  newKey,
  search,
  targetEntry,
  targetsSigned,
  type Fixture,
} from './trustedSetHelpers.ts';

test("delegated roles are verified with the delegator's keys and threshold", () => {
  const f = fixture();
  const [m1, m2] = [newKey(), newKey('ecdsa')];
  const targets = envelope(
    targetsSigned(
      1,
      {},
      { delegations: delegations([{ name: 'proj', keys: [m1, m2], threshold: 2, paths: ['proj/*'], terminating: true }]) },
    ),
    [f.k.targets],
  );
  const signed = targetsSigned(1, { 'proj/x': targetEntry(Buffer.from('x')) });
  for (const [signers, ok] of [
    [[m1], false],
    [[m1, f.k.targets], false],
    [[m1, m2], true],
  ] as const) {
    const proj = envelope(signed, [...signers]);
    const set = loaded(f, targets, { proj });
    if (ok) assert.equal(search(set, { proj }, 'proj/x').found?.role, 'proj');
    else
      assert.throws(
        () => search(set, { proj }, 'proj/x'),
        (e) => isTrustError(e, 'threshold_not_met') && /proj was signed by \d\/2 keys/.test(e.message),
      );
  }
  // A role the delegator does not delegate cannot be loaded under it.
  const set = loaded(f, targets, { other: envelope(signed, [m1, m2]) });
  assert.throws(() => set.updateDelegatedTargets(envelope(signed, [m1, m2]), 'other', 'targets'), code('not_delegated'));
});

/**
 * targets -> A (proj/*), B (proj/*, terminating), C (proj/*); A -> A1 (proj/*), A2 (other/*);
 * A1 -> B (a cycle back into B). Every role signed by one key.
 */
function graph(f: Fixture, listing: Record<string, string[]>) {
  const key = newKey();
  const d = (roles: Parameters<typeof delegations>[0]) => delegations(roles.map((r) => ({ ...r, keys: [key] })));
  const entries = (role: string) => Object.fromEntries((listing[role] ?? []).map((p) => [p, targetEntry(Buffer.from(`${role}:${p}`))]));
  const spec: Record<string, JsonObject | undefined> = {
    A: d([
      { name: 'A1', keys: [], paths: ['proj/*'] },
      { name: 'A2', keys: [], paths: ['other/*'] },
    ]),
    A1: d([{ name: 'B', keys: [], paths: ['proj/*'] }]),
    A2: undefined,
    B: undefined,
    C: undefined,
  };
  const roles: Record<string, Buffer> = {};
  for (const [name, dels] of Object.entries(spec))
    roles[name] = envelope(targetsSigned(1, entries(name), dels ? { delegations: dels } : {}), [key]);
  const top = envelope(
    targetsSigned(1, entries('targets'), {
      delegations: d([
        { name: 'A', keys: [], paths: ['proj/*'] },
        { name: 'B', keys: [], paths: ['proj/*'], terminating: true },
        { name: 'C', keys: [], paths: ['proj/*'] },
      ]),
    }),
    [f.k.targets],
  );
  return { top, roles };
}

test('delegation walk: preorder depth first, in order of appearance, terminating ends it, cycles skipped', () => {
  const f = fixture();
  const cases: [string, Record<string, string[]>, string[], string | null][] = [
    // Found in A1 (A's first child) before B, although B lists it too.
    ['proj/x', { A1: ['proj/x'], B: ['proj/x'] }, ['A', 'A1'], 'A1'],
    // A1 delegates B too; B is visited there, first, and is terminating in targets only.
    ['proj/y', { B: ['proj/y'] }, ['A', 'A1', 'B'], 'B'],
    // Nowhere: C comes after the terminating B and is never visited.
    ['proj/z', { C: ['proj/z'] }, ['A', 'A1', 'B'], null],
    // other/* reaches A? No: targets delegates only proj/* to A.
    ['other/q', { A2: ['other/q'] }, [], null],
  ];
  for (const [path, listing, order, role] of cases) {
    const { top, roles } = graph(f, listing);
    const set = loaded(f, top, roles);
    const { asked, found } = search(set, roles, path);
    assert.deepEqual(asked, order, path);
    assert.equal(found?.role ?? null, role, path);
  }
});

test('delegation walk: at most maxDelegations roles are visited', () => {
  const f = fixture();
  const key = newKey();
  const depth = 40;
  const roles: Record<string, Buffer> = {};
  for (let i = 0; i < depth; i++) {
    const dels = i + 1 < depth ? delegations([{ name: `r${i + 1}`, keys: [key], paths: ['*'] }]) : undefined;
    roles[`r${i}`] = envelope(targetsSigned(1, { [`at${i}`]: targetEntry(Buffer.from(String(i))) }, dels ? { delegations: dels } : {}), [
      key,
    ]);
  }
  const top = envelope(targetsSigned(1, {}, { delegations: delegations([{ name: 'r0', keys: [key], paths: ['*'] }]) }), [f.k.targets]);
  const set = loaded(f, top, roles);
  // tuf-js's bound: the loop runs while visited <= max, so targets and `max` delegated roles.
  assert.equal(search(set, roles, 'at3', 4).found?.role, 'r3');
  assert.equal(search(set, roles, 'at4', 4).found, null);
  assert.equal(search(set, roles, 'at31').found?.role, 'r31');
  assert.equal(search(set, roles, 'at32').found, null);
});

test('path_hash_prefixes and TAP 15 succinct roles pick the bin of the target path', () => {
  const f = fixture();
  const key = newKey();
  const path = 'pkg/file-1.tgz';
  const hash = createHash('sha256').update(path).digest('hex');
  const other = hash[0] === '0' ? '1' : '0';
  const targets = envelope(
    targetsSigned(
      1,
      {},
      {
        delegations: delegations([
          { name: 'bin-x', keys: [key], path_hash_prefixes: [`${other}`] },
          { name: 'bin-y', keys: [key], path_hash_prefixes: [hash.slice(0, 2)] },
        ]),
      },
    ),
    [f.k.targets],
  );
  const binY = envelope(targetsSigned(1, { [path]: targetEntry(Buffer.from('f')) }), [key]);
  assert.equal(search(loaded(f, targets, { 'bin-y': binY }), { 'bin-y': binY }, path).found?.role, 'bin-y');

  const bits = 8;
  const bin = `bins-${(parseInt(hash.slice(0, 8), 16) >>> (32 - bits)).toString(16).padStart(2, '0')}`;
  const succinct = targetsSigned(
    1,
    {},
    {
      delegations: {
        keys: { [key.keyid]: key.pub as unknown as JsonObject },
        succinct_roles: { keyids: [key.keyid], threshold: 1, bit_length: bits, name_prefix: 'bins' },
      },
    },
  );
  const top = envelope(succinct, [f.k.targets]);
  const binRole = envelope(targetsSigned(1, { [path]: targetEntry(Buffer.from('f')) }), [key]);
  const set = loaded(f, top, { [bin]: binRole });
  const { asked, found } = search(set, { [bin]: binRole }, path);
  assert.deepEqual(asked, [bin]);
  assert.equal(found?.role, bin);
  // A name outside the bins is not delegated by succinct_roles.
  assert.throws(() => set.updateDelegatedTargets(binRole, 'bins-100', 'targets'), code('not_delegated'));
});
