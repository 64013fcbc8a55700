// Root v1 with one fresh root key and one fresh targets key, for tests whose subject is not the
// ceremony (crashes, garbage collection): the targets key signs whatever top-level targets they need.
import type { KeyObject } from 'node:crypto';
import { DEFAULT_ROOT_EXPIRY_SECONDS, rootSigned } from '../../core/ceremony.ts';
import { generatePrivateKey, type TufKey } from '../../core/keys.ts';
import { expiresAfter, signEnvelope, type Envelope } from '../../core/metadata.ts';
import { privateKeySigner } from '../../core/signer.ts';

export async function singleKeyRoot(
  online: { snapshot: TufKey; timestamp: TufKey },
  now: Date,
): Promise<{ root: Envelope; targetsKey: KeyObject }> {
  const rootKey = generatePrivateKey('ed25519');
  const targetsKey = generatePrivateKey('ed25519');
  const root = await signEnvelope(
    rootSigned({
      version: 1,
      expires: expiresAfter(now, DEFAULT_ROOT_EXPIRY_SECONDS),
      rootKeys: [privateKeySigner(rootKey).publicKey],
      rootThreshold: 1,
      targetsKeys: [privateKeySigner(targetsKey).publicKey],
      targetsThreshold: 1,
      snapshotKey: online.snapshot,
      timestampKey: online.timestamp,
    }),
    [privateKeySigner(rootKey)],
  );
  return { root, targetsKey };
}
