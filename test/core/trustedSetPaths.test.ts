// Delegation path patterns must mean exactly what they mean to tuf-js (DelegatedRole.isDelegatedPath),
// or our client and stock clients would disagree about which role may sign a target.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Targets } from '@tufjs/models';
import fc from 'fast-check';
import { isTargetInPathPattern, PathPattern } from '../../core/pathPatterns.ts';

/** tuf-js's own verdict, through the model it builds from JSON. */
function tufjs(path: string, patterns: string[]): boolean {
  const targets = Targets.fromJSON({
    _type: 'targets',
    spec_version: '1.0.31',
    version: 1,
    expires: '2099-01-01T00:00:00Z',
    targets: {},
    delegations: { keys: {}, roles: [{ name: 'r', keyids: [], threshold: 1, terminating: false, paths: patterns }] },
  });
  return targets.delegations!.roles!.r!.isDelegatedPath(path);
}

test('hand-picked patterns agree with tuf-js', () => {
  const cases: [string, string][] = [
    ['demo/app.tgz', 'demo/*'],
    ['demo/sub/app.tgz', 'demo/*'],
    ['demo/.hidden', 'demo/*'],
    ['demo/', 'demo/*'],
    ['demo', 'demo/*'],
    ['demo/app.tgz', 'demo/*.tgz'],
    ['demo/app.tar', 'demo/*.tgz'],
    ['a/b', '*/*'],
    ['a/b', '**'],
    ['a/b', '**/*'],
    ['x', '**'],
    ['abc', 'a?c'],
    ['abc', 'a[bc]c'],
    ['abc', 'a[!b]c'],
    ['abc', '{abc,def}'],
    ['abc', '+(a|b|c)'],
    ['abc', '!(x)'],
    ['abc', '!abc'],
    ['#x', '#x'],
    ['a*c', 'a\\*c'],
    ['abc', 'a\\*c'],
    ['.', '.'],
    ['..', '..'],
    ['.', '*'],
    ['', ''],
    ['A', 'a'],
    ['demo/app.tgz', 'demo/app.tgz'],
    ['constructor', 'constructor'],
    ['__proto__/x', '__proto__/*'],
  ];
  for (const [path, pattern] of cases) {
    assert.equal(isTargetInPathPattern(path, pattern), tufjs(path, [pattern]), `${path} against ${pattern}`);
  }
});

test('generated paths and patterns agree with tuf-js', () => {
  const alphabet = ['a', 'b', '.', '/', '*', '?', '[', ']', '!', '{', '}', ',', '(', ')', '|', '+', '@', '#', '\\', '-', '~', '%'];
  const str = (max: number) => fc.array(fc.constantFrom(...alphabet), { maxLength: max }).map((cs) => cs.join(''));
  fc.assert(
    fc.property(str(8), fc.array(str(8), { minLength: 1, maxLength: 3 }), (path, patterns) => {
      let ours: boolean;
      let theirs: boolean | Error;
      try {
        theirs = tufjs(path, patterns);
      } catch (err) {
        theirs = err as Error;
      }
      try {
        ours = patterns.some((p) => new PathPattern(p).matches(path));
      } catch (err) {
        assert.ok(theirs instanceof Error, `we threw (${(err as Error).message}) where tuf-js did not`);
        return;
      }
      assert.equal(ours, theirs, `${JSON.stringify(path)} against ${JSON.stringify(patterns)}`);
    }),
    { numRuns: 20_000 },
  );
});
