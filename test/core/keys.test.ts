import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { test } from 'node:test';
import { canonicalBytes } from '../../core/canonical.ts';
import { generatePrivateKey, keyidOf, signWithPrivateKey, tufPublicKey, verifyKeySignature } from '../../core/keys.ts';
import { isTufError } from '../../core/errors.ts';

test('canonical JSON sorts keys, drops whitespace and refuses floats', () => {
  assert.equal(canonicalBytes({ b: 1, a: [true, null, 'x"y'] }).toString(), '{"a":[true,null,"x\\"y"],"b":1}');
  assert.throws(
    () => canonicalBytes({ a: 1.5 }),
    (e) => isTufError(e, 'malformed'),
  );
});

test('keyid is the SHA-256 of the canonical {keytype, scheme, keyval} and ignores extra fields', () => {
  const key = { keytype: 'ed25519', scheme: 'ed25519', keyval: { public: 'ab'.repeat(32) } };
  const expected = createHash('sha256')
    .update(`{"keytype":"ed25519","keyval":{"public":"${'ab'.repeat(32)}"},"scheme":"ed25519"}`)
    .digest('hex');
  assert.equal(keyidOf(key), expected);
  assert.equal(keyidOf({ ...key, 'x-tuf-on-ci-keyowner': '@someone' }), expected);
});

for (const algorithm of ['ed25519', 'ecdsa'] as const) {
  test(`${algorithm}: signatures verify, and fail for other bytes or another key`, () => {
    const priv = generatePrivateKey(algorithm);
    const pub = tufPublicKey(priv);
    assert.equal(pub.keytype, algorithm);
    const msg = Buffer.from('{"a":1}');
    const sig = signWithPrivateKey(priv, msg);
    assert.match(sig, /^[0-9a-f]+$/);
    assert.equal(verifyKeySignature(pub, sig, msg), true);
    assert.equal(verifyKeySignature(pub, sig, Buffer.from('{"a":2}')), false);
    assert.equal(verifyKeySignature(tufPublicKey(generatePrivateKey(algorithm)), sig, msg), false);
    assert.equal(verifyKeySignature(pub, 'zz', msg), false);
  });
}

test('unsupported key types are refused with a code', () => {
  assert.throws(
    () => verifyKeySignature({ keytype: 'rsa', scheme: 'rsassa-pss-sha256', keyval: { public: 'x' } }, '00', Buffer.alloc(1)),
    (e) => isTufError(e, 'unsupported_key'),
  );
});
