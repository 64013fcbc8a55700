// The local Rekor keeps a searchable log with Rekor's v1 API: sequential indexes, a real Merkle
// tree, entries by index and UUID, batch retrieval, index search, log info; bundles it issues still
// verify, and the log survives a restart from its state directory.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import net from 'node:net';
import path from 'node:path';
import express from 'express';
import { after, before, test } from 'node:test';
import { canonicalBytes, sha256Hex } from '../core/canonical.ts';
import { identityKey, identityKeyid, IdentitySignatureVerifier } from '../core/identity.ts';
import { certificateIdentity, LogEntryVerifier, readHashedRekord } from '../core/rekorEntry.ts';
import { signWithIdentity } from '../maintainer/identitySigner.ts';
import { leafHash, rootFromPath } from '../sigstore-local/merkle.ts';
import { listen } from '../server/runtime.ts';
import { RekorClient } from '../transparency/rekorClient.ts';
import { startLocalSigstore, type LocalSigstoreServer } from './helpers/sigstore.ts';

let s: LocalSigstoreServer;
before(async () => {
  s = await startLocalSigstore();
});
after(() => s.close());

async function sign(identity: string, signed: object) {
  const bytes = canonicalBytes(signed);
  const sig = await signWithIdentity(
    bytes,
    identityKeyid(identity, s.sigstore.issuerUrl),
    { fulcioUrl: s.sigstore.fulcioUrl, rekorUrl: s.sigstore.rekorUrl },
    { getToken: () => s.sigstore.mintToken({ identity }) },
  );
  return { bytes, sig };
}

test('entries get sequential indexes, verify as bundles, and are found by index, UUID, e-mail and hash', async () => {
  const rekor = new RekorClient({ baseUrl: s.sigstore.rekorUrl, requestsPerSecond: 1000 });
  const start = (await rekor.logInfo()).treeSize;
  const a = await sign('alice@example.com', { n: 1 });
  const b = await sign('bob@example.com', { n: 2 });
  const c = await sign('alice@example.com', { n: 3 });
  const indexes = [a, b, c].map((x) =>
    Number(
      (x.sig.bundle as { verificationMaterial: { tlogEntries: { logIndex?: string }[] } }).verificationMaterial.tlogEntries[0]!.logIndex ??
        0,
    ),
  );
  assert.deepEqual(indexes, [start, start + 1, start + 2]);

  // The verifier checks the signed entry timestamp and the inclusion proof against the checkpoint.
  const verifier = new IdentitySignatureVerifier(s.sigstore.trustedRoot);
  assert.equal(verifier.verify(identityKey('alice@example.com', s.sigstore.issuerUrl), a.sig, a.bytes), true);
  assert.equal(verifier.verify(identityKey('bob@example.com', s.sigstore.issuerUrl), b.sig, b.bytes), true);

  const info = await rekor.logInfo();
  assert.equal(info.treeSize, start + 3);
  const byIndex = await rekor.entriesAt([start, start + 1, start + 2, start + 99]);
  assert.deepEqual([...byIndex.keys()].sort(), [start, start + 1, start + 2]);
  const entryB = byIndex.get(start + 1)!;
  const claim = readHashedRekord(entryB.body)!;
  assert.equal(claim.digest, sha256Hex(b.bytes));
  assert.deepEqual(certificateIdentity(claim.certificate), { identity: 'bob@example.com', issuer: s.sigstore.issuerUrl });
  assert.deepEqual(new LogEntryVerifier(s.sigstore.trustedRoot).verify(entryB, claim), {
    ok: true,
    identity: 'bob@example.com',
    issuer: s.sigstore.issuerUrl,
  });
  // A changed body no longer matches the log's promise.
  const forged = { ...entryB, body: Buffer.from(entryB.body.toString().replace('"sha256"', '"sha256" ')) };
  assert.equal(new LogEntryVerifier(s.sigstore.trustedRoot).verify(forged, claim).ok, false);

  assert.equal((await rekor.entryByUuid(entryB.uuid))?.logIndex, start + 1);
  assert.equal(await rekor.entryByUuid('0'.repeat(64)), null);
  const alice = await rekor.searchEmail('ALICE@example.com');
  assert.deepEqual(alice, [byIndex.get(start)!.uuid, byIndex.get(start + 2)!.uuid]);
  assert.deepEqual(await rekor.searchHash(sha256Hex(c.bytes)), [byIndex.get(start + 2)!.uuid]);
  assert.deepEqual(await rekor.searchEmail('nobody@example.com'), []);
});

test('inclusion proofs and the tree head are those of one RFC 6962 tree', async () => {
  for (let i = 0; i < 4; i++) await sign('carol@example.com', { i });
  const res = await fetch(`${s.sigstore.rekorUrl}/api/v1/log`);
  const info = (await res.json()) as { treeSize: number; rootHash: string; signedTreeHead: string };
  for (const index of [0, Math.floor(info.treeSize / 2), info.treeSize - 1]) {
    const answer = (await (await fetch(`${s.sigstore.rekorUrl}/api/v1/log/entries?logIndex=${index}`)).json()) as Record<
      string,
      { body: string; verification: { inclusionProof: { hashes: string[]; treeSize: number; rootHash: string; logIndex: number } } }
    >;
    const [entry] = Object.values(answer);
    const proof = entry!.verification.inclusionProof;
    assert.equal(proof.treeSize, info.treeSize);
    const root = rootFromPath(
      leafHash(Buffer.from(entry!.body, 'base64')),
      proof.logIndex,
      proof.treeSize,
      proof.hashes.map((h) => Buffer.from(h, 'hex')),
    );
    assert.equal(root.toString('hex'), info.rootHash);
  }
  assert.ok(info.signedTreeHead.includes(`\n${info.treeSize}\n${Buffer.from(info.rootHash, 'hex').toString('base64')}\n`));
  assert.equal((await fetch(`${s.sigstore.rekorUrl}/api/v1/log/entries?logIndex=${info.treeSize}`)).status, 404);
  const tooMany = await fetch(`${s.sigstore.rekorUrl}/api/v1/log/entries/retrieve`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ logIndexes: Array.from({ length: 11 }, (_, i) => i) }),
  });
  assert.equal(tooMany.status, 422);
});

test('a log with a state directory is read back after a restart', async () => {
  const { createLocalSigstore } = await import('../sigstore-local/localSigstore.ts');
  const stateDir = fs.mkdtempSync(path.join(os.tmpdir(), 'rekor-state-'));
  const first = await createLocalSigstore({ baseUrl: 'http://127.0.0.1:9/dev/sigstore', stateDir });
  first.rekorLog.append({
    kind: 'hashedrekord',
    apiVersion: '0.0.1',
    spec: {
      data: { hash: { algorithm: 'sha256', value: 'a'.repeat(64) } },
      signature: { content: 'c2ln', publicKey: { content: Buffer.from('not a certificate').toString('base64') } },
    },
  });
  const again = await createLocalSigstore({ baseUrl: 'http://127.0.0.1:9/dev/sigstore', stateDir });
  assert.equal(again.rekorLog.size, 1);
  assert.deepEqual(again.rekorLog.search({ hash: 'a'.repeat(64) }).length, 1);
  assert.equal(again.rekorLog.info().rootHash, first.rekorLog.info().rootHash);
});

test('two processes serving one state directory (the workers of tuf-server start) keep one log', async () => {
  const { createLocalSigstore } = await import('../sigstore-local/localSigstore.ts');
  const stateDir = fs.mkdtempSync(path.join(os.tmpdir(), 'rekor-shared-'));
  const a = await createLocalSigstore({ baseUrl: 'http://127.0.0.1:9/dev/sigstore', stateDir });
  const b = await createLocalSigstore({ baseUrl: 'http://127.0.0.1:9/dev/sigstore', stateDir });
  const entry = (n: number) => ({
    kind: 'hashedrekord',
    apiVersion: '0.0.1',
    spec: {
      data: { hash: { algorithm: 'sha256', value: n.toString(16).padStart(64, '0') } },
      signature: { content: 'c2ln', publicKey: { content: Buffer.from('not a certificate').toString('base64') } },
    },
  });
  const indexes: number[] = [];
  for (let n = 1; n <= 6; n++) {
    const created = (n % 2 ? a : b).rekorLog.append(entry(n));
    indexes.push((Object.values(created)[0] as { logIndex: number }).logIndex);
  }
  // Each entry its own index, whichever instance appended it; each instance sees them all.
  assert.deepEqual(indexes, [0, 1, 2, 3, 4, 5]);
  assert.equal(a.rekorLog.size, 6);
  assert.equal(a.rekorLog.info().rootHash, b.rekorLog.info().rootHash);
  assert.equal(b.rekorLog.search({ hash: (1).toString(16).padStart(64, '0') }).length, 1);
  // The same body through the other instance is refused as Rekor refuses a duplicate.
  assert.throws(
    () => b.rekorLog.append(entry(1)),
    (err: Error & { status?: number }) => err.status === 409,
  );
  const again = await createLocalSigstore({ baseUrl: 'http://127.0.0.1:9/dev/sigstore', stateDir });
  assert.equal(again.rekorLog.size, 6);
});

test('the client counts every shard of a sharded log and never exceeds its request rate', async () => {
  const app = express();
  let requests = 0;
  app.get('/api/v1/log', (_req, res) => {
    requests += 1;
    res.json({
      rootHash: 'ab'.repeat(32),
      treeSize: 5,
      treeID: '2',
      inactiveShards: [{ treeSize: 100, rootHash: 'cd'.repeat(32), treeID: '1' }],
    });
  });
  const server = await listen(app, '127.0.0.1', 0);
  try {
    const rekor = new RekorClient({ baseUrl: `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`, requestsPerSecond: 20 });
    const started = performance.now();
    const sizes = await Promise.all(Array.from({ length: 6 }, () => rekor.logInfo()));
    // Six requests at 20 a second: the last one waits its turn, 5 × 50 ms after the first.
    assert.ok(performance.now() - started >= 240, `six requests took ${performance.now() - started} ms`);
    assert.deepEqual(new Set(sizes.map((s) => s.treeSize)), new Set([105]));
    assert.equal(requests, 6);
  } finally {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  }
});
