// core/sigstoreSpeedups.ts changes how fast @sigstore/core encodes and loads keys, never what it
// produces: the DER of every node of real certificates equals the library's own encoding, and the
// cached keys are the keys the library would have made.
import assert from 'node:assert/strict';
import nodeCrypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { ASN1Obj, X509Certificate } from '@sigstore/core';
import fc from 'fast-check';
import { publicGoodTrustedRoot } from '../../core/publicGoodTrustedRoot.ts';
import { cachedPublicKey, fastToDER, libraryToDER } from '../../core/sigstoreSpeedups.ts';
import { startLocalSigstore } from '../helpers/sigstore.ts';
import { identityKeyid } from '../../core/identity.ts';
import { signWithIdentity } from '../../maintainer/identitySigner.ts';

type Node = { subs: Node[]; toDER(): Buffer };

/** DER of every certificate the repository meets: public-good CAs, tuf-on-ci leaves, a local Sigstore's CA. */
async function certificates(): Promise<Buffer<ArrayBuffer>[]> {
  const ders: Buffer<ArrayBuffer>[] = [];
  const root = publicGoodTrustedRoot() as { certificateAuthorities: { certChain: { certificates: { rawBytes: string }[] } }[] };
  for (const ca of root.certificateAuthorities) for (const c of ca.certChain.certificates) ders.push(Buffer.from(c.rawBytes, 'base64'));
  const dir = path.resolve(import.meta.dirname, '../fixtures/tuf-on-ci');
  for (const file of fs.readdirSync(dir).filter((f) => f.endsWith('.json'))) {
    const doc = JSON.parse(fs.readFileSync(path.join(dir, file), 'utf8')) as {
      signatures: { bundle?: { verificationMaterial: unknown } }[];
    };
    for (const s of doc.signatures) {
      const vm = s.bundle?.verificationMaterial as
        { certificate?: { rawBytes: string }; x509CertificateChain?: { certificates: { rawBytes: string }[] } } | undefined;
      if (vm?.certificate) ders.push(Buffer.from(vm.certificate.rawBytes, 'base64'));
      for (const c of vm?.x509CertificateChain?.certificates ?? []) ders.push(Buffer.from(c.rawBytes, 'base64'));
    }
  }
  const local = await startLocalSigstore();
  try {
    const trusted = local.setup.trustedRoot as typeof root;
    for (const ca of trusted.certificateAuthorities)
      for (const c of ca.certChain.certificates) ders.push(Buffer.from(c.rawBytes, 'base64'));
    // A leaf the local Fulcio issues, as every upload in the tests and benchmarks carries.
    const identity = 'speed@example.com';
    const s = local.sigstore;
    const sig = await signWithIdentity(
      Buffer.from('{}'),
      identityKeyid(identity, s.issuerUrl),
      { fulcioUrl: s.fulcioUrl, rekorUrl: s.rekorUrl },
      { getToken: () => s.mintToken({ identity }) },
    );
    ders.push(...leafCertificates(sig.bundle));
  } finally {
    await local.close();
  }
  return ders;
}

/** The certificates a bundle carries (v0.3 `certificate`, v0.2 `x509CertificateChain`). */
function leafCertificates(bundle: unknown): Buffer<ArrayBuffer>[] {
  const vm = (bundle as { verificationMaterial?: unknown } | undefined)?.verificationMaterial as
    { certificate?: { rawBytes: string }; x509CertificateChain?: { certificates: { rawBytes: string }[] } } | undefined;
  const raw = [...(vm?.certificate ? [vm.certificate] : []), ...(vm?.x509CertificateChain?.certificates ?? [])];
  return raw.map((c) => Buffer.from(c.rawBytes, 'base64'));
}

function* nodes(node: Node): Generator<Node> {
  yield node;
  for (const sub of node.subs) yield* nodes(sub);
}

test('every node of real certificates encodes to the same DER as the library encodes it', async () => {
  const ders = await certificates();
  assert.ok(ders.length >= 10, `${ders.length} certificates`);
  let compared = 0;
  for (const der of ders) {
    const cert = X509Certificate.parse(der);
    const root = (cert as unknown as { root: Node }).root;
    assert.ok(root.toDER().equals(der), 'the whole certificate encodes back to its bytes');
    for (const node of nodes(root)) {
      assert.ok(fastToDER.call(node as never).equals(libraryToDER.call(node as never)));
      compared += 1;
    }
  }
  assert.ok(compared > 500, `${compared} nodes compared`);
  // And the library's comparison, which this speeds up, still tells certificates apart.
  const [a, b] = [X509Certificate.parse(ders[0]!), X509Certificate.parse(ders.at(-1)!)];
  assert.equal(a.equals(X509Certificate.parse(ders[0]!)), true);
  assert.equal(a.equals(b), false);
});

test('long and short lengths: generated values of up to 70,000 bytes encode as the library encodes them', () => {
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 70_000 }), fc.integer({ min: 0, max: 3 }), (length, children) => {
      const leaf = (n: number) => ASN1Obj.parseBuffer(Buffer.concat([Buffer.of(0x04), derLength(n), Buffer.alloc(n, 0x61)]));
      const subs = Array.from({ length: children }, (_, i) => leaf(Math.floor(length / (i + 1))));
      const contents = Buffer.concat(subs.map((s) => libraryToDER.call(s as never)));
      const value =
        children > 0 ? ASN1Obj.parseBuffer(Buffer.concat([Buffer.of(0x30), derLength(contents.length), contents])) : leaf(length);
      return fastToDER.call(value as never).equals(libraryToDER.call(value as never));
    }),
    { numRuns: 60 },
  );
});

function derLength(n: number): Buffer {
  if (n < 128) return Buffer.of(n);
  const bytes: number[] = [];
  for (let v = n; v > 0; v = Math.floor(v / 256)) bytes.unshift(v % 256);
  return Buffer.of(0x80 | bytes.length, ...bytes);
}

test('cached public keys are the keys node makes, one per distinct input', () => {
  const ec = nodeCrypto.generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey;
  const other = nodeCrypto.generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey;
  const der = ec.export({ format: 'der', type: 'spki' });
  const fromDer = cachedPublicKey(der);
  assert.ok(fromDer.equals(ec));
  assert.equal(cachedPublicKey(Buffer.from(der)), fromDer, 'the same bytes give the kept key');
  assert.ok(cachedPublicKey(der.toString('base64')).equals(ec), 'base64 DER');
  assert.ok(cachedPublicKey(ec.export({ format: 'pem', type: 'spki' }) as string).equals(ec), 'PEM');
  assert.ok(!cachedPublicKey(other.export({ format: 'der', type: 'spki' })).equals(ec), 'another key is another key');
  // A slice of a larger buffer is read as its own bytes only.
  const padded = Buffer.concat([Buffer.alloc(7, 1), der, Buffer.alloc(5, 2)]);
  assert.ok(cachedPublicKey(padded.subarray(7, 7 + der.length)).equals(ec));
  assert.throws(() => cachedPublicKey(Buffer.from('not a key')));
});
