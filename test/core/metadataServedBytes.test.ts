// servedBytes: the bytes served for a parsed envelope (compact JSON, not canonical JSON).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { canonicalBytes } from '../../core/canonical.ts';
import { parseMetadata, servedBytes, signEnvelope } from '../../core/metadata.ts';
import { rootSigner, rootSigned } from './metadataHelpers.ts';

// ---------------------------------------------------------------------------------------------
// servedBytes

test('servedBytes is compact JSON of the envelope, valid JSON even where canonical JSON is not', async () => {
  const env = await signEnvelope(rootSigned(), [rootSigner]);
  const served = servedBytes(env);
  const text = served.toString('utf8');
  assert.equal(text, JSON.stringify(env));
  assert.ok(!/\n|": |, /.test(text), 'no whitespace between tokens');
  assert.deepEqual(JSON.parse(text), env);
  // The PEM key holds newlines: canonical JSON writes them raw (not JSON), servedBytes escapes them.
  assert.ok(canonicalBytes(env.signed).includes('\n'));
  assert.throws(() => JSON.parse(canonicalBytes(env).toString('utf8')));
  assert.ok(text.includes('\\n'));
  // What is served parses back to the same signed bytes.
  assert.deepEqual(parseMetadata(JSON.parse(text), 'root').signedBytes, canonicalBytes(env.signed));
});

test('servedBytes drops the formatting and duplicate keys of an upload', async () => {
  const env = await signEnvelope(rootSigned(), [rootSigner]);
  const pretty = JSON.stringify(env, null, 2);
  // A duplicate "signatures" key: JSON.parse keeps the last one, and so does what we serve.
  const uploaded = `{"signatures": [], ${pretty.slice(1)}`;
  const parsed = parseMetadata(JSON.parse(uploaded), 'root');
  const served = servedBytes(parsed.envelope).toString('utf8');
  assert.deepEqual(JSON.parse(served), env);
  assert.equal(served.split('"signatures"').length, 2, 'one "signatures" key');
  assert.ok(!/\n|": |, /.test(served), 'no whitespace between tokens');
  // Key order follows the upload (the first occurrence of a duplicate key): not canonical JSON.
  assert.ok(served.startsWith('{"signatures":[{"keyid":'));
});
