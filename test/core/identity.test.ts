// Real TAP 18 metadata from a tuf-on-ci repository (signed by sigstore-python through
// securesystemslib, public-good Sigstore) verifies offline with our verifier, and nothing else does.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { canonicalBytes } from '../../core/canonical.ts';
import { decodeSig, identityKey, identityKeyid, IdentitySignatureVerifier } from '../../core/identity.ts';
import { keyidOf, type TufKey } from '../../core/keys.ts';
import type { Envelope, SignatureJson } from '../../core/metadata.ts';
import { publicGoodTrustedRoot } from '../../core/publicGoodTrustedRoot.ts';

const dir = path.resolve(import.meta.dirname, '../fixtures/tuf-on-ci');
const load = (f: string) => JSON.parse(fs.readFileSync(path.join(dir, f), 'utf8')) as Envelope;
const verifier = new IdentitySignatureVerifier(publicGoodTrustedRoot());

/** Every (file, signature, key) the fixtures hold: keys come from the root that delegates. */
function cases(): { file: string; sig: SignatureJson; key: TufKey; signed: Envelope['signed'] }[] {
  const out = [];
  const roots = ['1.root.json', '2.root.json', '3.root.json'].map((f) => [f, load(f)] as const);
  const keysOf = (root: Envelope) => root.signed.keys as unknown as Record<string, TufKey>;
  for (const [i, [file, env]] of roots.entries()) {
    // A root is signed by its own keys and, for a rotation, by the previous root's.
    const keys = { ...(i > 0 ? keysOf(roots[i - 1]![1]) : {}), ...keysOf(env) };
    for (const sig of env.signatures) out.push({ file, sig, key: keys[sig.keyid]!, signed: env.signed });
  }
  const targets = load('targets.json');
  for (const sig of targets.signatures)
    out.push({ file: 'targets.json', sig, key: keysOf(roots[2]![1])[sig.keyid]!, signed: targets.signed });
  return out;
}

test('every fixture signature verifies against the public-good trusted root', () => {
  const all = cases();
  assert.equal(all.length, 5); // 1 + 1 + 2 root signatures, 1 targets signature
  for (const { file, sig, key, signed } of all) {
    assert.ok(key, `${file}: key ${sig.keyid} found`);
    const verdict = verifier.explain(key, sig, canonicalBytes(signed));
    assert.equal(verdict.valid, true, `${file} ${sig.keyid.slice(0, 8)}: ${verdict.reason}`);
    assert.equal(verdict.identity, key.keyval.identity);
  }
});

test('hex (v0.2 era) and base64 sig encodings both occur, and both are read', () => {
  const encodings = new Set(cases().map(({ sig }) => (/^[0-9a-f]+$/.test(sig.sig) ? 'hex' : 'base64')));
  assert.deepEqual([...encodings].sort(), ['base64', 'hex']);
  const media = new Set(cases().map(({ sig }) => (sig.bundle as { mediaType: string }).mediaType));
  assert.ok([...media].some((m) => m.includes('version=0.2')));
  assert.ok([...media].some((m) => m.includes('v0.3')));
  assert.equal(decodeSig('00ff').length, 2, 'ambiguous strings are tried both ways');
});

test('changing one byte of signed makes every signature fail', () => {
  for (const { file, sig, key, signed } of cases()) {
    const bytes = canonicalBytes(signed);
    const tampered = Buffer.from(bytes);
    const i = tampered.indexOf('"version":') + 10;
    tampered[i] = tampered[i]! ^ 1;
    assert.equal(verifier.verify(key, sig, tampered), false, file);
  }
});

test('an identity or issuer that differs by one character, a prefix or a suffix is refused', () => {
  for (const { file, sig, key, signed } of cases()) {
    const bytes = canonicalBytes(signed);
    const { identity, issuer } = key.keyval as { identity: string; issuer: string };
    const variants: [string, string][] = [
      [identity.slice(1), issuer], // a suffix of the real identity: an unanchored regex would accept it
      [identity.slice(0, -1), issuer], // a prefix
      [`x${identity}`, issuer],
      [`${identity}x`, issuer],
      [identity.replace(/.$/, (c) => (c === 'a' ? 'b' : 'a')), issuer],
      [identity.toUpperCase(), issuer],
      [identity, issuer.slice(0, -1)],
      [identity, `${issuer}/`],
      [identity, issuer.replace('https://', 'http://')],
    ];
    for (const [id, iss] of variants) {
      assert.equal(verifier.verify(identityKey(id, iss), sig, bytes), false, `${file}: ${id} at ${iss}`);
    }
    assert.equal(verifier.verify(identityKey(identity, issuer), sig, bytes), true, file);
  }
});

test('a signature whose sig field disagrees with its bundle, or has no bundle, is refused', () => {
  const { sig, key, signed } = cases()[0]!;
  const bytes = canonicalBytes(signed);
  assert.equal(verifier.verify(key, { ...sig, sig: '00'.repeat(70) }, bytes), false);
  assert.equal(verifier.verify(key, { keyid: sig.keyid, sig: sig.sig }, bytes), false);
  assert.equal(verifier.verify(key, { ...sig, bundle: { mediaType: 'x' } }, bytes), false);
});

test('keyids of keys we write follow the {keytype, scheme, keyval} rule; fixtures keep theirs', () => {
  const key = identityKey('alice@example.com', 'https://accounts.google.com');
  assert.equal(identityKeyid('alice@example.com', 'https://accounts.google.com'), keyidOf(key));
  // tuf-on-ci hashed the whole key object, x-tuf-on-ci fields included: its keyid differs from ours.
  const root3 = load('3.root.json');
  const owned = Object.entries(root3.signed.keys as Record<string, TufKey>).filter(([, v]) => 'x-tuf-on-ci-keyowner' in v);
  assert.ok(owned.length > 0);
  for (const [keyid, k] of owned) assert.notEqual(keyidOf(k), keyid);
});
