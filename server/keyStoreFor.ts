// Which online key store the configuration names: a PKCS#11 token (PKCS11_MODULE), keys from the
// environment (TUF_SNAPSHOT_KEY/TUF_TIMESTAMP_KEY), or key files in ONLINE_KEYS_DIR.
import type { Config } from './config.ts';
import { EnvKeyStore, FileKeyStore, type OnlineKeyStore } from './onlineKeys.ts';
import { pkcs11KeyStore } from './pkcs11/settings.ts';

export function keyStoreFor(config: Config): OnlineKeyStore {
  if (config.pkcs11) return pkcs11KeyStore(config.pkcs11);
  return config.onlineKeysFromEnv ? new EnvKeyStore(config.onlineKeysFromEnv) : new FileKeyStore(config.onlineKeysDir);
}
