// The files a user writes for the client: TAP 4 map files (core/repositoryMap.ts), the glob
// patterns in them (core/globPattern.ts), and policy pins (core/clientPolicy.ts). Read strictly;
// the mapping decision from what repositories said.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { projectPrefix } from '../../core/bins.ts';
import { parsePolicy, pinsFor, PolicyError } from '../../core/clientPolicy.ts';
import { GlobPattern, namesOf } from '../../core/globPattern.ts';
import {
  agreeingRepositories,
  mappingFailure,
  mappingsFor,
  MapError,
  parseRepositoryMap,
  type RepositoryAnswer,
} from '../../core/repositoryMap.ts';

const SHA_A = 'a'.repeat(64);
const SHA_B = 'b'.repeat(64);

const example = {
  repositories: { Django: ['https://djangoproject.com/'], PyPI: ['https://pypi.python.org/', 'https://mirror.example.net'] },
  mapping: [
    { paths: ['/django/django-1.*.tgz'], repositories: ['Django', 'PyPI'], threshold: 1, terminating: false },
    { paths: ['*'], repositories: ['PyPI'], threshold: 1, terminating: true },
  ],
};

test("TAP 4's example map file reads as written; URLs keep their order, without a trailing slash", () => {
  const map = parseRepositoryMap(example);
  assert.deepEqual(map.repositories.get('PyPI'), ['https://pypi.python.org', 'https://mirror.example.net']);
  assert.deepEqual(
    mappingsFor(map, '/django/django-1.2.tgz').map((m) => m.index),
    [1, 2],
  );
  assert.deepEqual(
    mappingsFor(map, 'demo/demo-1.0.tgz').map((m) => m.index),
    [2],
    '"*" maps every other target, "/" included',
  );
});

test('a map file is refused for anything it cannot mean exactly', () => {
  const bad: [string, unknown][] = [
    ['not an object', []],
    ['an unknown top-level field', { ...example, mappings: [] }],
    ['a misspelt mapping field', { ...example, mapping: [{ ...example.mapping[1], treshold: 1 }] }],
    ['a missing terminating', { ...example, mapping: [{ paths: ['*'], repositories: ['PyPI'], threshold: 1 }] }],
    ['a threshold above its repositories', { ...example, mapping: [{ ...example.mapping[1], threshold: 2 }] }],
    ['a threshold of 0', { ...example, mapping: [{ ...example.mapping[1], threshold: 0 }] }],
    ['an unknown repository', { ...example, mapping: [{ ...example.mapping[1], repositories: ['Nope'] }] }],
    ['a repository listed twice', { ...example, mapping: [{ ...example.mapping[0], repositories: ['PyPI', 'PyPI'] }] }],
    ['a name that is not a folder', { ...example, repositories: { '../x': ['https://x'] } }],
    ['a URL that is not http(s)', { ...example, repositories: { ...example.repositories, Django: ['file:///etc'] } }],
    ['a URL with credentials', { ...example, repositories: { ...example.repositories, Django: ['https://u:p@x'] } }],
    ['no URL', { ...example, repositories: { ...example.repositories, Django: [] } }],
    ['no mapping', { ...example, mapping: [] }],
    ['terminating as a string', { ...example, mapping: [{ ...example.mapping[1], terminating: 'true' }] }],
  ];
  for (const [what, value] of bad) assert.throws(() => parseRepositoryMap(value), MapError, what);
});

test('glob patterns as TAP 4 reads them: * spans "/", ? one character, sets and negated sets; nothing else is special', () => {
  const g = (p: string, name: string) => new GlobPattern(p).matches(name);
  assert.equal(g('*', 'a/b/c.tgz'), true);
  assert.equal(g('demo/*', 'demo/a/b.tgz'), true);
  assert.equal(g('demo/*', 'demox/a.tgz'), false);
  assert.equal(g('demo-?.tgz', 'demo-1.tgz'), true);
  assert.equal(g('demo-?.tgz', 'demo-10.tgz'), false);
  assert.equal(g('demo-[0-9].tgz', 'demo-7.tgz'), true);
  assert.equal(g('demo-[!0-9].tgz', 'demo-7.tgz'), false);
  assert.equal(g('demo.tgz', 'demoxtgz'), false, '"." is literal');
  assert.equal(g('a+b(c)', 'a+b(c)'), true, 'regular-expression characters are literal');
  assert.equal(g('[abc', '[abc'), true, 'an unclosed "[" is literal');
});

test('names in the bin layout also go by their project path', () => {
  const binned = `${projectPrefix('demo')}/demo/demo-1.0.tgz`;
  assert.deepEqual(namesOf(binned), [binned, 'demo/demo-1.0.tgz']);
  assert.deepEqual(namesOf('abc/demo/demo-1.0.tgz'), ['abc/demo/demo-1.0.tgz'], 'not the hash of demo: no second name');
  assert.deepEqual(namesOf('demo/demo-1.0.tgz'), ['demo/demo-1.0.tgz']);
});

test('agreement: exact length and hashes, in the order asked, custom metadata aside; disagreement told from too few', () => {
  const [mapping] = parseRepositoryMap({
    repositories: { A: ['https://a'], B: ['https://b'], C: ['https://c'] },
    mapping: [{ paths: ['*'], repositories: ['A', 'B', 'C'], threshold: 2, terminating: true }],
  }).mapping;
  const found = (repository: string, sha: string, length = 10, extra: [string, string][] = []): RepositoryAnswer => ({
    repository,
    kind: 'found',
    length,
    hashes: [['sha256', sha], ...extra],
  });
  assert.deepEqual(agreeingRepositories(mapping!, [found('A', SHA_A), found('B', SHA_B), found('C', SHA_A)]), ['A', 'C']);
  assert.equal(agreeingRepositories(mapping!, [found('A', SHA_A), found('B', SHA_A, 11)]), null, 'other length');
  assert.equal(
    agreeingRepositories(mapping!, [found('A', SHA_A), found('B', SHA_A, 10, [['sha512', 'c'.repeat(128)]])]),
    null,
    'other set of hashes',
  );
  assert.deepEqual(agreeingRepositories(mapping!, [found('A', SHA_A.toUpperCase()), found('B', SHA_A)]), ['A', 'B'], 'hex case aside');
  assert.equal(mappingFailure([found('A', SHA_A), found('B', SHA_B)]), 'disagreement');
  assert.equal(
    mappingFailure([found('A', SHA_A), { repository: 'B', kind: 'absent' }, { repository: 'C', kind: 'refused', reason: 'x' }]),
    'too_few',
  );
});

test('a policy is read strictly; pins apply by path (also by project path in the bin layout)', () => {
  const alice = { identity: 'alice@example.com', issuer: 'https://accounts.google.com' };
  const pins = parsePolicy({
    pins: [
      { paths: ['demo/*'], identities: [alice] },
      { paths: ['other/*'], provenance: alice },
    ],
  });
  assert.equal(pins[0]!.threshold, 1);
  assert.equal(pins[1]!.threshold, 0);
  assert.deepEqual(
    pinsFor(pins, `${projectPrefix('demo')}/demo/demo-1.0.tgz`).map((p) => p.index),
    [1],
  );
  assert.deepEqual(pinsFor(pins, 'third/x.tgz'), []);
  const bad: unknown[] = [
    { pins: [{ paths: ['demo/*'], identites: [alice] }] },
    { pins: [{ paths: ['demo/*'] }] },
    { pins: [{ paths: [], identities: [alice] }] },
    { pins: [{ paths: ['demo/*'], identities: [alice], threshold: 2 }] },
    { pins: [{ paths: ['demo/*'], identities: [alice, alice], threshold: 2 }] },
    { pins: [{ paths: ['demo/*'], provenance: alice, threshold: 1 }] },
    { pins: [{ paths: ['demo/*'], identities: [{ identity: 'alice@example.com' }] }] },
    { pin: [] },
  ];
  for (const b of bad) assert.throws(() => parsePolicy(b), PolicyError, JSON.stringify(b));
});
