// Two costs of @sigstore/core removed from every Sigstore verification (issue 14), without
// changing what is verified or how.
//
// 1. DER encoding. @sigstore/verify re-encodes certificates for every verification:
//    `X509Certificate.equals` compares the DER of the chain's certificates with the trusted ones,
//    and `verify` checks the signature over the DER of the TBS certificate. @sigstore/core 3.2 (and
//    4.0) encodes each ASN.1 node through a ByteStream that starts with, and grows by, zero-filled
//    1 KiB blocks, copying the whole buffer on each growth, for every node of a tree of a few
//    hundred nodes: 53 % of a 3.9 ms verification here, and most of its garbage. `fastToDER`
//    concatenates the same three parts (tag, length, contents: the children's encodings or the
//    primitive value) once. Its output is byte for byte the library's: test/core/sigstoreSpeedups.test.ts
//    compares the two on every node of real Fulcio, CA and CT log certificates.
// 2. Public keys. `crypto.createPublicKey` parses the DER of the same CA and log keys again for
//    every verification (about a quarter of what is left). `cachedPublicKey` keeps the KeyObject of
//    the last few distinct (bytes, type) pairs: a KeyObject is immutable and a pure function of
//    them, so the cache changes nothing but the time.
import nodeCrypto, { type KeyObject } from 'node:crypto';
import { ASN1Obj, crypto as sigstoreCrypto } from '@sigstore/core';

type Node = { tag: { toDER(): number }; subs: Node[]; value: Buffer; toDER(): Buffer };

/** The library's own encoder, kept for the test that holds the two equal. */
export const libraryToDER: (this: Node) => Buffer = (ASN1Obj.prototype as unknown as Node).toDER;

/** DER length octets: short form below 128, else 0x80 | n followed by n big-endian bytes. */
function lengthOctets(length: number): Buffer {
  if (length < 128) return Buffer.of(length);
  const bytes: number[] = [];
  for (let n = length; n > 0; n = Math.floor(n / 256)) bytes.unshift(n % 256);
  return Buffer.of(0x80 | bytes.length, ...bytes);
}

export function fastToDER(this: Node): Buffer {
  const contents = this.subs.length > 0 ? Buffer.concat(this.subs.map((sub) => sub.toDER())) : this.value;
  return Buffer.concat([Buffer.of(this.tag.toDER()), lengthOctets(contents.length), contents]);
}

/** Distinct keys kept: the trusted root's few, and room for the leaves of a burst of uploads. */
const KEYS_KEPT = 64;
const keys = new Map<string, KeyObject>();

/** The library's createPublicKey (PEM, base64 DER or DER bytes; SPKI unless `type` says otherwise), cached. */
export function cachedPublicKey(key: string | Uint8Array, type: 'spki' | 'pkcs1' = 'spki'): KeyObject {
  const id = `${type}:${typeof key === 'string' ? `s:${key}` : `b:${Buffer.from(key.buffer, key.byteOffset, key.byteLength).toString('base64')}`}`;
  let found = keys.get(id);
  if (found) {
    keys.delete(id);
  } else {
    found =
      typeof key === 'string' && key.startsWith('-----')
        ? nodeCrypto.createPublicKey(key)
        : nodeCrypto.createPublicKey({
            key: typeof key === 'string' ? Buffer.from(key, 'base64') : Buffer.from(key.buffer, key.byteOffset, key.byteLength),
            format: 'der',
            type,
          });
    if (keys.size >= KEYS_KEPT) keys.delete(keys.keys().next().value!);
  }
  keys.set(id, found);
  return found;
}

(ASN1Obj.prototype as unknown as Node).toDER = fastToDER;
(sigstoreCrypto as unknown as { createPublicKey: typeof cachedPublicKey }).createPublicKey = cachedPublicKey;
