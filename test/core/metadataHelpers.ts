// Fixtures for the parseMetadata tests (test/core/metadata*.test.ts): a root and a targets document
// built by the same module that parses them.
import type { JsonObject } from '../../core/canonical.ts';
import { isTufError, type TufErrorCode } from '../../core/errors.ts';
import { identityKey } from '../../core/identity.ts';
import { generatePrivateKey, keyidOf, tufPublicKey } from '../../core/keys.ts';
import { buildRootSigned, buildTargetsSigned, describeTarget, type Envelope } from '../../core/metadata.ts';
import { privateKeySigner } from '../../core/signer.ts';

export const EXPIRES = '2030-01-01T00:00:00Z';
export const refusedWith = (code: TufErrorCode) => (e: unknown) => isTufError(e, code);

export const rootSigner = privateKeySigner(generatePrivateKey('ed25519'));
export const targetsKey = tufPublicKey(generatePrivateKey('ecdsa')); // a PEM key: its keyval holds newlines
export const onlineKey = tufPublicKey(generatePrivateKey('ed25519'));

export function rootSigned(): JsonObject {
  return buildRootSigned({
    version: 1,
    expires: EXPIRES,
    roles: {
      root: { keys: [rootSigner.publicKey], threshold: 1 },
      targets: { keys: [targetsKey], threshold: 1 },
      snapshot: { keys: [onlineKey], threshold: 1 },
      timestamp: { keys: [onlineKey], threshold: 1 },
    },
  });
}

export const identity = identityKey('alice@example.com', 'https://issuer.example');
export const identityId = keyidOf(identity);
export const delegatedRole = (name: string): JsonObject => ({
  name,
  keyids: [identityId],
  threshold: 1,
  paths: [`${name}/*`],
  terminating: true,
});

export function targetsSigned(roleNames: string[] = ['demo']): JsonObject {
  return buildTargetsSigned({
    version: 3,
    expires: EXPIRES,
    targets: { 'sigstore/trusted_root.json': describeTarget(Buffer.from('{}')) },
    delegations: { keys: { [identityId]: identity as unknown as JsonObject }, roles: roleNames.map(delegatedRole) },
  });
}

export const envelope = (signed: JsonObject, signatures: Envelope['signatures'] = []): Envelope => ({ signed, signatures });
