// Build provenance in core (core/provenance.ts): a real public-good attestation verified for its
// real workflow identity (and refused for anything one character off), what a role must list, the
// requirement as delegations carry it (built, kept, dropped, read by the trusted set), and the
// requirements the target search hands the client along the delegation path.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { findDelegation, withDelegation } from '../../core/delegations.ts';
import { IdentitySignatureVerifier } from '../../core/identity.ts';
import { targetsModel } from '../../core/targetsModel.ts';
import {
  checkProvenanceListing,
  parseBuilderIdentity,
  PROVENANCE_FIELD,
  verifyAttestation,
  type BuilderIdentity,
} from '../../core/provenance.ts';
import { isTufError } from '../../core/errors.ts';
import { publicGoodTrustedRoot } from '../../core/publicGoodTrustedRoot.ts';
import { TrustedSet } from '../../core/trustedSet.ts';
import { chain, delegations, envelope, fixture, newKey, search, targetEntry, targetsSigned } from './trustedSetHelpers.ts';

const FIXTURES = path.resolve(import.meta.dirname, '..', 'fixtures', 'provenance');
const WHEEL = fs.readFileSync(path.join(FIXTURES, 'github_provenance_demo-0.0.0-py3-none-any.whl'));
const BUNDLE = fs.readFileSync(path.join(FIXTURES, 'github_provenance_demo-0.0.0-py3-none-any.whl.provenance.sigstore.json'));
const WHEEL_SHA256 = '49a3aa6075e0f49f82843e74b5baa614ad2a588e6675612bf108a0a008c5ac25';
const REAL: BuilderIdentity = {
  identity:
    'https://github.com/github/artifact-attestations-workflows/.github/workflows/attest.yml@09b495c3f12c7881b3cc17209a327792065c1a1d',
  issuer: 'https://token.actions.githubusercontent.com',
};
const publicGood = new IdentitySignatureVerifier(publicGoodTrustedRoot());
const verify = (required: BuilderIdentity[], bytes = BUNDLE, sha256 = WHEEL_SHA256) =>
  verifyAttestation(bytes, { sha256, required, verifier: publicGood, what: 'attestation' });
const invalid = (re: RegExp) => (err: unknown) => isTufError(err, 'provenance_invalid') && re.test(err.message);

test('a real public-good attestation verifies for its real workflow identity and issuer, about the real artifact', () => {
  assert.equal(createHash('sha256').update(WHEEL).digest('hex'), WHEEL_SHA256);
  const v = verify([REAL]);
  assert.deepEqual(v.builder, REAL);
  assert.equal(v.subjectName, 'github_provenance_demo-0.0.0-py3-none-any.whl');
  assert.equal(v.predicateType, 'https://slsa.dev/provenance/v1');
  assert.equal(v.buildType, 'https://slsa-framework.github.io/github-actions-buildtypes/workflow/v1');
  assert.equal(v.source, 'https://github.com/malancas/attest-demo/.github/workflows/shared.yml@refs/heads/main');
  // Without a requirement it still verifies, and says who signed.
  assert.deepEqual(verify([]).builder, REAL);
});

test('identity and issuer are compared exactly: a prefix, a suffix, one character, the calling workflow are refused', () => {
  const variants: BuilderIdentity[] = [
    { ...REAL, identity: REAL.identity.slice(0, -1) },
    { ...REAL, identity: `${REAL.identity}0` },
    { ...REAL, identity: REAL.identity.replace('attest.yml', 'attest.ym1') },
    { ...REAL, identity: 'https://github.com/malancas/attest-demo/.github/workflows/shared.yml@refs/heads/main' },
    { ...REAL, issuer: 'https://token.actions.githubusercontent.com/' },
    { ...REAL, issuer: 'https://accounts.google.com' },
  ];
  for (const v of variants) assert.throws(() => verify([v]), invalid(/not by the required builder/), JSON.stringify(v));
  // Every required builder must be met: the real one and another.
  assert.throws(() => verify([REAL, variants[0]!]), invalid(/not by the required builder/));
});

test('the attestation is about these bytes, signed, and against the trusted root given', () => {
  assert.throws(
    () => verify([REAL], BUNDLE, 'a'.repeat(64)),
    invalid(/no subject has the file's sha256 a{64} \(subjects: github_provenance_demo/),
  );
  const bundle = JSON.parse(BUNDLE.toString()) as { dsseEnvelope: { payload: string; signatures: { sig: string }[] } };
  const tampered = structuredClone(bundle);
  const statement = JSON.parse(Buffer.from(tampered.dsseEnvelope.payload, 'base64').toString());
  statement.subject[0].digest.sha256 = 'b'.repeat(64);
  tampered.dsseEnvelope.payload = Buffer.from(JSON.stringify(statement)).toString('base64');
  assert.throws(() => verify([REAL], Buffer.from(JSON.stringify(tampered)), 'b'.repeat(64)), invalid(/mismatch|signature/i));
  const resigned = structuredClone(bundle);
  resigned.dsseEnvelope.signatures[0]!.sig = Buffer.alloc(71, 1).toString('base64');
  assert.throws(() => verify([REAL], Buffer.from(JSON.stringify(resigned))), invalid(/signature/i));
  // Against a trusted root that is not the public-good one: refused.
  const other = JSON.parse(JSON.stringify(publicGoodTrustedRoot())) as { certificateAuthorities: unknown[] };
  other.certificateAuthorities = [];
  const elsewhere = new IdentitySignatureVerifier(other);
  assert.throws(
    () => verifyAttestation(BUNDLE, { sha256: WHEEL_SHA256, required: [REAL], verifier: elsewhere, what: 'a' }),
    invalid(/certificate|chain|authority/i),
  );
  assert.throws(() => verify([REAL], Buffer.from('not json')), invalid(/not JSON/));
});

test("what a role lists: each attestation beside a listed file; with a requirement, every file's attestation", () => {
  const att = (p: string) => `${p}.provenance.sigstore.json`;
  checkProvenanceListing('p', ['p/a.tgz', att('p/a.tgz')], REAL);
  checkProvenanceListing('p', ['p/a.tgz'], null);
  assert.throws(
    () => checkProvenanceListing('p', ['p/a.tgz', 'p/b.tgz', att('p/a.tgz')], REAL),
    (err) => isTufError(err, 'provenance_missing') && /p\/b\.tgz/.test(err.message),
  );
  assert.throws(
    () => checkProvenanceListing('p', [att('p/gone.tgz')], null),
    (err) => isTufError(err, 'provenance_invalid') && /p\/gone/.test(err.message),
  );
  // A path that is only the suffix is a file like any other.
  assert.throws(
    () => checkProvenanceListing('p', ['.provenance.sigstore.json'], REAL),
    (err) => isTufError(err, 'provenance_missing'),
  );
});

test('a requirement is exactly {identity, issuer}, as identity keys take them', () => {
  assert.deepEqual(parseBuilderIdentity({ identity: 'x@example.com', issuer: 'https://i' }, 'w'), {
    identity: 'x@example.com',
    issuer: 'https://i',
  });
  for (const bad of [
    null,
    'x',
    {},
    { identity: 'x' },
    { identity: 'a b', issuer: 'https://i' },
    { identity: 'x', issuer: 'ftp://i' },
    { identity: 'x', issuer: 'https://i', extra: 1 },
  ]) {
    assert.throws(
      () => parseBuilderIdentity(bad, 'w'),
      (err) => isTufError(err, 'malformed'),
      JSON.stringify(bad),
    );
  }
});

test('delegations carry it: set, kept when the maintainers change, dropped only when asked; read back by the server model', () => {
  const top = targetsSigned(1, {});
  const alice = { identity: 'alice@example.com', issuer: 'https://accounts.google.com' };
  const bob = { identity: 'bob@example.com', issuer: 'https://accounts.google.com' };
  const withReq = withDelegation(top, 'p', [alice], 1, undefined, REAL);
  const roleOf = (d: typeof top) => (d.delegations as { roles: Record<string, unknown>[] }).roles.find((r) => r.name === 'p')!;
  assert.deepEqual(roleOf(withReq)[PROVENANCE_FIELD], REAL);
  assert.deepEqual(findDelegation(targetsModel(withReq), 'p')!.provenance, REAL);
  const kept = withDelegation(withReq, 'p', [alice, bob], 2);
  assert.deepEqual(roleOf(kept)[PROVENANCE_FIELD], REAL, 'a new maintainer does not drop it');
  const dropped = withDelegation(kept, 'p', [alice], 1, undefined, null);
  assert.equal(roleOf(dropped)[PROVENANCE_FIELD], undefined);
  assert.equal(findDelegation(targetsModel(dropped), 'p')!.provenance, null);
});

test('the trusted set hands every requirement on the delegation path to the client, and refuses a malformed one', () => {
  const f = fixture();
  const [bin, project] = [newKey(), newKey()];
  const binDelegation = delegations([{ name: 'bin', keys: [bin], paths: ['p/*'], terminating: true }]);
  const projectDelegation = delegations([{ name: 'p', keys: [project], paths: ['p/*'], terminating: true }]);
  (projectDelegation.roles as Record<string, unknown>[])[0]![PROVENANCE_FIELD] = REAL as never;
  const targets = envelope(targetsSigned(1, {}, { delegations: binDelegation }), [f.k.targets]);
  const binRole = envelope(targetsSigned(1, {}, { delegations: projectDelegation }), [bin]);
  const projectRole = envelope(targetsSigned(1, { 'p/a.tgz': targetEntry(Buffer.from('a')) }), [project]);
  const set = new TrustedSet(f.root);
  const { snapshot, timestamp } = chain(f, { targets: { bytes: targets }, bin: { bytes: binRole }, p: { bytes: projectRole } });
  set.updateTimestamp(timestamp);
  set.updateSnapshot(snapshot);
  set.updateTargets(targets);
  const { found } = search(set, { bin: binRole, p: projectRole }, 'p/a.tgz');
  assert.equal(found?.role, 'p');
  assert.equal(found?.delegator, 'bin');
  assert.deepEqual(found?.provenance, [REAL]);

  (projectDelegation.roles as Record<string, unknown>[])[0]![PROVENANCE_FIELD] = { identity: REAL.identity } as never;
  const badBin = envelope(targetsSigned(1, {}, { delegations: projectDelegation }), [bin]);
  const set2 = new TrustedSet(f.root);
  const c2 = chain(f, { targets: { bytes: targets }, bin: { bytes: badBin } });
  set2.updateTimestamp(c2.timestamp);
  set2.updateSnapshot(c2.snapshot);
  set2.updateTargets(targets);
  assert.throws(() => set2.updateDelegatedTargets(badBin, 'bin', 'targets'), /x-build-provenance/);
});
