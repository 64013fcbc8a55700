// Signatures collected for a pending version of a project role: unionSignatures merges them,
// validSignaturesOnly keeps those that counted.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { canonicalBytes, type JsonObject } from '../../core/canonical.ts';
import { unionSignatures, validSignaturesOnly } from '../../core/delegations.ts';
import { parseMetadata, type Envelope } from '../../core/metadata.ts';
import { alice, bob, carol, idOf, refusedWith, signAs, delegationFor, projectSigned, upload } from './delegationsHelpers.ts';

// ---------------------------------------------------------------------------------------------
// unionSignatures, validSignaturesOnly

test('unionSignatures: merges by keyid (first envelope wins), refuses different signed content', () => {
  const signed = projectSigned();
  const bytes = canonicalBytes(signed);
  const a: Envelope = { signed, signatures: [signAs(alice, bytes), { keyid: idOf(bob), sig: 'from-a' }] };
  const b: Envelope = { signed: structuredClone(signed), signatures: [{ keyid: idOf(bob), sig: 'from-b' }, signAs(carol, bytes)] };
  const merged = unionSignatures(a, b);
  assert.equal(merged.signed, a.signed);
  assert.deepEqual(merged.signatures, [signAs(alice, bytes), { keyid: idOf(bob), sig: 'from-a' }, signAs(carol, bytes)]);
  assert.deepEqual(unionSignatures(a, { signed, signatures: [] }).signatures, a.signatures);
  // Same content in another key order is the same canonical bytes.
  const reordered = Object.fromEntries(Object.entries(signed).reverse()) as JsonObject;
  assert.equal(unionSignatures(a, { signed: reordered, signatures: [] }).signatures.length, 2);
  for (const other of [
    { ...signed, version: 2 },
    { ...signed, targets: {} },
    { ...signed, extra: null },
  ]) {
    assert.throws(() => unionSignatures(a, { signed: other as JsonObject, signatures: [] }), refusedWith('signed_mismatch'));
  }
});

test('validSignaturesOnly: keeps exactly the signatures of the valid keyids, in order', () => {
  const signed = projectSigned();
  const bytes = canonicalBytes(signed);
  const env: Envelope = { signed, signatures: [signAs(alice, bytes), { keyid: idOf(bob), sig: 'junk' }, signAs(carol, bytes)] };
  const kept = validSignaturesOnly(env, [idOf(carol), idOf(alice)]);
  assert.equal(kept.signed, signed);
  assert.deepEqual(kept.signatures, [signAs(alice, bytes), signAs(carol, bytes)]);
  assert.deepEqual(validSignaturesOnly(env, []).signatures, []);
  assert.equal(env.signatures.length, 3, 'input not mutated');
  // With the decision of an upload: a pending envelope carries only what counted.
  const d = delegationFor([alice, bob, carol], 3);
  const c = parseMetadata(env, 'targets');
  const decision = upload(c, d);
  assert.equal(decision.publish, false);
  assert.deepEqual(
    validSignaturesOnly(env, decision.validKeyids).signatures.map((s) => s.keyid),
    [idOf(alice), idOf(carol)],
  );
});
