// Upload signatures are verified on worker threads: the verdicts must be the main thread's, a
// stopped pool must yield no verdict (so the request verifies by itself), never a guess. Large
// request bodies are parsed there too, with the main thread's answers.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import pino from 'pino';
import { canonicalBytes } from '../core/canonical.ts';
import type { TufKey } from '../core/keys.ts';
import type { Envelope } from '../core/metadata.ts';
import { publicGoodTrustedRoot } from '../core/publicGoodTrustedRoot.ts';
import { WorkerVerifierPool } from '../server/verifyPool.ts';
import { parseJsonText, runBodyTask } from '../server/http/bodyTasks.ts';
import { DEFAULT_JSON_SHAPE } from '../core/jsonShape.ts';

const dir = path.resolve(import.meta.dirname, 'fixtures/tuf-on-ci');
const load = (f: string) => JSON.parse(fs.readFileSync(path.join(dir, f), 'utf8')) as Envelope;

test('worker verdicts on real identity signatures: valid, and refused once a byte changes or the identity differs', async () => {
  const root = load('3.root.json');
  const targets = load('targets.json');
  const keys = root.signed.keys as unknown as Record<string, TufKey>;
  const sig = targets.signatures[0]!;
  const key = keys[sig.keyid]!;
  const bytes = canonicalBytes(targets.signed);
  const pool = new WorkerVerifierPool(publicGoodTrustedRoot(), 2, pino({ level: 'silent' }));
  try {
    assert.equal(await pool.verify(key, sig, bytes), true);
    const changed = Buffer.from(bytes);
    changed[10] = changed[10]! ^ 1;
    assert.equal(await pool.verify(key, sig, changed), false);
    const other = { ...key, keyval: { ...key.keyval, identity: `${String(key.keyval.identity)}x` } };
    assert.equal(await pool.verify(other, sig, bytes), false);
    // Several at once, spread over both workers.
    const many = await Promise.all(Array.from({ length: 8 }, (_, i) => pool.verify(key, sig, i % 2 ? bytes : changed)));
    assert.deepEqual(
      many,
      Array.from({ length: 8 }, (_, i) => i % 2 === 1),
    );
  } finally {
    await pool.close();
  }
  assert.equal(await pool.verify(key, sig, bytes), null, 'a closed pool decides nothing');
});

test('body tasks on the workers: the same answers as the main thread, and the bytes come back', async () => {
  const pool = new WorkerVerifierPool(publicGoodTrustedRoot(), 1, pino({ level: 'silent' }));
  const bodies = [
    '{"a": [1, 2, {"b": null}]}',
    '{"a": [1,',
    `${'['.repeat(100_000)}${']'.repeat(100_000)}`,
    `[${Array.from({ length: 1_000_001 }, () => '0').join(',')}]`,
    '',
  ];
  try {
    for (const text of bodies) {
      const bytes = Buffer.from(text);
      const onMain = runBodyTask({ kind: 'json', bytes, limits: DEFAULT_JSON_SHAPE }, { verify: () => false });
      const answer = await pool.run({ kind: 'json', bytes: Buffer.from(text), limits: DEFAULT_JSON_SHAPE });
      assert.ok(answer, 'the worker answers');
      assert.deepEqual(answer.result, onMain, text.slice(0, 20));
      assert.equal(Buffer.from(answer.bytes).toString(), text, 'the bytes come back whole');
    }
    assert.deepEqual(parseJsonText(Buffer.from('{"a": [1, 2, {"b": null}]}'), DEFAULT_JSON_SHAPE), { a: [1, 2, { b: null }] });
  } finally {
    await pool.close();
  }
  assert.equal(
    await pool.run({ kind: 'json', bytes: Buffer.from('{}'), limits: DEFAULT_JSON_SHAPE }),
    null,
    'a closed pool answers nothing',
  );
});
