// The private key file format shared by the offline tool and the dev ceremony: the TUF public key
// next to a PKCS#8 PEM private key, encrypted with a passphrase (AES-256-CBC under PBKDF2, as
// OpenSSL writes it). Pure: reading and writing files is the caller's business.
import crypto, { type KeyObject } from 'node:crypto';
import { isPlainObject } from './canonical.ts';
import { TufError } from './errors.ts';
import { keyidOf, parseTufKey, tufPublicKey, type TufKey } from './keys.ts';

export interface PrivateKeyFile {
  format: 'tuf-private-key/v1';
  name: string;
  keyid: string;
  public: TufKey;
  encrypted_private_key_pem: string;
}

export interface PublicKeyFile {
  format: 'tuf-public-key/v1';
  name: string;
  keyid: string;
  public: TufKey;
}

export function encodePrivateKeyFile(name: string, privateKey: KeyObject, passphrase: string): PrivateKeyFile {
  if (passphrase.length < 8) throw new TufError('malformed', 'the passphrase must be at least 8 characters');
  const pub = tufPublicKey(privateKey);
  return {
    format: 'tuf-private-key/v1',
    name,
    keyid: keyidOf(pub),
    public: pub,
    encrypted_private_key_pem: privateKey.export({ format: 'pem', type: 'pkcs8', cipher: 'aes-256-cbc', passphrase }).toString(),
  };
}

export function publicKeyFileOf(file: PrivateKeyFile | PublicKeyFile): PublicKeyFile {
  return { format: 'tuf-public-key/v1', name: file.name, keyid: file.keyid, public: file.public };
}

export function decodePrivateKeyFile(value: unknown, passphrase: string): { file: PrivateKeyFile; privateKey: KeyObject } {
  if (!isPlainObject(value) || value.format !== 'tuf-private-key/v1' || typeof value.encrypted_private_key_pem !== 'string') {
    throw new TufError('malformed', 'not a private key file (format tuf-private-key/v1)');
  }
  let privateKey: KeyObject;
  try {
    privateKey = crypto.createPrivateKey({ key: value.encrypted_private_key_pem, format: 'pem', passphrase });
  } catch {
    throw new TufError('malformed', 'cannot decrypt the private key: wrong passphrase or damaged file');
  }
  const file = value as unknown as PrivateKeyFile;
  if (keyidOf(tufPublicKey(privateKey)) !== file.keyid) {
    throw new TufError('malformed', 'the private key does not match the public key recorded in the file');
  }
  return { file, privateKey };
}

/** Reads a public key file, or the public half recorded in a private key file. */
export function readPublicKey(value: unknown, where: string): PublicKeyFile {
  if (isPlainObject(value) && (value.format === 'tuf-public-key/v1' || value.format === 'tuf-private-key/v1')) {
    const pub = parseTufKey(value.public, where);
    const name = typeof value.name === 'string' ? value.name : 'unnamed';
    return { format: 'tuf-public-key/v1', name, keyid: keyidOf(pub), public: pub };
  }
  // A bare TUF key object is accepted too.
  const pub = parseTufKey(value, where);
  return { format: 'tuf-public-key/v1', name: 'unnamed', keyid: keyidOf(pub), public: pub };
}
