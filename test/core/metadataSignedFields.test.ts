// parseMetadata is the gate every uploaded root and targets document passes: it must refuse every
// shape we (or TUF clients) cannot represent exactly, with a code, and accept what we build ourselves.
// Here: the fields of `signed` every role has.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { JsonObject } from '../../core/canonical.ts';
import { parseMetadata } from '../../core/metadata.ts';
import { refusedWith, rootSigned, targetsSigned, envelope } from './metadataHelpers.ts';

// ---------------------------------------------------------------------------------------------
// signed: type, spec version, version, expires

test('refuses a document of another _type (wrong_type)', () => {
  assert.throws(() => parseMetadata(envelope(rootSigned()), 'targets'), refusedWith('wrong_type'));
  assert.throws(() => parseMetadata(envelope(targetsSigned()), 'root'), refusedWith('wrong_type'));
  for (const type of ['snapshot', 'timestamp', 'Root', 'root ', '', null, 1]) {
    assert.throws(() => parseMetadata(envelope({ ...rootSigned(), _type: type }), 'root'), refusedWith('wrong_type'), String(type));
  }
  const { _type, ...untyped } = rootSigned();
  void _type;
  assert.throws(() => parseMetadata(envelope(untyped), 'root'), refusedWith('wrong_type'));
});

test('refuses an unsupported spec_version', () => {
  for (const spec of ['2.0.0', '0.9', '1', '1.', '1.0.31-rc1', 'v1.0.31', ' 1.0.31', '1.0.0.1', 1, 1.0, null, undefined]) {
    const signed = { ...rootSigned(), spec_version: spec } as JsonObject;
    if (spec === undefined) delete signed.spec_version;
    assert.throws(
      () => parseMetadata(envelope(signed), 'root'),
      refusedWith('unsupported_spec_version'),
      JSON.stringify(spec) ?? 'undefined',
    );
  }
  for (const spec of ['1.0', '1.0.0', '1.0.31', '1.20.3']) {
    parseMetadata(envelope({ ...rootSigned(), spec_version: spec }), 'root');
  }
});

test('refuses a version that is not a positive safe integer', () => {
  for (const version of [0, -1, 1.5, '1', null, true, 2 ** 53, Number.NaN, Infinity, undefined]) {
    const signed = { ...targetsSigned(), version } as JsonObject;
    if (version === undefined) delete signed.version;
    assert.throws(() => parseMetadata(envelope(signed), 'targets'), refusedWith('malformed'), String(version));
  }
  assert.equal(parseMetadata(envelope({ ...targetsSigned(), version: 2 ** 53 - 1 }), 'targets').version, 2 ** 53 - 1);
});

test('refuses expires in any form other than YYYY-MM-DDTHH:MM:SSZ', () => {
  const bad: unknown[] = [
    '2030-01-01T00:00:00.000Z', // milliseconds
    '2030-01-01T00:00:00.5Z',
    '2030-01-01T00:00:00', // no Z
    '2030-01-01T00:00:00+00:00',
    '2030-01-01T00:00:00z',
    '2030-01-01 00:00:00Z',
    '2030-01-01',
    '2030-1-1T00:00:00Z',
    '+02030-01-01T00:00:00Z',
    '2030-13-01T00:00:00Z', // matches the pattern but is no date
    '2030-01-01T25:00:00Z',
    ' 2030-01-01T00:00:00Z',
    '',
    1893456000,
    null,
  ];
  for (const expires of bad) {
    assert.throws(
      () => parseMetadata(envelope({ ...rootSigned(), expires } as JsonObject), 'root'),
      refusedWith('malformed'),
      JSON.stringify(expires),
    );
  }
});

test('refuses expires that names an impossible calendar date (other TUF clients cannot parse it)', () => {
  for (const expires of ['2030-02-30T00:00:00Z', '2030-02-31T00:00:00Z', '2030-04-31T00:00:00Z', '2030-01-01T24:00:00Z']) {
    assert.throws(() => parseMetadata(envelope({ ...rootSigned(), expires }), 'root'), refusedWith('malformed'), expires);
  }
});
