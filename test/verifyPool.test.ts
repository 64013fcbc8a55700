// Upload signatures are verified on worker threads: the verdicts must be the main thread's, a
// stopped pool must yield no verdict (so the request verifies by itself), never a guess.
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
    assert.deepEqual(many, Array.from({ length: 8 }, (_, i) => i % 2 === 1));
  } finally {
    await pool.close();
  }
  assert.equal(await pool.verify(key, sig, bytes), null, 'a closed pool decides nothing');
});
