import assert from 'node:assert/strict';
import { test } from 'node:test';
import { roleNameProblem, targetPathProblem } from '../../core/names.ts';

test('role names: accepted', () => {
  for (const name of ['demo', 'my-project', 'a.b_c', 'x1', 'p2p']) assert.equal(roleNameProblem(name), null, name);
});

test('role names: refused', () => {
  for (const name of ['', '123', '1.5', 'Demo', '../x', 'a/b', 'a..b', '-a', 'a-', 'targets', 'root', 'a\u0000', 'dеmo', 'x'.repeat(65)]) {
    assert.notEqual(roleNameProblem(name), null, JSON.stringify(name));
  }
});

test('target paths: accepted', () => {
  for (const p of ['demo/demo-1.0.tgz', 'a', 'sigstore/trusted_root.json', 'a/b/c+d~e@f=g']) assert.equal(targetPathProblem(p), null, p);
});

test('target paths: refused', () => {
  for (const p of ['', '/abs', 'a//b', 'a/../b', '..', './a', 'a/', 'a\\b', 'a b', 'a\nb', 'ünï', '.hidden', 'a/.']) {
    assert.notEqual(targetPathProblem(p), null, JSON.stringify(p));
  }
});
