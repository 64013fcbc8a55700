// From the configuration to a key store: the PIN is read here (PKCS11_PIN_FILE: its first line),
// only when a token is used, and kept nowhere else.
import fs from 'node:fs';
import type { Config } from '../config.ts';
import { Pkcs11KeyStore } from './pkcs11KeyStore.ts';
import { Pkcs11Error } from './token.ts';

export function pkcs11KeyStore(c: NonNullable<Config['pkcs11']>): Pkcs11KeyStore {
  let pin = c.pin;
  if (c.pinFile) {
    try {
      pin = fs.readFileSync(c.pinFile, 'utf8').split(/\r?\n/)[0]!;
    } catch (err) {
      throw new Pkcs11Error('pkcs11_failed', `PKCS11_PIN_FILE ${c.pinFile} cannot be read (${(err as NodeJS.ErrnoException).code})`);
    }
  }
  return new Pkcs11KeyStore({ modulePath: c.modulePath, tokenLabel: c.tokenLabel, pin: pin ?? '', keyType: c.keyType });
}
