import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { Metadata, MetadataKind } from '@tufjs/models';
import { bumpedRootSigned, editedTargetsSigned, initialTargetsSigned, rootSigned } from '../../core/ceremony.ts';
import { canonicalBytes, type JsonObject } from '../../core/canonical.ts';
import { isTufError, type TufErrorCode } from '../../core/errors.ts';
import { generatePrivateKey } from '../../core/keys.ts';
import {
  buildSnapshotSigned,
  buildTimestampSigned,
  describeTarget,
  expiresAfter,
  metaEntryFor,
  parseMetadata,
  signEnvelope,
  type Envelope,
} from '../../core/metadata.ts';
import { privateKeySigner, type Signer } from '../../core/signer.ts';
import { mergeSignatures, metadataStatus, withSignature } from '../../core/status.ts';
import { checkOnlineKeys, verifyRootUpdate, verifyTargetsUpdate } from '../../core/updates.ts';

const now = new Date('2026-11-24T12:00:00Z');
const year = 365 * 86_400;
const signer = () => privateKeySigner(generatePrivateKey('ed25519'));
const online = { snapshot: signer(), timestamp: signer() };

function root(rootSigners: Signer[], threshold: number, version = 1, targetsSigner = signer()) {
  return rootSigned({
    version,
    expires: expiresAfter(now, year),
    rootKeys: rootSigners.map((s) => s.publicKey),
    rootThreshold: threshold,
    targetsKeys: [targetsSigner.publicKey],
    targetsThreshold: 1,
    snapshotKey: online.snapshot.publicKey,
    timestampKey: online.timestamp.publicKey,
  });
}

const parseRoot = (env: unknown) => parseMetadata(env, 'root');
const refusedWith = (code: TufErrorCode) => (e: unknown) => isTufError(e, code);

test('root v1 signed by 2 of 3 keys is accepted; 1 of 3 is refused', async () => {
  const admins = [signer(), signer(), signer()];
  const signed = root(admins, 2);
  verifyRootUpdate(parseRoot(await signEnvelope(signed, admins.slice(0, 2))), null, now);
  const underSigned = parseRoot(await signEnvelope(signed, admins.slice(0, 1)));
  assert.throws(() => verifyRootUpdate(underSigned, null, now), refusedWith('threshold_not_met'));
});

test('threshold counts distinct keyids, and a duplicated keyid is refused outright', async () => {
  const admins = [signer(), signer()];
  const env = await signEnvelope(root(admins, 2), [admins[0]!]);
  const doubled = { ...env, signatures: [env.signatures[0]!, { ...env.signatures[0]! }] };
  assert.throws(() => parseRoot(doubled), refusedWith('duplicate_signature'));
  assert.throws(() => verifyRootUpdate(parseRoot(env), null, now), refusedWith('threshold_not_met'));
});

test('a signature over other bytes does not count', async () => {
  const admin = signer();
  const env = await signEnvelope(root([admin], 1), [admin]);
  const tampered = structuredClone(env);
  tampered.signed.expires = expiresAfter(now, year + 1);
  assert.throws(() => verifyRootUpdate(parseRoot(tampered), null, now), refusedWith('threshold_not_met'));
});

test('root N+1 needs the thresholds of root N and of itself, and version N+1', async () => {
  const old = [signer(), signer()];
  const fresh = [signer(), signer()];
  const v1 = parseRoot(await signEnvelope(root(old, 1), [old[0]!]));
  const v2signed = root(fresh, 2, 2);
  // Only the new keys: root v1's threshold is not met.
  const onlyNew = parseRoot(await signEnvelope(v2signed, fresh));
  assert.throws(() => verifyRootUpdate(onlyNew, v1, now), refusedWith('threshold_not_met'));
  // Only the old key: its own threshold is not met.
  const onlyOld = parseRoot(await signEnvelope(v2signed, [old[0]!]));
  assert.throws(() => verifyRootUpdate(onlyOld, v1, now), refusedWith('threshold_not_met'));
  verifyRootUpdate(parseRoot(await signEnvelope(v2signed, [old[0]!, ...fresh])), v1, now);
  // Skipping a version is refused even when fully signed.
  const v3 = root(fresh, 2, 3);
  const skipped = parseRoot(await signEnvelope(v3, [old[0]!, ...fresh]));
  assert.throws(() => verifyRootUpdate(skipped, v1, now), refusedWith('version_not_next'));
  // bump-root keeps keys and moves the version on.
  const bumped = bumpedRootSigned(v1.envelope.signed, now);
  verifyRootUpdate(parseRoot(await signEnvelope(bumped, [old[0]!])), v1, now);
});

test('an expired root is refused', async () => {
  const admin = signer();
  const signed = { ...root([admin], 1), expires: '2020-01-01T00:00:00Z' };
  const expired = parseRoot(await signEnvelope(signed, [admin]));
  assert.throws(() => verifyRootUpdate(expired, null, now), refusedWith('expired'));
});

test('root must name the server online keys with threshold 1', async () => {
  const admin = signer();
  const env = await signEnvelope(root([admin], 1), [admin]);
  const parsed = parseRoot(env);
  checkOnlineKeys(parsed.model, { snapshot: [online.snapshot.publicKey], timestamp: [online.timestamp.publicKey] });
  // After a rotation the server holds old and new keys; root may name either.
  checkOnlineKeys(parsed.model, { snapshot: [signer().publicKey, online.snapshot.publicKey], timestamp: [online.timestamp.publicKey] });
  assert.throws(
    () => checkOnlineKeys(parsed.model, { snapshot: [signer().publicKey], timestamp: [online.timestamp.publicKey] }),
    refusedWith('online_keys_mismatch'),
  );
});

test('malformed documents are refused before any signature check', () => {
  assert.throws(() => parseRoot('x'), refusedWith('malformed'));
  assert.throws(() => parseRoot({ signed: {}, signatures: {} }), refusedWith('malformed'));
  assert.throws(() => parseRoot({ signed: { _type: 'targets' }, signatures: [] }), refusedWith('wrong_type'));
  assert.throws(
    () => parseRoot({ signed: { _type: 'root', spec_version: '2.0.0' }, signatures: [] }),
    refusedWith('unsupported_spec_version'),
  );
  const base = root([signer()], 1);
  assert.throws(() => parseRoot({ signed: { ...base, version: 0 }, signatures: [] }), refusedWith('malformed'));
  assert.throws(() => parseRoot({ signed: { ...base, expires: '2030-01-01' }, signatures: [] }), refusedWith('malformed'));
  assert.throws(() => parseRoot({ signed: base, signatures: [], extra: 1 }), refusedWith('malformed'));
});

test('targets: signed by root targets threshold, version current + 1, not expired, valid paths', async () => {
  const admin = signer();
  const targetsKey = signer();
  const trusted = parseRoot(await signEnvelope(root([admin], 1, 1, targetsKey), [admin]));
  const v1 = initialTargetsSigned(now, { 'pkgs/a.tgz': describeTarget(Buffer.from('a')) });
  const ok = parseMetadata(await signEnvelope(v1, [targetsKey]), 'targets');
  verifyTargetsUpdate(ok, trusted, null, now);
  assert.throws(() => verifyTargetsUpdate(ok, trusted, 1, now), refusedWith('version_not_next'));
  const wrongKey = parseMetadata(await signEnvelope(v1, [admin]), 'targets');
  assert.throws(() => verifyTargetsUpdate(wrongKey, trusted, null, now), refusedWith('threshold_not_met'));
  const v2 = editedTargetsSigned(v1, { add: { 'pkgs/b.tgz': describeTarget(Buffer.from('b')) } }, now);
  assert.equal(v2.version, 2);
  verifyTargetsUpdate(parseMetadata(await signEnvelope(v2, [targetsKey]), 'targets'), trusted, 1, now);
  const bad = { ...v1, targets: { '../etc/passwd': describeTarget(Buffer.from('x')) as unknown as JsonObject } };
  const badPath = parseMetadata(await signEnvelope(bad, [targetsKey]), 'targets');
  assert.throws(() => verifyTargetsUpdate(badPath, trusted, null, now), refusedWith('bad_target_path'));
  const expired = { ...v1, expires: '2021-01-01T00:00:00Z' };
  const stale = parseMetadata(await signEnvelope(expired, [targetsKey]), 'targets');
  assert.throws(() => verifyTargetsUpdate(stale, trusted, null, now), refusedWith('expired'));
});

test('snapshot and timestamp we build read back unchanged through tuf-js models', () => {
  const snap = buildSnapshotSigned(3, expiresAfter(now, 100), { 'targets.json': metaEntryFor(2, Buffer.from('x')) });
  const snapModel = Metadata.fromJSON(MetadataKind.Snapshot, { signed: structuredClone(snap), signatures: [] } as never);
  assert.ok(canonicalBytes(snapModel.signed.toJSON()).equals(canonicalBytes(snap)));
  const ts = buildTimestampSigned(4, expiresAfter(now, 100), metaEntryFor(3, Buffer.from('y')));
  const tsModel = Metadata.fromJSON(MetadataKind.Timestamp, { signed: structuredClone(ts), signatures: [] } as never);
  assert.ok(canonicalBytes(tsModel.signed.toJSON()).equals(canonicalBytes(ts)));
});

test('signatures made on separate machines merge; different content does not', async () => {
  const admins = [signer(), signer(), signer()];
  const signed = root(admins, 2);
  const a = await signEnvelope(signed, [admins[0]!]);
  const b = await signEnvelope(signed, [admins[2]!]);
  const merged = mergeSignatures([a, b]);
  assert.equal(merged.signatures.length, 2);
  const report = metadataStatus(merged);
  assert.equal(report.allMet, true);
  assert.equal(metadataStatus(a).allMet, false);
  const other = await signEnvelope(root(admins, 2, 2), [admins[1]!]);
  assert.throws(() => mergeSignatures([a, other]), refusedWith('signed_mismatch'));
  // Re-signing with the same key replaces, never duplicates.
  const again: Envelope = withSignature(merged, a.signatures[0]!);
  assert.equal(again.signatures.length, 2);
});

test('real tuf-on-ci metadata (sigstore-oidc keys) passes the structural checks', () => {
  const dir = path.resolve(import.meta.dirname, '../fixtures/tuf-on-ci');
  for (const f of ['1.root.json', '2.root.json', '3.root.json']) {
    const parsed = parseRoot(JSON.parse(fs.readFileSync(path.join(dir, f), 'utf8')));
    assert.equal(parsed.type, 'root');
  }
  const targets = parseMetadata(JSON.parse(fs.readFileSync(path.join(dir, 'targets.json'), 'utf8')), 'targets');
  assert.equal(targets.version, 10);
});
