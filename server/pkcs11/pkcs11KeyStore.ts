// Online snapshot and timestamp keys inside a PKCS#11 token: generated there (sensitive, never
// extractable), used there, never read out. The server holds a session and asks the token to sign;
// a shell on the server can ask too while it lasts, but cannot take a key away to sign elsewhere
// or later (docs/runbooks.md, "The server was compromised"). ECDSA P-256 where the token has it,
// as the server's file keys are: the snapshot is hashed here (SHA-256) and the token signs 32
// bytes, where CKM_EDDSA would carry the whole snapshot (megabytes) to the token on every
// publication, over the network for a network HSM or a cloud KMS. Ed25519 (PKCS#11 3.0
// CKM_EDDSA) on tokens without ECDSA, or when asked for; clients verify both.
//
// Keys are found by label: `tuf-online-ROLE-CREATED` (creation time, so that "newest" is the
// label's order), with a random CKA_ID shared by the private and public halves.
import crypto from 'node:crypto';
import type * as Pkcs11js from 'pkcs11js';
import { keyidOf, tufPublicKey, type TufKey } from '../../core/keys.ts';
import type { Signer } from '../../core/signer.ts';
import { ONLINE_ROLES, type OnlineKeyStore, type OnlineRole } from '../onlineKeys.ts';
import {
  CKK_EC_EDWARDS,
  CKM_EC_EDWARDS_KEY_PAIR_GEN,
  CKM_EDDSA,
  Pkcs11Error,
  pkcs11Failure,
  TokenSession,
  type Pkcs11Settings,
} from './token.ts';

const LABEL_PREFIX = 'tuf-online-';
/** DER of the curve OIDs: Ed25519 (1.3.101.112, RFC 8410) and P-256 (1.2.840.10045.3.1.7). */
const ED25519_PARAMS = Buffer.from('06032b6570', 'hex');
const P256_PARAMS = Buffer.from('06082a8648ce3d030107', 'hex');
const ED25519_SPKI_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');

type KeyType = 'ed25519' | 'ecdsa';

interface TokenKey {
  role: OnlineRole;
  label: string;
  type: KeyType;
  privateHandle: Pkcs11js.Handle;
  publicKey: TufKey;
}

/** CKA_EC_POINT holds the point, usually wrapped in a DER OCTET STRING. */
function rawPoint(value: Buffer, length: number): Buffer {
  if (value.length === length) return value;
  if (value.length === length + 2 && value[0] === 0x04 && value[1] === length) return value.subarray(2);
  throw new Pkcs11Error('pkcs11_key_invalid', `unexpected EC point of ${value.length} bytes`);
}

function publicKeyOf(type: KeyType, ecPoint: Buffer): TufKey {
  if (type === 'ed25519') {
    const der = Buffer.concat([ED25519_SPKI_PREFIX, rawPoint(ecPoint, 32)]);
    return tufPublicKey(crypto.createPublicKey({ key: der, format: 'der', type: 'spki' }));
  }
  const point = rawPoint(ecPoint, 65);
  const jwk = { kty: 'EC', crv: 'P-256', x: point.subarray(1, 33).toString('base64url'), y: point.subarray(33).toString('base64url') };
  return tufPublicKey(crypto.createPublicKey({ key: jwk, format: 'jwk' }));
}

/** r||s (PKCS#11's ECDSA output) as the DER SEQUENCE TUF's ecdsa-sha2-nistp256 signatures use. */
export function ecdsaRawToDer(raw: Buffer): Buffer {
  const int = (b: Buffer) => {
    let i = 0;
    while (i < b.length - 1 && b[i] === 0) i++;
    const v = b.subarray(i);
    const body = v[0]! & 0x80 ? Buffer.concat([Buffer.from([0]), v]) : v;
    return Buffer.concat([Buffer.from([0x02, body.length]), body]);
  };
  const half = raw.length / 2;
  const seq = Buffer.concat([int(raw.subarray(0, half)), int(raw.subarray(half))]);
  return Buffer.concat([Buffer.from([0x30, seq.length]), seq]);
}

export class Pkcs11KeyStore implements OnlineKeyStore {
  private token: TokenSession | null = null;
  /** One operation on the session at a time (a sign runs on pkcs11js's worker thread). */
  private queue: Promise<unknown> = Promise.resolve();

  constructor(private readonly settings: Pkcs11Settings) {}

  /** Opens the session now (commands that must fail early on a missing token or a wrong PIN). */
  open(): TokenSession {
    if (!this.token) this.token = TokenSession.open(this.settings);
    return this.token;
  }

  close(): void {
    this.token?.close();
    this.token = null;
  }

  private serial<T>(work: () => Promise<T> | T): Promise<T> {
    const run = this.queue.then(work, work);
    this.queue = run.catch(() => {});
    return run;
  }

  /** The key type new keys get: the configured one, or ECDSA P-256 when the token has CKM_ECDSA, else Ed25519. */
  keyTypeForNewKeys(): KeyType {
    const t = this.open();
    const ed = t.mechanisms.has(CKM_EDDSA) && t.mechanisms.has(CKM_EC_EDWARDS_KEY_PAIR_GEN);
    const ec = t.mechanisms.has(t.lib.CKM_ECDSA) && t.mechanisms.has(t.lib.CKM_EC_KEY_PAIR_GEN);
    const wanted = this.settings.keyType;
    if (wanted === 'ed25519' && !ed)
      throw new Pkcs11Error('pkcs11_mechanism_unsupported', 'the token has no Ed25519 (CKM_EDDSA): set PKCS11_KEY_TYPE=ecdsa');
    if (wanted === 'ecdsa' && !ec) throw new Pkcs11Error('pkcs11_mechanism_unsupported', 'the token has no ECDSA (CKM_ECDSA)');
    if (wanted !== 'auto') return wanted;
    if (ec) return 'ecdsa';
    if (ed) return 'ed25519';
    throw new Pkcs11Error('pkcs11_mechanism_unsupported', 'the token supports neither Ed25519 (CKM_EDDSA) nor ECDSA (CKM_ECDSA)');
  }

  private keys(role: OnlineRole): TokenKey[] {
    const t = this.open();
    const { lib } = t;
    const out: TokenKey[] = [];
    try {
      for (const handle of t.find([{ type: lib.CKA_CLASS, value: lib.CKO_PRIVATE_KEY }])) {
        const label = t.attribute(handle, lib.CKA_LABEL).toString('utf8');
        if (!label.startsWith(`${LABEL_PREFIX}${role}-`)) continue;
        const id = t.attribute(handle, lib.CKA_ID);
        // A CK_ULONG, in the host's byte order (8 bytes on 64-bit Linux).
        const kt = t.attribute(handle, lib.CKA_KEY_TYPE);
        const keyType = kt.length === 8 ? Number(kt.readBigUInt64LE()) : kt.readUInt32LE();
        const type: KeyType | null = keyType === CKK_EC_EDWARDS ? 'ed25519' : keyType === lib.CKK_EC ? 'ecdsa' : null;
        if (!type) throw new Pkcs11Error('pkcs11_key_invalid', `token key ${label} is neither Ed25519 nor EC`);
        const [pub] = t.find([
          { type: lib.CKA_CLASS, value: lib.CKO_PUBLIC_KEY },
          { type: lib.CKA_ID, value: id },
        ]);
        if (pub === undefined) throw new Pkcs11Error('pkcs11_key_invalid', `token key ${label} has no public key object with its CKA_ID`);
        out.push({ role, label, type, privateHandle: handle, publicKey: publicKeyOf(type, t.attribute(pub, lib.CKA_EC_POINT)) });
      }
    } catch (err) {
      throw pkcs11Failure(`reading the ${role} keys of token ${this.settings.tokenLabel}`, err);
    }
    return out.sort((a, b) => a.label.localeCompare(b.label));
  }

  private signer(key: TokenKey): Signer {
    return {
      keyid: keyidOf(key.publicKey),
      publicKey: key.publicKey,
      sign: (message) => this.serial(() => this.signWith(key, message)),
    };
  }

  private signWith(key: TokenKey, message: Uint8Array): Promise<string> {
    const t = this.open();
    const data = key.type === 'ed25519' ? Buffer.from(message) : crypto.createHash('sha256').update(message).digest();
    const mechanism = key.type === 'ed25519' ? CKM_EDDSA : t.lib.CKM_ECDSA;
    return new Promise((resolve, reject) => {
      try {
        t.p11.C_SignInit(t.session, { mechanism }, key.privateHandle);
        // The callback form runs on pkcs11js's worker thread: a slow token does not stall reads.
        t.p11.C_Sign(t.session, data, Buffer.alloc(512), (err, sig) => {
          if (err) return reject(pkcs11Failure(`signing with ${key.label}`, err));
          resolve((key.type === 'ed25519' ? sig : ecdsaRawToDer(sig)).toString('hex'));
        });
      } catch (err) {
        reject(pkcs11Failure(`signing with ${key.label}`, err));
      }
    });
  }

  async list(role: OnlineRole): Promise<Signer[]> {
    return this.serial(() => this.keys(role).map((k) => this.signer(k)));
  }

  /** Generates a key pair inside the token: the private half is sensitive and never extractable. */
  async create(role: OnlineRole): Promise<Signer> {
    if (!ONLINE_ROLES.includes(role)) throw new Error(`not an online role: ${role}`);
    return this.serial(() => {
      const t = this.open();
      const { lib } = t;
      const type = this.keyTypeForNewKeys();
      const label = `${LABEL_PREFIX}${role}-${new Date().toISOString()}`;
      const id = crypto.randomBytes(16);
      const common = [
        { type: lib.CKA_TOKEN, value: true },
        { type: lib.CKA_LABEL, value: label },
        { type: lib.CKA_ID, value: id },
      ];
      let handles: { publicKey: Pkcs11js.Handle; privateKey: Pkcs11js.Handle };
      try {
        handles = t.p11.C_GenerateKeyPair(
          t.session,
          { mechanism: type === 'ed25519' ? CKM_EC_EDWARDS_KEY_PAIR_GEN : lib.CKM_EC_KEY_PAIR_GEN },
          [
            ...common,
            { type: lib.CKA_VERIFY, value: true },
            { type: lib.CKA_EC_PARAMS, value: type === 'ed25519' ? ED25519_PARAMS : P256_PARAMS },
          ],
          [
            ...common,
            { type: lib.CKA_PRIVATE, value: true },
            { type: lib.CKA_SIGN, value: true },
            { type: lib.CKA_SENSITIVE, value: true },
            { type: lib.CKA_EXTRACTABLE, value: false },
          ],
        );
      } catch (err) {
        throw pkcs11Failure(`generating a ${type} ${role} key in token ${this.settings.tokenLabel}`, err);
      }
      const publicKey = publicKeyOf(type, t.attribute(handles.publicKey, lib.CKA_EC_POINT));
      return this.signer({ role, label, type, privateHandle: handles.privateKey, publicKey });
    });
  }
}
