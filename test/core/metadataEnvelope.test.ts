// parseMetadata is the gate every uploaded root and targets document passes: it must refuse every
// shape we (or TUF clients) cannot represent exactly, with a code, and accept what we build ourselves.
// Here: what it accepts, and the envelope around `signed`.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Root, Targets } from '@tufjs/models';
import { canonicalBytes } from '../../core/canonical.ts';
import { isTufError } from '../../core/errors.ts';
import { keyidOf } from '../../core/keys.ts';
import { parseMetadata, signEnvelope } from '../../core/metadata.ts';
import { refusedWith, rootSigner, targetsKey, rootSigned, identityId, targetsSigned, envelope } from './metadataHelpers.ts';

// ---------------------------------------------------------------------------------------------
// Acceptance

test('accepts a signed root built by buildRootSigned, with its canonical signed bytes and model', async () => {
  const signed = rootSigned();
  const env = await signEnvelope(signed, [rootSigner]);
  const parsed = parseMetadata(env, 'root');
  assert.equal(parsed.type, 'root');
  assert.equal(parsed.version, 1);
  assert.equal(parsed.expires.toISOString(), '2030-01-01T00:00:00.000Z');
  assert.deepEqual(parsed.signedBytes, canonicalBytes(signed));
  assert.equal(parsed.envelope, env, 'the envelope is the document given');
  assert.ok(parsed.model instanceof Root);
  assert.equal(parsed.model.consistentSnapshot, true);
  assert.deepEqual(parsed.model.roles.targets?.keyIDs, [keyidOf(targetsKey)]);
  assert.equal(parsed.envelope.signatures[0]?.keyid, rootSigner.keyid);
});

test('accepts a targets document built by buildTargetsSigned, with delegations', () => {
  const signed = targetsSigned(['demo', 'other-project']);
  const parsed = parseMetadata(envelope(signed, [{ keyid: identityId, sig: 'ab', bundle: { anything: true } }]), 'targets');
  assert.equal(parsed.type, 'targets');
  assert.equal(parsed.version, 3);
  assert.ok(parsed.model instanceof Targets);
  assert.deepEqual(Object.keys(parsed.model.targets), ['sigstore/trusted_root.json']);
  assert.deepEqual(Object.keys(parsed.model.delegations?.roles ?? {}), ['demo', 'other-project']);
  assert.deepEqual(parsed.signedBytes, canonicalBytes(signed));
  // Extra signature fields (a TAP 18 bundle) stay in the envelope.
  assert.deepEqual(parsed.envelope.signatures[0]?.bundle, { anything: true });
});

test('the default "where" is the role type; a given one prefixes messages', () => {
  assert.throws(
    () => parseMetadata(null, 'root'),
    (e: unknown) => isTufError(e, 'malformed') && e.message.startsWith('root:'),
  );
  assert.throws(
    () => parseMetadata(null, 'targets', 'upload demo'),
    (e: unknown) => isTufError(e, 'malformed') && e.message.startsWith('upload demo:'),
  );
});

// ---------------------------------------------------------------------------------------------
// Envelope shape

test('refuses values that are not a JSON object', () => {
  for (const value of [null, undefined, 'root', 42, true, [], [envelope(rootSigned())]]) {
    assert.throws(() => parseMetadata(value, 'root'), refusedWith('malformed'), JSON.stringify(value) ?? 'undefined');
  }
});

test('refuses a missing or ill-typed "signed"', () => {
  for (const signed of [undefined, null, 'x', 1, [], [rootSigned()]]) {
    assert.throws(() => parseMetadata({ signed, signatures: [] }, 'root'), refusedWith('malformed'), JSON.stringify(signed) ?? 'undefined');
  }
  assert.throws(() => parseMetadata({ signatures: [] }, 'root'), refusedWith('malformed'));
});

test('refuses a missing or ill-typed "signatures" and ill-typed signature entries', () => {
  const signed = rootSigned();
  for (const signatures of [undefined, null, {}, 'sig', 1]) {
    assert.throws(() => parseMetadata({ signed, signatures }, 'root'), refusedWith('malformed'), JSON.stringify(signatures) ?? 'undefined');
  }
  assert.throws(() => parseMetadata({ signed }, 'root'), refusedWith('malformed'));
  const badEntries: unknown[] = [
    null,
    'ab',
    [],
    {},
    { keyid: 'k' },
    { sig: 'ab' },
    { keyid: 1, sig: 'ab' },
    { keyid: 'k', sig: null },
    { keyid: 'k', sig: ['ab'] },
  ];
  for (const entry of badEntries) {
    assert.throws(() => parseMetadata({ signed, signatures: [entry] }, 'root'), refusedWith('malformed'), JSON.stringify(entry));
  }
});

test('refuses unexpected top-level fields', () => {
  const signed = rootSigned();
  for (const extra of ['signatures_extra', 'signed2', '_type', 'x-custom']) {
    assert.throws(() => parseMetadata({ signed, signatures: [], [extra]: 1 }, 'root'), refusedWith('malformed'), extra);
  }
  // Even an empty or null one: the served document is exactly {signed, signatures}.
  assert.throws(() => parseMetadata({ signed, signatures: [], extra: null }, 'root'), refusedWith('malformed'));
});

test('refuses two signatures with the same keyid (duplicate_signature), even when they differ', () => {
  const signed = rootSigned();
  const sigs = [
    { keyid: 'aa', sig: '01' },
    { keyid: 'bb', sig: '02' },
    { keyid: 'aa', sig: '03' },
  ];
  assert.throws(() => parseMetadata(envelope(signed, sigs), 'root'), refusedWith('duplicate_signature'));
  assert.throws(() => parseMetadata(envelope(signed, [sigs[0]!, { ...sigs[0]! }]), 'root'), refusedWith('duplicate_signature'));
  // Distinct keyids are fine, whatever the signatures hold.
  parseMetadata(envelope(signed, sigs.slice(0, 2)), 'root');
});
