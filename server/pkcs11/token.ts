// A logged-in session on one PKCS#11 token (a hardware security module, a cloud KMS's PKCS#11
// library, or SoftHSM2 in tests), through pkcs11js. Every failure becomes a Pkcs11Error with a
// stable code; the PIN is never part of a message.
import { createRequire } from 'node:module';
import type * as Pkcs11js from 'pkcs11js';

export type Pkcs11ErrorCode =
  | 'pkcs11_unavailable' // pkcs11js could not be loaded (an optional dependency that did not build)
  | 'pkcs11_module_unavailable' // PKCS11_MODULE is not a loadable PKCS#11 library
  | 'pkcs11_token_missing' // no token with PKCS11_TOKEN_LABEL is present
  | 'pkcs11_pin_incorrect' // the token refused PKCS11_PIN
  | 'pkcs11_pin_locked' // too many wrong PINs: the token's security officer must unlock it
  | 'pkcs11_mechanism_unsupported' // the token cannot generate or sign with the key type asked for
  | 'pkcs11_key_invalid' // a key object on the token is not one this server can use
  | 'pkcs11_failed'; // any other PKCS#11 error (its CKR_ name is in the message)

export class Pkcs11Error extends Error {
  override readonly name = 'Pkcs11Error';
  constructor(
    readonly code: Pkcs11ErrorCode,
    message: string,
  ) {
    super(message);
  }
}

export interface Pkcs11Settings {
  /** Path of the PKCS#11 library (PKCS11_MODULE), e.g. /usr/lib/softhsm/libsofthsm2.so. */
  modulePath: string;
  /** Label of the token holding the keys (PKCS11_TOKEN_LABEL). */
  tokenLabel: string;
  /** The user PIN (PKCS11_PIN, or the first line of PKCS11_PIN_FILE). */
  pin: string;
  /** Key type for new keys: ed25519, ecdsa (P-256), or auto (ecdsa when the token supports it, else ed25519). */
  keyType: 'ed25519' | 'ecdsa' | 'auto';
}

// PKCS#11 3.0 values pkcs11js does not name.
export const CKM_EC_EDWARDS_KEY_PAIR_GEN = 0x1055;
export const CKM_EDDSA = 0x1057;
export const CKK_EC_EDWARDS = 0x40;

function loadBinding(): typeof Pkcs11js {
  try {
    return createRequire(import.meta.url)('pkcs11js') as typeof Pkcs11js;
  } catch (err) {
    throw new Pkcs11Error(
      'pkcs11_unavailable',
      `pkcs11js could not be loaded (${(err as Error).message}): it is an optional dependency built at install; install with a C++ toolchain (npm ci) to use PKCS11_MODULE`,
    );
  }
}

/** The CKR_ name of a PKCS#11 error, for messages and codes. */
function ckr(err: unknown): string {
  return String((err as Error).message ?? err)
    .split(':')[0]!
    .trim();
}

export function pkcs11Failure(what: string, err: unknown): Pkcs11Error {
  if (err instanceof Pkcs11Error) return err;
  const name = ckr(err);
  if (name === 'CKR_PIN_INCORRECT')
    return new Pkcs11Error('pkcs11_pin_incorrect', `${what}: the token refused the PIN (CKR_PIN_INCORRECT)`);
  if (name === 'CKR_PIN_LOCKED')
    return new Pkcs11Error(
      'pkcs11_pin_locked',
      `${what}: the token's user PIN is locked (CKR_PIN_LOCKED): its security officer must reset it`,
    );
  if (name === 'CKR_MECHANISM_INVALID' || name === 'CKR_DOMAIN_PARAMS_INVALID' || name === 'CKR_CURVE_NOT_SUPPORTED')
    return new Pkcs11Error('pkcs11_mechanism_unsupported', `${what}: the token does not support it (${name})`);
  if (name === 'CKR_TOKEN_NOT_PRESENT' || name === 'CKR_DEVICE_REMOVED' || name === 'CKR_SLOT_ID_INVALID')
    return new Pkcs11Error('pkcs11_token_missing', `${what}: the token is not present (${name})`);
  return new Pkcs11Error('pkcs11_failed', `${what}: ${name}`);
}

/**
 * One library, one token, one logged-in read-write session. pkcs11js calls are synchronous and
 * this process has one thread, so operations on the session never interleave.
 */
export class TokenSession {
  readonly lib: typeof Pkcs11js;
  readonly p11: Pkcs11js.PKCS11;
  readonly slot: Pkcs11js.Handle;
  readonly session: Pkcs11js.Handle;
  readonly mechanisms: Set<number>;

  private constructor(lib: typeof Pkcs11js, p11: Pkcs11js.PKCS11, slot: Pkcs11js.Handle, session: Pkcs11js.Handle) {
    this.lib = lib;
    this.p11 = p11;
    this.slot = slot;
    this.session = session;
    this.mechanisms = new Set(p11.C_GetMechanismList(slot));
  }

  static open(settings: Pkcs11Settings): TokenSession {
    const lib = loadBinding();
    const p11 = new lib.PKCS11();
    try {
      p11.load(settings.modulePath);
    } catch (err) {
      throw new Pkcs11Error(
        'pkcs11_module_unavailable',
        `PKCS11_MODULE ${settings.modulePath} could not be loaded as a PKCS#11 library (${(err as Error).message})`,
      );
    }
    try {
      p11.C_Initialize();
    } catch (err) {
      if (ckr(err) !== 'CKR_CRYPTOKI_ALREADY_INITIALIZED') throw pkcs11Failure(`initializing ${settings.modulePath}`, err);
    }
    let slot: Pkcs11js.Handle | undefined;
    const labels: string[] = [];
    try {
      for (const s of p11.C_GetSlotList(true)) {
        const label = p11.C_GetTokenInfo(s).label.trim();
        labels.push(label || '(uninitialized)');
        if (label === settings.tokenLabel) slot = s;
      }
    } catch (err) {
      throw pkcs11Failure('listing the tokens', err);
    }
    if (slot === undefined) {
      throw new Pkcs11Error(
        'pkcs11_token_missing',
        `no token labelled ${JSON.stringify(settings.tokenLabel)} (PKCS11_TOKEN_LABEL) in ${settings.modulePath}; tokens present: ${labels.join(', ') || 'none'}`,
      );
    }
    let session: Pkcs11js.Handle;
    try {
      session = p11.C_OpenSession(slot, lib.CKF_RW_SESSION | lib.CKF_SERIAL_SESSION);
    } catch (err) {
      throw pkcs11Failure(`opening a session on token ${settings.tokenLabel}`, err);
    }
    try {
      p11.C_Login(session, lib.CKU_USER, settings.pin);
    } catch (err) {
      if (ckr(err) !== 'CKR_USER_ALREADY_LOGGED_IN') {
        try {
          p11.C_CloseSession(session);
        } catch {
          // the login failure is what matters
        }
        throw pkcs11Failure(`logging in to token ${settings.tokenLabel}`, err);
      }
    }
    return new TokenSession(lib, p11, slot, session);
  }

  /** Handles of the objects matching `template`. */
  find(template: Pkcs11js.Template): Pkcs11js.Handle[] {
    const { p11, session } = this;
    p11.C_FindObjectsInit(session, template);
    try {
      const out: Pkcs11js.Handle[] = [];
      for (;;) {
        const batch = p11.C_FindObjects(session, 64);
        if (batch.length === 0) return out;
        out.push(...batch);
      }
    } finally {
      p11.C_FindObjectsFinal(session);
    }
  }

  attribute(object: Pkcs11js.Handle, type: number): Buffer {
    const [attr] = this.p11.C_GetAttributeValue(this.session, object, [{ type }]);
    return attr?.value as Buffer;
  }

  close(): void {
    try {
      this.p11.C_Logout(this.session);
      this.p11.C_CloseSession(this.session);
      this.p11.C_Finalize();
    } catch {
      // closing is best effort
    }
  }
}
