import type { KeyObject } from 'node:crypto';
import { keyidOf, signWithPrivateKey, tufPublicKey, type TufKey } from './keys.ts';

/**
 * Whatever holds a private key (a file, an environment variable, a KMS) signs through this seam.
 * `sign` is async so remote signers fit; it returns TUF's hex signature encoding.
 */
export interface Signer {
  readonly keyid: string;
  readonly publicKey: TufKey;
  sign(message: Uint8Array): Promise<string>;
}

export function privateKeySigner(privateKey: KeyObject): Signer {
  const publicKey = tufPublicKey(privateKey);
  return {
    keyid: keyidOf(publicKey),
    publicKey,
    sign: async (message) => signWithPrivateKey(privateKey, message),
  };
}
