// Online snapshot/timestamp keys. Private keys stay inside this module's stores: never logged,
// never returned by the API, never written to the database.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { generatePrivateKey, type TufKey } from '../core/keys.ts';
import { writeFileAtomic } from '../platform/atomicFile.ts';
import { ensurePrivateDir } from '../platform/privateDir.ts';
import { privateKeySigner, type Signer } from '../core/signer.ts';

export type OnlineRole = 'snapshot' | 'timestamp';
export const ONLINE_ROLES: OnlineRole[] = ['snapshot', 'timestamp'];

/** Where online keys live. A KMS-backed store would implement the same two calls. */
export interface OnlineKeyStore {
  /** Every key held for the role, oldest first. */
  list(role: OnlineRole): Promise<Signer[]>;
  /** Adds a new key for the role (rotation); refused by stores that cannot create keys. */
  create(role: OnlineRole): Promise<Signer>;
}

interface KeyFile {
  role: OnlineRole;
  created_at: string;
  private_key_pem: string;
}

export class FileKeyStore implements OnlineKeyStore {
  constructor(private readonly dir: string) {}

  async list(role: OnlineRole): Promise<Signer[]> {
    if (!fs.existsSync(this.dir)) return [];
    const files = fs.readdirSync(this.dir).filter((f) => f.startsWith(`${role}-`) && f.endsWith('.json'));
    const keys = files.map((f) => JSON.parse(fs.readFileSync(path.join(this.dir, f), 'utf8')) as KeyFile);
    keys.sort((a, b) => a.created_at.localeCompare(b.created_at));
    return keys.map((k) => privateKeySigner(crypto.createPrivateKey(k.private_key_pem)));
  }

  async create(role: OnlineRole): Promise<Signer> {
    // Only the key directory itself is private; its parents keep their default modes.
    ensurePrivateDir(this.dir);
    // ECDSA P-256 (TUF's ecdsa-sha2-nistp256): signing hashes the snapshot once with SHA-256,
    // which current CPUs do in hardware (3.4 MB in about 2 ms here); Ed25519 hashes it twice with
    // SHA-512 (about 15 ms), on every publication. Keys made before stay what they are.
    const privateKey = generatePrivateKey('ecdsa');
    const signer = privateKeySigner(privateKey);
    const file: KeyFile = {
      role,
      created_at: new Date().toISOString(),
      private_key_pem: privateKey.export({ format: 'pem', type: 'pkcs8' }).toString(),
    };
    const target = path.join(this.dir, `${role}-${signer.keyid}.json`);
    // A crash never leaves a half-written key file.
    writeFileAtomic(target, JSON.stringify(file, null, 2), { mode: 0o600 });
    return signer;
  }
}

/** One PEM key per role from the environment (TUF_SNAPSHOT_KEY, TUF_TIMESTAMP_KEY). */
export class EnvKeyStore implements OnlineKeyStore {
  constructor(private readonly pems: Record<OnlineRole, string>) {}
  async list(role: OnlineRole): Promise<Signer[]> {
    let key: crypto.KeyObject;
    try {
      key = crypto.createPrivateKey(this.pems[role].replace(/\\n/g, '\n'));
    } catch {
      // The message must not echo the variable's content.
      throw new Error(`TUF_${role.toUpperCase()}_KEY does not hold a readable PEM private key`);
    }
    return [privateKeySigner(key)];
  }
  async create(): Promise<Signer> {
    throw new Error('online keys come from the environment: generate a new key and set TUF_SNAPSHOT_KEY / TUF_TIMESTAMP_KEY');
  }
}

export interface OnlinePublicKeys {
  snapshot: TufKey;
  timestamp: TufKey;
}

/** Every key held, per role: what a root may name. */
export async function heldOnlinePublicKeys(store: OnlineKeyStore): Promise<{ snapshot: TufKey[]; timestamp: TufKey[] }> {
  return {
    snapshot: (await store.list('snapshot')).map((s) => s.publicKey),
    timestamp: (await store.list('timestamp')).map((s) => s.publicKey),
  };
}

/** The newest key of each role: what a ceremony puts into root. */
export async function currentOnlinePublicKeys(store: OnlineKeyStore): Promise<OnlinePublicKeys | null> {
  const snapshot = (await store.list('snapshot')).at(-1);
  const timestamp = (await store.list('timestamp')).at(-1);
  if (!snapshot || !timestamp) return null;
  return { snapshot: snapshot.publicKey, timestamp: timestamp.publicKey };
}

export async function ensureOnlineKeys(store: OnlineKeyStore): Promise<OnlinePublicKeys> {
  for (const role of ONLINE_ROLES) {
    if ((await store.list(role)).length === 0) await store.create(role);
  }
  return (await currentOnlinePublicKeys(store))!;
}
