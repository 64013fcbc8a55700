// The online keys the server signs snapshot and timestamp with, matched against what the trusted
// root delegates to. Private keys stay in the key store; this module only asks it to sign.
import type { Root } from '@tufjs/models';
import type { Signer } from '../../core/signer.ts';
import { ONLINE_ROLES, heldOnlinePublicKeys, type OnlineKeyStore, type OnlineRole } from '../onlineKeys.ts';
import { TufError } from '../../core/errors.ts';
import type { OnlineKeys } from '../../core/updates.ts';

export class OnlineSignerUnavailable extends Error {
  override readonly name = 'OnlineSignerUnavailable';
  readonly code = 'online_key_unavailable' as const;
}

export class OnlineSigners {
  private signers: Record<OnlineRole, Signer[]> = { snapshot: [], timestamp: [] };
  constructor(private readonly store: OnlineKeyStore) {}

  async load(): Promise<void> {
    for (const role of ONLINE_ROLES) this.signers[role] = await this.store.list(role);
  }

  /** Every online public key held, re-read (a key added by `tuf-server online-keys rotate` counts). */
  async held(): Promise<OnlineKeys> {
    await this.load();
    const held = await heldOnlinePublicKeys(this.store);
    if (held.snapshot.length === 0 || held.timestamp.length === 0) {
      throw new TufError('not_bootstrapped', 'the server has no online keys yet (run: tuf-server online-keys create)');
    }
    return held;
  }

  /** Like forRoot, re-reading the key store once on a miss (another process may have rotated). */
  async signerFor(role: OnlineRole, root: Root): Promise<Signer> {
    try {
      return this.forRoot(role, root);
    } catch (err) {
      if (!(err instanceof OnlineSignerUnavailable)) throw err;
      await this.load();
      return this.forRoot(role, root);
    }
  }

  /**
   * The held key that root lists for `role`, under root's keyid for it (another tool may have
   * computed that keyid by another rule). Prefers the newest key.
   */
  forRoot(role: OnlineRole, root: Root): Signer {
    const keyids = root.roles[role]?.keyIDs ?? [];
    for (const signer of [...this.signers[role]].reverse()) {
      const keyid = keyids.find((id) => {
        const key = Object.hasOwn(root.keys, id) ? root.keys[id] : undefined;
        return (
          key &&
          key.keyType === signer.publicKey.keytype &&
          key.scheme === signer.publicKey.scheme &&
          key.keyVal.public === signer.publicKey.keyval.public
        );
      });
      if (keyid) return { keyid, publicKey: signer.publicKey, sign: (m) => signer.sign(m) };
    }
    throw new OnlineSignerUnavailable(`the server holds no ${role} key that root v${root.version} lists`);
  }
}
