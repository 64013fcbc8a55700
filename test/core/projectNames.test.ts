// The pure name rules shared by the server and the offline tool: PEP 503 normalization, reserved
// names, look-alikes, contested registrations and what --accept takes.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { isTufError } from '../../core/errors.ts';
import { roleNameProblem } from '../../core/names.ts';
import {
  acceptedRegistrations,
  assertProjectNameAvailable,
  confusableWith,
  contestedProjects,
  normalizeProjectName,
  reservedProjectNames,
  separatorVariants,
  type PendingClaim,
} from '../../core/projectNames.ts';

const claim = (id: number, project: string, identity: string, issuer = 'https://issuer.example'): PendingClaim => ({
  id,
  project,
  identity,
  issuer,
  requestedAt: '2030-01-01T00:00:00Z',
});

test('PEP 503: lowercase, every run of - _ . is one -', () => {
  assert.equal(normalizeProjectName('my-lib'), 'my-lib');
  assert.equal(normalizeProjectName('my_lib'), 'my-lib');
  assert.equal(normalizeProjectName('My.Lib'), 'my-lib');
  assert.equal(normalizeProjectName('a-_.b__c'), 'a-b-c');
  assert.notEqual(normalizeProjectName('mylib'), normalizeProjectName('my-lib'));
});

test("reserved: the first folder of top-level targets' own paths, and the configured names", () => {
  const reserved = reservedProjectNames(['sigstore/trusted_root.json', 'hello.txt', 'docs/a/b.txt'], ['internal', 'Admin_Tools']);
  assert.deepEqual([...reserved].sort(), ['admin-tools', 'docs', 'internal', 'sigstore']);
  const refused = (name: string) => {
    try {
      assertProjectNameAvailable(name, { reserved, known: [] });
      return null;
    } catch (err) {
      return isTufError(err) ? err.code : 'other';
    }
  };
  assert.equal(refused('sigstore'), 'reserved_name');
  assert.equal(refused('admin.tools'), 'reserved_name', 'compared normalized');
  assert.equal(refused('hello'), null, 'a file at the top is not a folder');
});

test('look-alikes: refused with the existing name; the same spelling is not a look-alike', () => {
  const known = [
    { name: 'my-lib', source: 'project' as const },
    { name: 'other_lib', source: 'registration' as const },
  ];
  assert.equal(confusableWith('my-lib', known), null);
  assert.deepEqual(confusableWith('my_lib', known), known[0]);
  assert.throws(
    () => assertProjectNameAvailable('my.lib', { reserved: new Set(), known }),
    (err) => isTufError(err, 'confusable_name') && /my-lib/.test(err.message) && err.details?.existing === 'my-lib',
  );
  assert.throws(
    () => assertProjectNameAvailable('other-lib', { reserved: new Set(), known }),
    (err) => isTufError(err, 'confusable_name') && /pending registration/.test(err.message),
  );
});

test('contests: several identities (or issuers, or spellings) for one name', () => {
  const contested = contestedProjects([
    claim(1, 'alone', 'alice@example.com'),
    claim(2, 'alone', 'alice@example.com'), // the same identity twice is no contest
    claim(3, 'hot', 'alice@example.com'),
    claim(4, 'hot', 'eve@example.com'),
    claim(5, 'twin', 'bob@example.com', 'https://a.example'),
    claim(6, 'twin', 'bob@example.com', 'https://b.example'),
    claim(7, 'my-lib', 'carol@example.com'),
    claim(8, 'my_lib', 'carol@example.com'),
  ]);
  assert.deepEqual([...contested.keys()].sort(), ['hot', 'my-lib', 'twin']);
  assert.deepEqual(
    contested.get('hot')!.map((c) => c.id),
    [3, 4],
  );
});

test('acceptedRegistrations: uncontested as before; contested only with --accept', () => {
  const claims = [
    claim(1, 'solo', 'alice@example.com'),
    claim(2, 'hot', 'alice@example.com'),
    claim(3, 'hot', 'eve@example.com'),
    claim(4, 'hot', 'bob@example.com'),
  ];
  assert.deepEqual(acceptedRegistrations(claims, 'solo'), [{ identity: 'alice@example.com', issuer: 'https://issuer.example' }]);
  assert.throws(
    () => acceptedRegistrations(claims, 'hot'),
    (err) => isTufError(err, 'contested_project') && (err.details?.claims as PendingClaim[]).length === 3,
  );
  assert.deepEqual(
    acceptedRegistrations(claims, 'hot', [2, 4]).map((m) => m.identity),
    ['alice@example.com', 'bob@example.com'],
  );
  assert.throws(
    () => acceptedRegistrations(claims, 'hot', [1]),
    (err) => isTufError(err, 'not_delegated'),
    'an id of another project',
  );
  assert.throws(
    () => acceptedRegistrations(claims, 'nobody'),
    (err) => isTufError(err, 'not_delegated'),
  );
});

test('separatorVariants lists every other valid spelling, or null past the limit', () => {
  assert.deepEqual(separatorVariants('a-b')!.sort(), ['a.b', 'a_b']);
  assert.equal(separatorVariants('ab')!.length, 0);
  assert.equal(separatorVariants('a-b-c-d-e-f', 80), null);
  fc.assert(
    fc.property(fc.stringMatching(/^[a-z0-9]{1,4}(?:[-_.][a-z0-9]{1,4}){0,3}$/), (name) => {
      const variants = separatorVariants(name)!;
      for (const v of variants) {
        assert.equal(normalizeProjectName(v), normalizeProjectName(name));
        assert.notEqual(v, name);
        if (roleNameProblem(name) === null && !/^[0-9.]+$/.test(v)) assert.equal(roleNameProblem(v), null, v);
      }
      assert.equal(new Set(variants).size, variants.length);
    }),
  );
});
