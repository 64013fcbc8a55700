// The server finds a project's delegator with compiled path matchers (core/delegate.ts); they must
// give tuf-js's own verdict for every parsed role, by paths and by path hash prefixes alike.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Targets } from '@tufjs/models';
import fc from 'fast-check';
import { delegatedPathMatcher } from '../../core/delegate.ts';
import { targetPathHash } from '../../core/pathPatterns.ts';

function role(fields: { paths?: string[]; path_hash_prefixes?: string[] }) {
  const targets = Targets.fromJSON({
    _type: 'targets',
    spec_version: '1.0.31',
    version: 1,
    expires: '2099-01-01T00:00:00Z',
    targets: {},
    delegations: { keys: {}, roles: [{ name: 'r', keyids: [], threshold: 1, terminating: false, ...fields }] },
  });
  return targets.delegations!.roles!.r!;
}

test('compiled matchers agree with DelegatedRole.isDelegatedPath for path patterns', () => {
  const segment = fc.constantFrom('a', 'b', '3fa', '*', 'a*', '?', '.x', 'proj', '[ab]');
  const pathOf = fc.array(fc.constantFrom('a', 'b', '3fa', 'proj', '.x', 'x.tgz'), { minLength: 1, maxLength: 4 }).map((s) => s.join('/'));
  const patternOf = fc.array(segment, { minLength: 1, maxLength: 4 }).map((s) => s.join('/'));
  fc.assert(
    fc.property(
      fc.array(patternOf, { minLength: 1, maxLength: 4 }),
      fc.array(pathOf, { minLength: 1, maxLength: 5 }),
      (patterns, paths) => {
        const r = role({ paths: patterns });
        const matcher = delegatedPathMatcher(r);
        for (const p of paths) assert.equal(matcher(p), r.isDelegatedPath(p), `${p} against ${JSON.stringify(patterns)}`);
      },
    ),
    { numRuns: 3000 },
  );
});

test('compiled matchers agree for path hash prefixes, and are kept per parsed role', () => {
  const inside = 'demo/app-1.0.tgz';
  const prefix = targetPathHash(inside).slice(0, 2);
  const other = prefix === '00' ? '01' : '00';
  const r = role({ path_hash_prefixes: [other, prefix] });
  assert.equal(delegatedPathMatcher(r)(inside), true);
  assert.equal(r.isDelegatedPath(inside), true);
  for (const p of ['demo/app-2.0.tgz', 'x', 'a/b/c']) assert.equal(delegatedPathMatcher(r)(p), r.isDelegatedPath(p), p);
  assert.equal(delegatedPathMatcher(r), delegatedPathMatcher(r));
});
