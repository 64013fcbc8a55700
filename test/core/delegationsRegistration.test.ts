// Registration requests (a maintainer asks for a project, signed by the identity it names):
// registrationSigned and verifyRegistration. Fake identity signatures (delegationsHelpers.ts).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { canonicalBytes, sha256Hex, type JsonObject } from '../../core/canonical.ts';
import { registrationSigned, verifyRegistration, type Maintainer } from '../../core/delegations.ts';
import { isTufError } from '../../core/errors.ts';
import type { SignatureJson } from '../../core/metadata.ts';
import { NOW, DAY, alice, bob, idOf, refusedWith, signAs, fakeIdentityVerifier } from './delegationsHelpers.ts';

// ---------------------------------------------------------------------------------------------
// Registration

function registration(m: Maintainer, project = 'demo', at = NOW, signer: Maintainer = m) {
  const signed = registrationSigned(project, m, at);
  return { signed, signatures: [signAs(signer, canonicalBytes(signed))] } as unknown as JsonObject & {
    signed: JsonObject;
    signatures: SignatureJson[];
  };
}
const SKEW = 300;
const register = (value: unknown, verifier = fakeIdentityVerifier(), now = NOW) => verifyRegistration(value, now, verifier, SKEW);

test('registrationSigned: the fields in order, time without milliseconds; validates name and identity', () => {
  const signed = registrationSigned('demo', alice, new Date('2026-11-24T12:00:00.789Z'));
  assert.deepEqual(signed, {
    _type: 'registration',
    project: 'demo',
    identity: alice.identity,
    issuer: alice.issuer,
    requested_at: '2026-11-24T12:00:00Z',
  });
  assert.throws(() => registrationSigned('Demo', alice, NOW), refusedWith('bad_role_name'));
  assert.throws(() => registrationSigned('root', alice, NOW), refusedWith('bad_role_name'));
  assert.throws(() => registrationSigned('demo', { ...alice, identity: '' }, NOW), refusedWith('malformed'));
  assert.throws(() => registrationSigned('demo', { ...alice, issuer: 'not a url' }, NOW), refusedWith('malformed'));
});

test('verifyRegistration: accepts a fresh request signed by the identity it names', () => {
  const verifier = fakeIdentityVerifier();
  const req = registration(alice);
  const result = register(req, verifier);
  assert.deepEqual(result, {
    project: 'demo',
    identity: alice.identity,
    issuer: alice.issuer,
    requestedAt: NOW,
    requestSha256: sha256Hex(canonicalBytes(req.signed)),
  });
  assert.equal(verifier.calls, 1);
  // Within the allowed skew either way.
  register(registration(alice, 'demo', new Date(NOW.getTime() - SKEW * 1000)));
  register(registration(alice, 'demo', new Date(NOW.getTime() + SKEW * 1000)));
});

test('verifyRegistration: refuses malformed shapes', () => {
  const good = registration(alice);
  const shapes: unknown[] = [
    null,
    'registration',
    [],
    { signatures: good.signatures },
    { signed: 'x', signatures: good.signatures },
    { signed: good.signed },
    { signed: good.signed, signatures: {} },
    { signed: good.signed, signatures: [] },
    { signed: good.signed, signatures: [good.signatures[0], good.signatures[0]] },
    { signed: good.signed, signatures: [null] },
    { signed: good.signed, signatures: ['sig'] },
    { signed: good.signed, signatures: [{ keyid: idOf(alice) }] },
    { signed: good.signed, signatures: [{ keyid: idOf(alice), sig: 5 }] },
  ];
  for (const value of shapes) {
    const verifier = fakeIdentityVerifier();
    assert.throws(() => register(value, verifier), refusedWith('malformed'), JSON.stringify(value));
    assert.equal(verifier.calls, 0);
  }
});

test('verifyRegistration: refuses missing, ill-typed and extra fields in signed', () => {
  const base = registration(alice);
  const withSigned = (signed: JsonObject) => ({ ...base, signed });
  const variants: JsonObject[] = [
    { ...base.signed, _type: 'targets' },
    { ...base.signed, _type: undefined as never },
    { ...base.signed, project: 1 },
    { ...base.signed, identity: null },
    { ...base.signed, issuer: ['https://issuer.example'] },
    { ...base.signed, requested_at: 1_700_000_000 },
    { ...base.signed, requested_at: '2026-11-24T12:00:00.000Z' },
    { ...base.signed, requested_at: '2026-11-24T12:00:00' },
    { ...base.signed, requested_at: '2026-13-24T12:00:00Z' },
    { ...base.signed, identity: 'alice @example.com' },
    { ...base.signed, issuer: 'accounts.example' },
    { ...base.signed, extra: 'x' },
    { ...base.signed, threshold: 1 },
  ];
  for (const signed of variants) {
    for (const k of Object.keys(signed)) if (signed[k] === undefined) delete signed[k];
    assert.throws(() => register(withSigned(signed)), refusedWith('malformed'), JSON.stringify(signed));
  }
  // An own "__proto__" key (as JSON.parse makes it) is an extra field too.
  const parsed = JSON.parse(JSON.stringify(base).replace('"_type"', '"__proto__":{},"_type"'));
  assert.throws(() => register(parsed), refusedWith('malformed'));
  assert.throws(() => register(withSigned({ ...base.signed, project: 'Demo' })), refusedWith('bad_role_name'));
});

test("verifyRegistration: refuses a request too far from the server's time (stale_request)", () => {
  const verifier = fakeIdentityVerifier();
  for (const offset of [-(SKEW + 1), SKEW + 1, -DAY, 365 * DAY]) {
    const req = registration(alice, 'demo', new Date(NOW.getTime() + offset * 1000));
    assert.throws(() => register(req, verifier), refusedWith('stale_request'), String(offset));
  }
  assert.equal(verifier.calls, 0, 'refused before any signature is checked');
  // The same request is fine once the server's clock is near it.
  register(registration(alice, 'demo', new Date(NOW.getTime() - DAY * 1000)), fakeIdentityVerifier(), new Date(NOW.getTime() - DAY * 1000));
});

test('verifyRegistration: refuses a signature by another identity, or over other bytes (threshold_not_met)', () => {
  // Signed by bob, naming alice.
  assert.throws(() => register(registration(alice, 'demo', NOW, bob)), refusedWith('threshold_not_met'));
  // Alice's signature, with the claim changed to another project or to bob.
  const req = registration(alice);
  assert.throws(() => register({ ...req, signed: { ...req.signed, project: 'other' } }), refusedWith('threshold_not_met'));
  assert.throws(() => register({ ...req, signed: { ...req.signed, identity: bob.identity } }), refusedWith('threshold_not_met'));
  // Same identity at another issuer is another key.
  assert.throws(() => register({ ...req, signed: { ...req.signed, issuer: 'https://other.example' } }), refusedWith('threshold_not_met'));
  // A keyid in the signature does not choose the key: it is always the named identity's.
  const bobs = registration(bob);
  assert.throws(
    () => register({ ...bobs, signatures: [{ ...bobs.signatures[0]!, keyid: idOf(alice) }], signed: req.signed }),
    refusedWith('threshold_not_met'),
  );
  assert.throws(() => register({ ...req, signatures: [{ ...req.signatures[0]!, sig: 'ab' }] }), refusedWith('threshold_not_met'));
  // The refusal says who should have signed (users read this).
  assert.throws(
    () => register(registration(alice, 'demo', NOW, bob)),
    (e: unknown) => isTufError(e) && e.message.includes(alice.identity) && e.message.includes(alice.issuer),
  );
});
