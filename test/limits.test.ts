// The JSON value guard (core/jsonShape.ts, behind server/http/limits.ts): a container too large or
// too deep is refused wherever it sits in the value, the last container walked included (the old
// guard counted an array's children without checking, so a large container popped last passed).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { jsonShapeProblem, jsonTextShapeProblem } from '../core/jsonShape.ts';
import { jsonShapeGuard } from '../server/http/limits.ts';

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

/** Values and depth counted the plain recursive way: the reference the guard must agree with. */
function measure(v: Json, depth = 1): { nodes: number; depth: number } {
  if (typeof v !== 'object' || v === null) return { nodes: 1, depth: 0 };
  let nodes = 1;
  let deepest = depth;
  for (const child of Array.isArray(v) ? v : Object.values(v)) {
    const m = measure(child, depth + 1);
    nodes += m.nodes;
    deepest = Math.max(deepest, m.depth);
  }
  return { nodes, depth: deepest };
}

/** Every position in `v` as a function that returns a copy with `replacement` put there. */
function positions(v: Json): ((replacement: Json) => Json)[] {
  const out: ((r: Json) => Json)[] = [(r) => r];
  if (typeof v !== 'object' || v === null) return out;
  const keys = Array.isArray(v) ? v.map((_, i) => i) : Object.keys(v);
  for (const k of keys) {
    const child = (v as Record<string | number, Json>)[k]!;
    for (const inner of positions(child)) {
      out.push((r) => {
        const copy = (Array.isArray(v) ? [...v] : { ...v }) as Record<string | number, Json>;
        copy[k] = inner(r);
        return copy as Json;
      });
    }
  }
  // A new last child too: the container walked last is where the old guard slipped.
  out.push((r) => (Array.isArray(v) ? [...v, r] : { ...v, zzzz: r }));
  return out;
}

const small = fc.jsonValue({ maxDepth: 4 }) as fc.Arbitrary<Json>;
const LIMITS = { maxDepth: 12, maxNodes: 200 };

test('a large array or object at every position of a value is refused as too large', () => {
  fc.assert(
    fc.property(small, fc.boolean(), fc.boolean(), (value, asArray, nested) => {
      fc.pre(measure(value).nodes <= 60 && measure(value).depth <= 6);
      assert.equal(jsonShapeProblem(value, LIMITS), null);
      const flat: Json = asArray
        ? Array.from({ length: 300 }, (_, i) => i)
        : Object.fromEntries(Array.from({ length: 300 }, (_, i) => [`k${i}`, i]));
      // Also one whose large part is a level down, so the large container is the last one walked.
      const large: Json = nested ? [1, 'x', flat] : flat;
      for (const put of positions(value)) {
        assert.equal(jsonShapeProblem(put(large), LIMITS)?.code, 'too_large');
      }
    }),
    { numRuns: 150, seed: 19 },
  );
});

test('a deep chain at every position is refused as too deep', () => {
  fc.assert(
    fc.property(small, (value) => {
      fc.pre(measure(value).nodes <= 60 && measure(value).depth <= 6);
      let chain: Json = 1;
      for (let i = 0; i < 20; i++) chain = i % 2 ? [chain] : { a: chain };
      for (const put of positions(value)) assert.equal(jsonShapeProblem(put(chain), LIMITS)?.code, 'too_deep');
    }),
    { numRuns: 150, seed: 20 },
  );
});

test('the limits are exact: a value with exactly the allowed values and depth passes, one more is refused', () => {
  fc.assert(
    fc.property(fc.jsonValue({ maxDepth: 6 }) as fc.Arbitrary<Json>, (value) => {
      const { nodes, depth } = measure(value);
      assert.equal(jsonShapeProblem(value, { maxDepth: Math.max(depth, 1), maxNodes: nodes }), null);
      assert.equal(jsonShapeProblem(value, { maxDepth: 1000, maxNodes: nodes - 1 })?.code, 'too_large');
      if (depth > 1) assert.equal(jsonShapeProblem(value, { maxDepth: depth - 1, maxNodes: 1e9 })?.code, 'too_deep');
    }),
    { numRuns: 500, seed: 21 },
  );
});

test('the check on JSON text (before parsing) agrees with the check on the value, strings and escapes included', () => {
  const text = (v: Json, pretty: boolean) => Buffer.from(JSON.stringify(v, null, pretty ? 2 : undefined));
  fc.assert(
    fc.property(fc.jsonValue({ maxDepth: 6 }) as fc.Arbitrary<Json>, fc.boolean(), (value, pretty) => {
      const { nodes, depth } = measure(value);
      const bytes = text(value, pretty);
      assert.equal(jsonTextShapeProblem(bytes, { maxDepth: Math.max(depth, 1), maxNodes: nodes }), null);
      assert.equal(jsonTextShapeProblem(bytes, { maxDepth: 1000, maxNodes: nodes - 1 })?.code, 'too_large');
      if (depth > 1) assert.equal(jsonTextShapeProblem(bytes, { maxDepth: depth - 1, maxNodes: 1e9 })?.code, 'too_deep');
    }),
    { numRuns: 500, seed: 22 },
  );
  fc.assert(
    fc.property(small, (value) => {
      fc.pre(measure(value).nodes <= 60 && measure(value).depth <= 6);
      const flat: Json = Array.from({ length: 300 }, (_, i) => i);
      for (const put of positions(value)) assert.equal(jsonTextShapeProblem(text(put(flat), false), LIMITS)?.code, 'too_large');
    }),
    { numRuns: 100, seed: 23 },
  );
});

test('the express guard answers 413 too_large and 400 too_deep, and passes the rest', () => {
  const guard = jsonShapeGuard(8, 100);
  const run = (body: unknown) => {
    let passed: unknown = 'not called';
    guard({ body } as never, {} as never, (err?: unknown) => (passed = err));
    return passed as { status?: number; code?: string } | undefined;
  };
  // The large array is the last container walked: refused all the same.
  const lastPopped = { a: [1, 2], b: Array.from({ length: 500 }, () => 0) };
  assert.deepEqual([run(lastPopped)?.status, run(lastPopped)?.code], [413, 'too_large']);
  assert.deepEqual([run([[[[[[[[[[1]]]]]]]]]])?.status, run([[[[[[[[[[1]]]]]]]]]])?.code], [400, 'too_deep']);
  assert.equal(run({ ok: [1, 2, 3] }), undefined);
  assert.equal(run(Buffer.from('raw')), undefined);
});
