// Ordinary TUF keys (ed25519, ecdsa-sha2-nistp256) in securesystemslib's format, which tuf-js reads.
import crypto, { type KeyObject } from 'node:crypto';
import { canonicalBytes, isPlainObject, sha256Hex } from './canonical.ts';
import { TufError } from './errors.ts';

export interface TufKey {
  keytype: string;
  scheme: string;
  keyval: Record<string, string>;
  [extra: string]: unknown;
}

export type KeyAlgorithm = 'ed25519' | 'ecdsa';

/** keyid = hex SHA-256 of the canonical JSON of exactly {keytype, scheme, keyval}, for keys we write. */
export function keyidOf(key: TufKey): string {
  return sha256Hex(canonicalBytes({ keytype: key.keytype, scheme: key.scheme, keyval: key.keyval }));
}

export function parseTufKey(value: unknown, where: string): TufKey {
  if (!isPlainObject(value)) throw new TufError('malformed', `${where}: a key must be an object`);
  const { keytype, scheme, keyval } = value;
  if (typeof keytype !== 'string' || typeof scheme !== 'string' || !isPlainObject(keyval)) {
    throw new TufError('malformed', `${where}: a key needs string keytype and scheme and an object keyval`);
  }
  for (const [k, v] of Object.entries(keyval)) {
    if (typeof v !== 'string') throw new TufError('malformed', `${where}: keyval.${k} must be a string`);
  }
  return value as TufKey;
}

const ED25519_SPKI_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');

function publicKeyObject(key: TufKey): KeyObject {
  const pub = key.keyval.public;
  if (typeof pub !== 'string') throw new TufError('unsupported_key', `key has no keyval.public`);
  try {
    if (key.keytype === 'ed25519' && key.scheme === 'ed25519') {
      if (pub.startsWith('-----BEGIN PUBLIC KEY-----')) return crypto.createPublicKey(pub);
      if (!/^[0-9a-f]{64}$/.test(pub)) throw new Error('ed25519 public key must be 64 hex characters');
      return crypto.createPublicKey({ key: Buffer.concat([ED25519_SPKI_PREFIX, Buffer.from(pub, 'hex')]), format: 'der', type: 'spki' });
    }
    if ((key.keytype === 'ecdsa' || key.keytype === 'ecdsa-sha2-nistp256') && key.scheme === 'ecdsa-sha2-nistp256') {
      const obj = crypto.createPublicKey(pub);
      if (obj.asymmetricKeyType !== 'ec' || obj.asymmetricKeyDetails?.namedCurve !== 'prime256v1') {
        throw new Error('not a P-256 key');
      }
      return obj;
    }
  } catch (err) {
    throw new TufError('unsupported_key', `cannot read ${key.keytype}/${key.scheme} public key: ${(err as Error).message}`);
  }
  throw new TufError('unsupported_key', `unsupported key type ${key.keytype} with scheme ${key.scheme}`);
}

/** Verifies a hex signature (TUF's encoding for these key types) over `message`. Never throws for a bad signature. */
export function verifyKeySignature(key: TufKey, signatureHex: string, message: Uint8Array): boolean {
  const pub = publicKeyObject(key);
  if (!/^([0-9a-f]{2})+$/.test(signatureHex)) return false;
  const sig = Buffer.from(signatureHex, 'hex');
  try {
    // ed25519 takes no digest; for P-256 the scheme fixes SHA-256 and DER-encoded signatures.
    return crypto.verify(key.keytype === 'ed25519' ? null : 'sha256', message, pub, sig);
  } catch {
    return false;
  }
}

export function tufPublicKey(privateOrPublic: KeyObject): TufKey {
  const pub = privateOrPublic.type === 'private' ? crypto.createPublicKey(privateOrPublic) : privateOrPublic;
  if (pub.asymmetricKeyType === 'ed25519') {
    const der = pub.export({ format: 'der', type: 'spki' });
    return { keytype: 'ed25519', scheme: 'ed25519', keyval: { public: der.subarray(ED25519_SPKI_PREFIX.length).toString('hex') } };
  }
  if (pub.asymmetricKeyType === 'ec' && pub.asymmetricKeyDetails?.namedCurve === 'prime256v1') {
    return { keytype: 'ecdsa', scheme: 'ecdsa-sha2-nistp256', keyval: { public: pub.export({ format: 'pem', type: 'spki' }).toString() } };
  }
  throw new TufError('unsupported_key', `unsupported private key type ${pub.asymmetricKeyType}`);
}

export function generatePrivateKey(algorithm: KeyAlgorithm): KeyObject {
  return algorithm === 'ed25519'
    ? crypto.generateKeyPairSync('ed25519').privateKey
    : crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
}

/** Hex signature over `message`, in the encoding `verifyKeySignature` and tuf-js expect. */
export function signWithPrivateKey(privateKey: KeyObject, message: Uint8Array): string {
  const digest = privateKey.asymmetricKeyType === 'ed25519' ? null : 'sha256';
  return crypto.sign(digest, message, privateKey).toString('hex');
}
