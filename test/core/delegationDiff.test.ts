// What `tuf-offline status --previous` lists for a targets document or a bin: every change of a
// delegation an admin signs, so that a revocation or a new maintainer is seen before it is signed.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { JsonObject } from '../../core/canonical.ts';
import { delegationChanges } from '../../core/delegationDiff.ts';
import { identityKey, identityKeyid } from '../../core/identity.ts';
import { buildTargetsSigned, signEnvelope } from '../../core/metadata.ts';
import { generatePrivateKey } from '../../core/keys.ts';
import { privateKeySigner } from '../../core/signer.ts';
import { metadataStatus } from '../../core/status.ts';

const ISSUER = 'https://issuer.example';
const signer = (id: string) => ({ keyid: identityKeyid(id, ISSUER), key: identityKey(id, ISSUER) as unknown as JsonObject });

interface Role {
  name: string;
  who: string[];
  threshold?: number;
  paths?: string[];
  terminating?: boolean;
  extra?: JsonObject;
}

function bin(version: number, roles: Role[], keyOverride: Record<string, JsonObject> = {}): JsonObject {
  const keys: Record<string, JsonObject> = {};
  const list = roles.map((r) => {
    const ids = r.who.map(signer);
    for (const s of ids) keys[s.keyid] = keyOverride[s.keyid] ?? s.key;
    return {
      name: r.name,
      keyids: ids.map((s) => s.keyid),
      threshold: r.threshold ?? 1,
      paths: r.paths ?? [`${r.name}/*`],
      terminating: r.terminating ?? true,
      ...(r.extra ?? {}),
    };
  });
  return {
    ...buildTargetsSigned({ version, expires: '2031-01-01T00:00:00Z', targets: {} }),
    delegations: { keys, roles: list },
  } as JsonObject;
}

test('a revocation names who loses the right to sign, and who gains it', () => {
  const before = bin(2, [{ name: 'demo', who: ['alice@example.com', 'carol@example.com'] }]);
  const after = bin(3, [{ name: 'demo', who: ['bob@example.com', 'carol@example.com'] }]);
  assert.deepEqual(delegationChanges(after, before), [
    `~ delegation demo: signer removed: alice@example.com at ${ISSUER}`,
    `~ delegation demo: signer added: bob@example.com at ${ISSUER}`,
  ]);
});

test('threshold, paths, terminating and other fields of a kept delegation', () => {
  const before = bin(2, [{ name: 'demo', who: ['a@x.example', 'b@x.example'] }]);
  const after = bin(3, [
    {
      name: 'demo',
      who: ['a@x.example', 'b@x.example'],
      threshold: 2,
      paths: ['demo/*', 'other/*'],
      terminating: false,
      extra: { 'x-note': 'n' },
    },
  ]);
  assert.deepEqual(delegationChanges(after, before), [
    '~ delegation demo: threshold 1 -> 2',
    '~ delegation demo: paths ["demo/*"] -> ["demo/*","other/*"]',
    '~ delegation demo: terminating true -> false',
    '~ delegation demo: x-note none -> "n"',
  ]);
});

test('a key whose content changed under the same keyid is reported', () => {
  const alice = signer('alice@example.com');
  const before = bin(2, [{ name: 'demo', who: ['alice@example.com'] }]);
  const forged = identityKey('eve@example.com', ISSUER) as unknown as JsonObject;
  const after = bin(3, [{ name: 'demo', who: ['alice@example.com'] }], { [alice.keyid]: forged });
  assert.deepEqual(delegationChanges(after, before), [
    `~ delegation demo: key ${alice.keyid.slice(0, 8)} changed: alice@example.com at ${ISSUER} -> eve@example.com at ${ISSUER}`,
  ]);
});

test('added and removed delegations say who signs them; a new order is reported; nothing changed is nothing', () => {
  const before = bin(2, [
    { name: 'a', who: ['a@x.example'] },
    { name: 'b', who: ['b@x.example'] },
    { name: 'gone', who: ['g@x.example'] },
  ]);
  const after = bin(3, [
    { name: 'b', who: ['b@x.example'] },
    { name: 'a', who: ['a@x.example'] },
    { name: 'new', who: ['n@x.example'], threshold: 1 },
  ]);
  assert.deepEqual(delegationChanges(after, before), [
    `+ delegation new: n@x.example at ${ISSUER}; threshold 1; paths ["new/*"]`,
    `- delegation gone: was g@x.example at ${ISSUER}; threshold 1; paths ["gone/*"]`,
    '~ delegation order changed: b now comes before a (clients search delegations in order)',
  ]);
  assert.deepEqual(delegationChanges(before, before), []);
});

test('top-level targets delegating to bins: ordinary keys by type and keyid, through metadataStatus', async () => {
  const k1 = privateKeySigner(generatePrivateKey('ed25519'));
  const k2 = privateKeySigner(generatePrivateKey('ed25519'));
  const top = (version: number, key: typeof k1) =>
    ({
      ...buildTargetsSigned({ version, expires: '2031-01-01T00:00:00Z', targets: {} }),
      delegations: {
        keys: { [key.keyid]: key.publicKey as unknown as JsonObject },
        roles: [{ name: 'bin-0', keyids: [key.keyid], threshold: 1, path_hash_prefixes: ['0'], terminating: true }],
      },
    }) as JsonObject;
  const report = metadataStatus(await signEnvelope(top(3, k2), [k2]), { previous: await signEnvelope(top(2, k1), [k1]) });
  assert.deepEqual(report.changes, [
    `~ delegation bin-0: signer removed: ed25519 key ${k1.keyid.slice(0, 8)}`,
    `~ delegation bin-0: signer added: ed25519 key ${k2.keyid.slice(0, 8)}`,
  ]);
});
