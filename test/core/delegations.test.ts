// Project roles delegated to identities (TAP 18): building delegations, verifying uploads and
// registrations. No Sigstore here: a fake verifier accepts a signature iff its `sig` is a fixed
// function of (keyid, SHA-256 of the signed bytes), so tests sign "as" any identity.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Targets } from '@tufjs/models';
import { canonicalBytes, sha256Hex, type JsonObject } from '../../core/canonical.ts';
import {
  changedDelegations,
  delegationMaintainers,
  findDelegation,
  registrationSigned,
  resignReason,
  unionSignatures,
  validSignaturesOnly,
  verifyProjectUpload,
  verifyRegistration,
  withDelegation,
  withoutDelegation,
  type Delegation,
  type Maintainer,
} from '../../core/delegations.ts';
import { isTufError, type TufErrorCode } from '../../core/errors.ts';
import { identityKey, identityKeyid, type IdentitySignatureVerifier, type IdentityVerdict } from '../../core/identity.ts';
import { generatePrivateKey, keyidOf, type TufKey } from '../../core/keys.ts';
import {
  buildTargetsSigned,
  describeTarget,
  expiresAfter,
  parseMetadata,
  signEnvelope,
  type Envelope,
  type ParsedMetadata,
  type SignatureJson,
  type TargetEntry,
} from '../../core/metadata.ts';
import { privateKeySigner, type Signer } from '../../core/signer.ts';
import { classicKeyVerifier, type SignatureVerifier } from '../../core/verify.ts';

const NOW = new Date('2026-11-24T12:00:00Z');
const DAY = 86_400;
const MAX_EXPIRY = 90 * DAY;
const ISSUER = 'https://issuer.example';
const alice: Maintainer = { identity: 'alice@example.com', issuer: ISSUER };
const bob: Maintainer = { identity: 'bob@example.com', issuer: ISSUER };
const carol: Maintainer = { identity: 'carol@example.com', issuer: 'https://token.actions.githubusercontent.com' };
const idOf = (m: Maintainer) => identityKeyid(m.identity, m.issuer);
const refusedWith = (code: TufErrorCode) => (e: unknown) => isTufError(e, code);

// ---------------------------------------------------------------------------------------------
// A fake signature scheme, and the verifiers that check it.

const fakeSig = (keyid: string, bytes: Uint8Array) => sha256Hex(Buffer.from(`fake:${keyid}:${sha256Hex(bytes)}`));
const signAs = (m: Maintainer, bytes: Uint8Array): SignatureJson => ({
  keyid: idOf(m),
  sig: fakeSig(idOf(m), bytes),
  bundle: { fake: true },
});

/** Records what it was asked, so tests can tell whether cryptography ran at all. */
function fakeVerifier(): SignatureVerifier & { calls: number } {
  const v = {
    calls: 0,
    verify(key: TufKey, signature: SignatureJson, bytes: Uint8Array) {
      v.calls++;
      return signature.sig === fakeSig(keyidOf(key), bytes);
    },
  };
  return v;
}

/** verifyRegistration only calls `explain`; this implements it with the fake scheme. */
function fakeIdentityVerifier(): IdentitySignatureVerifier & { calls: number } {
  const v = {
    calls: 0,
    verify(key: TufKey, signature: SignatureJson, bytes: Uint8Array) {
      return v.explain(key, signature, bytes).valid;
    },
    explain(key: TufKey, signature: SignatureJson, bytes: Uint8Array): IdentityVerdict {
      v.calls++;
      return signature.sig === fakeSig(keyidOf(key), bytes)
        ? { valid: true, identity: key.keyval.identity, issuer: key.keyval.issuer }
        : { valid: false, reason: 'fake signature does not match' };
    },
  };
  return v as unknown as IdentitySignatureVerifier & { calls: number };
}

// ---------------------------------------------------------------------------------------------
// Fixtures: top-level targets with delegations, and project role candidates.

const topSigned = (version = 1): JsonObject =>
  buildTargetsSigned({
    version,
    expires: expiresAfter(NOW, 365 * DAY),
    targets: { 'sigstore/trusted_root.json': describeTarget(Buffer.from('{}')) },
  });

/** tuf-js's model of a top-level targets `signed`, as the server holds it. */
const model = (signed: JsonObject): Targets => parseMetadata({ signed, signatures: [] }, 'targets').model;

function delegationFor(maintainers: Maintainer[], threshold: number, project = 'demo'): Delegation {
  const d = findDelegation(model(withDelegation(topSigned(), project, maintainers, threshold)), project);
  assert.ok(d);
  return d;
}

const pkg = (name = 'demo/demo-1.0.tgz'): Record<string, TargetEntry> => ({ [name]: describeTarget(Buffer.from(name)) });

function projectSigned(
  opts: { version?: number; expires?: string; targets?: Record<string, TargetEntry>; delegations?: JsonObject } = {},
): JsonObject {
  return buildTargetsSigned({
    version: opts.version ?? 1,
    expires: opts.expires ?? expiresAfter(NOW, 30 * DAY),
    targets: opts.targets ?? pkg(),
    ...(opts.delegations ? { delegations: opts.delegations } : {}),
  });
}

/** A parsed candidate signed (in the fake scheme) by each of `signers`, plus any `extra` signatures. */
function candidate(signed: JsonObject, signers: Maintainer[], extra: SignatureJson[] = []): ParsedMetadata<'targets'> {
  const bytes = canonicalBytes(signed);
  return parseMetadata({ signed, signatures: [...signers.map((m) => signAs(m, bytes)), ...extra] }, 'targets');
}

function upload(
  c: ParsedMetadata<'targets'>,
  delegation: Delegation,
  opts: { currentVersion?: number | null; now?: Date; verifier?: SignatureVerifier } = {},
) {
  return verifyProjectUpload({
    candidate: c,
    delegation,
    currentVersion: opts.currentVersion ?? null,
    now: opts.now ?? NOW,
    verifier: opts.verifier ?? fakeVerifier(),
    maxExpirySeconds: MAX_EXPIRY,
  });
}

// ---------------------------------------------------------------------------------------------
// findDelegation, delegationMaintainers

test('findDelegation: the role, its keys only, its paths, and tuf-js path matching', () => {
  let signed = withDelegation(topSigned(), 'demo', [alice, bob], 2);
  signed = withDelegation(signed, 'other', [carol], 1);
  const targets = model(signed);
  const d = findDelegation(targets, 'demo');
  assert.ok(d);
  assert.equal(d.name, 'demo');
  assert.deepEqual(d.role, { keyids: [idOf(alice), idOf(bob)], threshold: 2 });
  assert.deepEqual(Object.keys(d.keys).sort(), [idOf(alice), idOf(bob)].sort(), 'keys of other roles are not included');
  assert.deepEqual(d.keys[idOf(alice)], identityKey(alice.identity, alice.issuer));
  assert.deepEqual(d.paths, ['demo/*']);
  assert.equal(d.isDelegatedPath('demo/demo-1.0.tgz'), true);
  for (const outside of ['other/x', 'demo', 'demox/a', 'demo/sub/file', 'x/demo/a'])
    assert.equal(d.isDelegatedPath(outside), false, outside);

  assert.equal(findDelegation(targets, 'missing'), null);
  assert.equal(findDelegation(model(topSigned()), 'demo'), null, 'targets without delegations');
  assert.equal(findDelegation(targets, '__proto__'), null);
});

test('findDelegation: a keyid the role lists but "keys" lacks is left out (it can never count)', () => {
  const signed = withDelegation(topSigned(), 'demo', [alice], 1);
  const delegations = signed.delegations as { roles: { keyids: string[] }[] };
  delegations.roles[0]!.keyids.push('ab'.repeat(32));
  const d = findDelegation(model(signed), 'demo');
  assert.ok(d);
  assert.deepEqual(d.role.keyids, [idOf(alice), 'ab'.repeat(32)]);
  assert.deepEqual(Object.keys(d.keys), [idOf(alice)]);
  assert.deepEqual(delegationMaintainers(d), [{ keyid: idOf(alice), ...alice }]);
});

test('delegationMaintainers: identity keys in role order; other and missing keys skipped', () => {
  const ed = privateKeySigner(generatePrivateKey('ed25519'));
  const d: Delegation = {
    ...delegationFor([bob, alice, carol], 1),
  };
  assert.deepEqual(delegationMaintainers(d), [
    { keyid: idOf(bob), ...bob },
    { keyid: idOf(alice), ...alice },
    { keyid: idOf(carol), ...carol },
  ]);
  const mixed: Delegation = {
    ...d,
    keys: { ...d.keys, [ed.keyid]: ed.publicKey },
    role: { keyids: [ed.keyid, idOf(alice), 'ff'.repeat(32)], threshold: 1 },
  };
  assert.deepEqual(delegationMaintainers(mixed), [{ keyid: idOf(alice), ...alice }]);
});

// ---------------------------------------------------------------------------------------------
// withDelegation / withoutDelegation

test('withDelegation: delegates <project>/* to the identities, terminating, and leaves the input alone', () => {
  const before = topSigned(4);
  const snapshot = structuredClone(before);
  const next = withDelegation(before, 'demo', [alice, bob], 1);
  assert.deepEqual(before, snapshot, 'input not mutated');
  assert.equal(next.version, 4, "version and expiry are the caller's to set");
  assert.equal(next.expires, before.expires);
  assert.deepEqual(next.targets, before.targets);
  assert.deepEqual(next.delegations, {
    keys: {
      [idOf(alice)]: identityKey(alice.identity, alice.issuer),
      [idOf(bob)]: identityKey(bob.identity, bob.issuer),
    },
    roles: [{ name: 'demo', keyids: [idOf(alice), idOf(bob)], threshold: 1, paths: ['demo/*'], terminating: true }],
  });
  // What it writes, TUF clients read back byte for byte.
  parseMetadata({ signed: next, signatures: [] }, 'targets');
});

test('withDelegation: threshold between 1 and the number of distinct identities', () => {
  for (const threshold of [0, -1, 3, 1.5, Number.NaN, Infinity]) {
    assert.throws(() => withDelegation(topSigned(), 'demo', [alice, bob], threshold), refusedWith('malformed'), String(threshold));
  }
  for (const threshold of [1, 2]) withDelegation(topSigned(), 'demo', [alice, bob], threshold);
  // The same identity twice is one key: it cannot meet a threshold of 2.
  assert.throws(() => withDelegation(topSigned(), 'demo', [alice, { ...alice }], 2), refusedWith('malformed'));
  const once = withDelegation(topSigned(), 'demo', [alice, { ...alice }], 1);
  assert.deepEqual((once.delegations as { roles: { keyids: string[] }[] }).roles[0]!.keyids, [idOf(alice)]);
  // Same identity at another issuer is another key.
  withDelegation(topSigned(), 'demo', [alice, { ...alice, issuer: 'https://other.example' }], 2);
  assert.throws(() => withDelegation(topSigned(), 'demo', [], 1), refusedWith('malformed'));
});

test('withDelegation: refuses bad role names and bad identities', () => {
  for (const name of [
    '',
    'Demo',
    'root',
    'targets',
    'snapshot',
    'timestamp',
    '12',
    '1.5',
    'a..b',
    '-demo',
    'demo-',
    'de mo',
    'de/mo',
    'x'.repeat(65),
    '__proto__',
  ]) {
    assert.throws(() => withDelegation(topSigned(), name, [alice], 1), refusedWith('bad_role_name'), name);
  }
  for (const m of [
    { identity: '', issuer: ISSUER },
    { identity: 'a b@example.com', issuer: ISSUER },
    { identity: 'a@example.com\n', issuer: ISSUER },
    { identity: 'a@example.com', issuer: 'issuer.example' },
    { identity: 'a@example.com', issuer: 'ftp://issuer.example' },
  ]) {
    assert.throws(() => withDelegation(topSigned(), 'demo', [alice, m], 1), refusedWith('malformed'), JSON.stringify(m));
  }
});

test('withDelegation: replaces an existing delegation of the same name and prunes keys nobody uses', () => {
  let signed = withDelegation(topSigned(), 'demo', [alice, bob], 2);
  signed = withDelegation(signed, 'other', [bob], 1);
  signed = withDelegation(signed, 'demo', [carol], 1);
  const delegations = signed.delegations as { keys: JsonObject; roles: JsonObject[] };
  assert.deepEqual(
    delegations.roles.map((r) => r.name),
    ['other', 'demo'],
  );
  assert.deepEqual(
    delegations.roles.find((r) => r.name === 'demo'),
    { name: 'demo', keyids: [idOf(carol)], threshold: 1, paths: ['demo/*'], terminating: true },
  );
  // alice was only demo's: gone. bob still serves "other": kept.
  assert.deepEqual(Object.keys(delegations.keys).sort(), [idOf(bob), idOf(carol)].sort());
  const d = findDelegation(model(signed), 'demo');
  assert.deepEqual(d?.role, { keyids: [idOf(carol)], threshold: 1 });
});

test('withoutDelegation: removes the role, prunes its unshared keys, refuses what is not delegated', () => {
  let signed = withDelegation(topSigned(), 'demo', [alice, bob], 1);
  signed = withDelegation(signed, 'other', [bob], 1);
  const snapshot = structuredClone(signed);
  const next = withoutDelegation(signed, 'demo');
  assert.deepEqual(signed, snapshot, 'input not mutated');
  const delegations = next.delegations as { keys: JsonObject; roles: JsonObject[] };
  assert.deepEqual(
    delegations.roles.map((r) => r.name),
    ['other'],
  );
  assert.deepEqual(Object.keys(delegations.keys), [idOf(bob)]);
  assert.equal(findDelegation(model(next), 'demo'), null);
  const empty = withoutDelegation(next, 'other');
  assert.deepEqual(empty.delegations, { keys: {}, roles: [] });
  parseMetadata({ signed: empty, signatures: [] }, 'targets');

  assert.throws(() => withoutDelegation(next, 'demo'), refusedWith('not_delegated'));
  assert.throws(() => withoutDelegation(topSigned(), 'demo'), refusedWith('not_delegated'), 'no delegations at all');
});

// ---------------------------------------------------------------------------------------------
// verifyProjectUpload: refusals in a fixed order

test('upload: malformed target entries are refused before any signature is checked', () => {
  const d = delegationFor([alice], 1);
  const bad: [string, JsonObject, TufErrorCode][] = [
    ['demo/a', { length: 1, hashes: { sha256: 'A'.repeat(64) } }, 'malformed'],
    ['demo/a', { length: 2 ** 53, hashes: { sha256: 'a'.repeat(64) } }, 'malformed'],
    ['demo/a', { length: 1, hashes: { sha512: 'a'.repeat(128) } }, 'malformed'],
    ['demo/a', { length: 1, hashes: { md5: 'a'.repeat(32), sha256: 'a'.repeat(64) } }, 'malformed'],
    ['demo/../etc/passwd', { length: 1, hashes: { sha256: 'a'.repeat(64) } }, 'bad_target_path'],
    ['/demo/a', { length: 1, hashes: { sha256: 'a'.repeat(64) } }, 'bad_target_path'],
  ];
  for (const [path, entry, code] of bad) {
    const signed = { ...projectSigned(), targets: { [path]: entry } };
    // Unsigned, wrong version, expired, outside the delegation: the entry is what is reported.
    const unsigned = candidate({ ...signed, version: 9, expires: expiresAfter(NOW, -DAY) }, []);
    const verifier = fakeVerifier();
    assert.throws(() => upload(unsigned, d, { verifier }), refusedWith(code), `${path} ${JSON.stringify(entry)}`);
    assert.equal(verifier.calls, 0, 'no cryptography for a malformed document');
  }
});

test('upload: a project role may not delegate further (nested_delegation), checked before signatures', () => {
  const d = delegationFor([alice], 1);
  const delegations = { keys: {}, roles: [] };
  const verifier = fakeVerifier();
  assert.throws(() => upload(candidate(projectSigned({ delegations }), []), d, { verifier }), refusedWith('nested_delegation'));
  assert.equal(verifier.calls, 0);
  assert.throws(() => upload(candidate(projectSigned({ delegations }), [alice]), d), refusedWith('nested_delegation'));
  // But a malformed entry is still reported first.
  const both = { ...projectSigned({ delegations }), targets: { 'demo/a': { length: 1, hashes: {} } } };
  assert.throws(() => upload(candidate(both, [alice]), d), refusedWith('malformed'));
});

test('upload: no valid signature by a delegated identity is threshold_not_met, with verdicts', () => {
  const d = delegationFor([alice, bob], 1);
  const signed = projectSigned();
  const bytes = canonicalBytes(signed);
  // Nothing, an outsider, a forged sig under alice's keyid, alice over other bytes.
  const cases: SignatureJson[][] = [
    [],
    [signAs(carol, bytes)],
    [{ keyid: idOf(alice), sig: 'ab'.repeat(32) }],
    [signAs(alice, canonicalBytes({ ...signed, version: 2 }))],
  ];
  for (const signatures of cases) {
    const c = parseMetadata({ signed, signatures }, 'targets');
    assert.throws(
      () => upload(c, d),
      (e: unknown) => isTufError(e, 'threshold_not_met') && Array.isArray(e.details?.verdicts),
      JSON.stringify(signatures),
    );
  }
  const err = (() => {
    try {
      upload(candidate(signed, [carol], [{ keyid: idOf(alice), sig: 'ab' }]), d);
    } catch (e) {
      return e;
    }
    return null;
  })();
  assert.ok(isTufError(err, 'threshold_not_met'));
  assert.deepEqual(err.details?.verdicts, [
    { keyid: idOf(carol), valid: false, reason: 'not_a_key_of_this_role' },
    { keyid: idOf(alice), valid: false, reason: 'bad_signature' },
  ]);
});

test('upload: signatures come before the version, the expiry and the paths', () => {
  const d = delegationFor([alice], 1);
  const everythingWrong = projectSigned({ version: 7, expires: expiresAfter(NOW, -DAY), targets: pkg('other/x.tgz') });
  assert.throws(() => upload(candidate(everythingWrong, []), d, { currentVersion: 1 }), refusedWith('threshold_not_met'));
  assert.throws(() => upload(candidate(everythingWrong, [alice]), d, { currentVersion: 1 }), refusedWith('version_not_next'));
});

test('upload: some but not enough valid signatures is a pending decision (publish = false)', () => {
  const d = delegationFor([alice, bob, carol], 2);
  const c = candidate(projectSigned(), [alice], [{ keyid: idOf(bob), sig: '00' }]);
  const decision = upload(c, d);
  assert.equal(decision.publish, false);
  assert.deepEqual(decision.validKeyids, [idOf(alice)]);
  assert.equal(decision.threshold, 2);
  assert.deepEqual(decision.verdicts, [
    { keyid: idOf(alice), valid: true },
    { keyid: idOf(bob), valid: false, reason: 'bad_signature' },
  ]);
  // A pending version still has to be the next one, unexpired and inside its paths.
  assert.throws(() => upload(candidate(projectSigned({ version: 2 }), [alice]), d), refusedWith('version_not_next'));
  assert.throws(() => upload(candidate(projectSigned({ expires: expiresAfter(NOW, -1) }), [alice]), d), refusedWith('expired'));
  assert.throws(() => upload(candidate(projectSigned({ targets: pkg('other/x') }), [alice]), d), refusedWith('path_not_delegated'));
});

test('upload: the version must be exactly current + 1 (version_not_next), before expiry', () => {
  const d = delegationFor([alice], 1);
  const cases: [number, number | null][] = [
    [2, null], // skip from nothing
    [1, 1], // replay
    [1, 3], // rollback
    [5, 3], // skip
  ];
  for (const [version, currentVersion] of cases) {
    assert.throws(
      () => upload(candidate(projectSigned({ version }), [alice]), d, { currentVersion }),
      refusedWith('version_not_next'),
      `${version} after ${currentVersion}`,
    );
  }
  assert.equal(upload(candidate(projectSigned({ version: 4 }), [alice]), d, { currentVersion: 3 }).publish, true);
  assert.throws(
    () => upload(candidate(projectSigned({ version: 5, expires: expiresAfter(NOW, -DAY) }), [alice]), d, { currentVersion: 3 }),
    refusedWith('version_not_next'),
  );
});

test('upload: expired (at or before now) and expiry_too_far (beyond now + max), before paths', () => {
  const d = delegationFor([alice], 1);
  const at = (seconds: number, targets = pkg()) => candidate(projectSigned({ expires: expiresAfter(NOW, seconds), targets }), [alice]);
  assert.throws(() => upload(at(-DAY), d), refusedWith('expired'));
  assert.throws(() => upload(at(0), d), refusedWith('expired'), 'expiring exactly now is expired');
  assert.equal(upload(at(1), d).publish, true);
  assert.equal(upload(at(MAX_EXPIRY), d).publish, true, 'exactly the maximum is allowed');
  assert.throws(() => upload(at(MAX_EXPIRY + 1), d), refusedWith('expiry_too_far'));
  assert.throws(() => upload(at(10 * 365 * DAY), d), refusedWith('expiry_too_far'));
  // The clock is an argument: the same document expires later on.
  assert.throws(() => upload(at(DAY), d, { now: new Date(NOW.getTime() + 2 * DAY * 1000) }), refusedWith('expired'));
  // Expiry is reported before paths.
  assert.throws(() => upload(at(-DAY, pkg('other/x')), d), refusedWith('expired'));
  assert.throws(() => upload(at(MAX_EXPIRY + 1, pkg('other/x')), d), refusedWith('expiry_too_far'));
});

test('upload: every target must be inside the delegated paths (path_not_delegated)', () => {
  const d = delegationFor([alice], 1);
  for (const path of ['other/demo-1.0.tgz', 'demo/sub/demo-1.0.tgz', 'demox/a', 'sigstore/trusted_root.json']) {
    const targets = { ...pkg(), ...pkg(path) };
    assert.throws(() => upload(candidate(projectSigned({ targets }), [alice]), d), refusedWith('path_not_delegated'), path);
  }
});

test('upload: success publishes, and an empty project role is fine', () => {
  const d = delegationFor([alice, bob], 2);
  const targets = { ...pkg('demo/demo-1.0.tgz'), ...pkg('demo/demo-1.1.tgz') };
  const decision = upload(candidate(projectSigned({ version: 3, targets }), [alice, bob]), d, { currentVersion: 2 });
  assert.equal(decision.publish, true);
  assert.deepEqual(decision.validKeyids.sort(), [idOf(alice), idOf(bob)].sort());
  assert.equal(decision.threshold, 2);
  // Extra junk signatures do not spoil a met threshold.
  const withJunk = candidate(projectSigned({ targets: {} }), [bob, alice], [signAs(carol, Buffer.from('x')), { keyid: 'abcd', sig: '' }]);
  const d1 = upload(withJunk, d);
  assert.equal(d1.publish, true);
  assert.equal(d1.verdicts.length, 4);
});

test('upload with real ed25519 keys (classicKeyVerifier): threshold counts distinct keyids', async () => {
  const [k1, k2, outsider] = [0, 1, 2].map(() => privateKeySigner(generatePrivateKey('ed25519'))) as [Signer, Signer, Signer];
  const top = {
    ...topSigned(),
    delegations: {
      keys: { [k1.keyid]: k1.publicKey, [k2.keyid]: k2.publicKey, [outsider.keyid]: outsider.publicKey } as unknown as JsonObject,
      roles: [
        { name: 'demo', keyids: [k1.keyid, k2.keyid], threshold: 2, paths: ['demo/*'], terminating: true },
        { name: 'other', keyids: [outsider.keyid], threshold: 1, paths: ['other/*'], terminating: true },
      ],
    },
  };
  const d = findDelegation(model(top), 'demo');
  assert.ok(d);
  assert.deepEqual(delegationMaintainers(d), [], 'no identities among ed25519 keys');
  const signed = projectSigned();
  const run = async (signers: Signer[], mutate?: (e: Envelope) => Envelope) => {
    let env = await signEnvelope(signed, signers);
    if (mutate) env = mutate(env);
    return verifyProjectUpload({
      candidate: parseMetadata(env, 'targets'),
      delegation: d,
      currentVersion: null,
      now: NOW,
      verifier: classicKeyVerifier,
      maxExpirySeconds: MAX_EXPIRY,
    });
  };
  await assert.rejects(run([outsider]), refusedWith('threshold_not_met'));
  const one = await run([k1, outsider]);
  assert.equal(one.publish, false);
  assert.deepEqual(one.validKeyids, [k1.keyid]);
  assert.equal((await run([k2, k1])).publish, true);
  // A signature over other bytes under k2's keyid does not count.
  const otherBytes = await signEnvelope({ ...signed, version: 2 }, [k2]);
  const forged = await run([k1], (e) => ({ ...e, signatures: [...e.signatures, otherBytes.signatures[0]!] }));
  assert.equal(forged.publish, false);
  assert.deepEqual(
    forged.verdicts.map((v) => v.valid),
    [true, false],
  );
  // parseMetadata refuses a doubled signature outright; even if one slipped through, k1 twice is one keyid.
  const env = await signEnvelope(signed, [k1]);
  const doubled = { ...env, signatures: [env.signatures[0]!, { ...env.signatures[0]! }] };
  assert.throws(() => parseMetadata(doubled, 'targets'), refusedWith('duplicate_signature'));
  const parsed = parseMetadata(env, 'targets');
  const sneaked: ParsedMetadata<'targets'> = { ...parsed, envelope: doubled };
  const decision = verifyProjectUpload({
    candidate: sneaked,
    delegation: d,
    currentVersion: null,
    now: NOW,
    verifier: classicKeyVerifier,
    maxExpirySeconds: MAX_EXPIRY,
  });
  assert.equal(decision.publish, false);
  assert.deepEqual(decision.validKeyids, [k1.keyid]);
  // Identity keys never verify with the classic verifier: fail closed, no exception.
  const idDelegation = delegationFor([alice], 1);
  assert.throws(
    () =>
      verifyProjectUpload({
        candidate: candidate(signed, [alice]),
        delegation: idDelegation,
        currentVersion: null,
        now: NOW,
        verifier: classicKeyVerifier,
        maxExpirySeconds: MAX_EXPIRY,
      }),
    refusedWith('threshold_not_met'),
  );
});

// ---------------------------------------------------------------------------------------------
// unionSignatures, validSignaturesOnly

test('unionSignatures: merges by keyid (first envelope wins), refuses different signed content', () => {
  const signed = projectSigned();
  const bytes = canonicalBytes(signed);
  const a: Envelope = { signed, signatures: [signAs(alice, bytes), { keyid: idOf(bob), sig: 'from-a' }] };
  const b: Envelope = { signed: structuredClone(signed), signatures: [{ keyid: idOf(bob), sig: 'from-b' }, signAs(carol, bytes)] };
  const merged = unionSignatures(a, b);
  assert.equal(merged.signed, a.signed);
  assert.deepEqual(merged.signatures, [signAs(alice, bytes), { keyid: idOf(bob), sig: 'from-a' }, signAs(carol, bytes)]);
  assert.deepEqual(unionSignatures(a, { signed, signatures: [] }).signatures, a.signatures);
  // Same content in another key order is the same canonical bytes.
  const reordered = Object.fromEntries(Object.entries(signed).reverse()) as JsonObject;
  assert.equal(unionSignatures(a, { signed: reordered, signatures: [] }).signatures.length, 2);
  for (const other of [
    { ...signed, version: 2 },
    { ...signed, targets: {} },
    { ...signed, extra: null },
  ]) {
    assert.throws(() => unionSignatures(a, { signed: other as JsonObject, signatures: [] }), refusedWith('signed_mismatch'));
  }
});

test('validSignaturesOnly: keeps exactly the signatures of the valid keyids, in order', () => {
  const signed = projectSigned();
  const bytes = canonicalBytes(signed);
  const env: Envelope = { signed, signatures: [signAs(alice, bytes), { keyid: idOf(bob), sig: 'junk' }, signAs(carol, bytes)] };
  const kept = validSignaturesOnly(env, [idOf(carol), idOf(alice)]);
  assert.equal(kept.signed, signed);
  assert.deepEqual(kept.signatures, [signAs(alice, bytes), signAs(carol, bytes)]);
  assert.deepEqual(validSignaturesOnly(env, []).signatures, []);
  assert.equal(env.signatures.length, 3, 'input not mutated');
  // With the decision of an upload: a pending envelope carries only what counted.
  const d = delegationFor([alice, bob, carol], 3);
  const c = parseMetadata(env, 'targets');
  const decision = upload(c, d);
  assert.equal(decision.publish, false);
  assert.deepEqual(
    validSignaturesOnly(env, decision.validKeyids).signatures.map((s) => s.keyid),
    [idOf(alice), idOf(carol)],
  );
});

// ---------------------------------------------------------------------------------------------
// Registration

function registration(m: Maintainer, project = 'demo', at = NOW, signer: Maintainer = m) {
  const signed = registrationSigned(project, m, at);
  return { signed, signatures: [signAs(signer, canonicalBytes(signed))] } as unknown as JsonObject & {
    signed: JsonObject;
    signatures: SignatureJson[];
  };
}
const SKEW = 300;
const register = (value: unknown, verifier = fakeIdentityVerifier(), now = NOW) => verifyRegistration(value, now, verifier, SKEW);

test('registrationSigned: the fields in order, time without milliseconds; validates name and identity', () => {
  const signed = registrationSigned('demo', alice, new Date('2026-11-24T12:00:00.789Z'));
  assert.deepEqual(signed, {
    _type: 'registration',
    project: 'demo',
    identity: alice.identity,
    issuer: alice.issuer,
    requested_at: '2026-11-24T12:00:00Z',
  });
  assert.throws(() => registrationSigned('Demo', alice, NOW), refusedWith('bad_role_name'));
  assert.throws(() => registrationSigned('root', alice, NOW), refusedWith('bad_role_name'));
  assert.throws(() => registrationSigned('demo', { ...alice, identity: '' }, NOW), refusedWith('malformed'));
  assert.throws(() => registrationSigned('demo', { ...alice, issuer: 'not a url' }, NOW), refusedWith('malformed'));
});

test('verifyRegistration: accepts a fresh request signed by the identity it names', () => {
  const verifier = fakeIdentityVerifier();
  const req = registration(alice);
  const result = register(req, verifier);
  assert.deepEqual(result, {
    project: 'demo',
    identity: alice.identity,
    issuer: alice.issuer,
    requestedAt: NOW,
    requestSha256: sha256Hex(canonicalBytes(req.signed)),
  });
  assert.equal(verifier.calls, 1);
  // Within the allowed skew either way.
  register(registration(alice, 'demo', new Date(NOW.getTime() - SKEW * 1000)));
  register(registration(alice, 'demo', new Date(NOW.getTime() + SKEW * 1000)));
});

test('verifyRegistration: refuses malformed shapes', () => {
  const good = registration(alice);
  const shapes: unknown[] = [
    null,
    'registration',
    [],
    { signatures: good.signatures },
    { signed: 'x', signatures: good.signatures },
    { signed: good.signed },
    { signed: good.signed, signatures: {} },
    { signed: good.signed, signatures: [] },
    { signed: good.signed, signatures: [good.signatures[0], good.signatures[0]] },
    { signed: good.signed, signatures: [null] },
    { signed: good.signed, signatures: ['sig'] },
    { signed: good.signed, signatures: [{ keyid: idOf(alice) }] },
    { signed: good.signed, signatures: [{ keyid: idOf(alice), sig: 5 }] },
  ];
  for (const value of shapes) {
    const verifier = fakeIdentityVerifier();
    assert.throws(() => register(value, verifier), refusedWith('malformed'), JSON.stringify(value));
    assert.equal(verifier.calls, 0);
  }
});

test('verifyRegistration: refuses missing, ill-typed and extra fields in signed', () => {
  const base = registration(alice);
  const withSigned = (signed: JsonObject) => ({ ...base, signed });
  const variants: JsonObject[] = [
    { ...base.signed, _type: 'targets' },
    { ...base.signed, _type: undefined as never },
    { ...base.signed, project: 1 },
    { ...base.signed, identity: null },
    { ...base.signed, issuer: ['https://issuer.example'] },
    { ...base.signed, requested_at: 1_700_000_000 },
    { ...base.signed, requested_at: '2026-11-24T12:00:00.000Z' },
    { ...base.signed, requested_at: '2026-11-24T12:00:00' },
    { ...base.signed, requested_at: '2026-13-24T12:00:00Z' },
    { ...base.signed, identity: 'alice @example.com' },
    { ...base.signed, issuer: 'accounts.example' },
    { ...base.signed, extra: 'x' },
    { ...base.signed, threshold: 1 },
  ];
  for (const signed of variants) {
    for (const k of Object.keys(signed)) if (signed[k] === undefined) delete signed[k];
    assert.throws(() => register(withSigned(signed)), refusedWith('malformed'), JSON.stringify(signed));
  }
  // An own "__proto__" key (as JSON.parse makes it) is an extra field too.
  const parsed = JSON.parse(JSON.stringify(base).replace('"_type"', '"__proto__":{},"_type"'));
  assert.throws(() => register(parsed), refusedWith('malformed'));
  assert.throws(() => register(withSigned({ ...base.signed, project: 'Demo' })), refusedWith('bad_role_name'));
});

test("verifyRegistration: refuses a request too far from the server's time (stale_request)", () => {
  const verifier = fakeIdentityVerifier();
  for (const offset of [-(SKEW + 1), SKEW + 1, -DAY, 365 * DAY]) {
    const req = registration(alice, 'demo', new Date(NOW.getTime() + offset * 1000));
    assert.throws(() => register(req, verifier), refusedWith('stale_request'), String(offset));
  }
  assert.equal(verifier.calls, 0, 'refused before any signature is checked');
  // The same request is fine once the server's clock is near it.
  register(registration(alice, 'demo', new Date(NOW.getTime() - DAY * 1000)), fakeIdentityVerifier(), new Date(NOW.getTime() - DAY * 1000));
});

test('verifyRegistration: refuses a signature by another identity, or over other bytes (threshold_not_met)', () => {
  // Signed by bob, naming alice.
  assert.throws(() => register(registration(alice, 'demo', NOW, bob)), refusedWith('threshold_not_met'));
  // Alice's signature, with the claim changed to another project or to bob.
  const req = registration(alice);
  assert.throws(() => register({ ...req, signed: { ...req.signed, project: 'other' } }), refusedWith('threshold_not_met'));
  assert.throws(() => register({ ...req, signed: { ...req.signed, identity: bob.identity } }), refusedWith('threshold_not_met'));
  // Same identity at another issuer is another key.
  assert.throws(() => register({ ...req, signed: { ...req.signed, issuer: 'https://other.example' } }), refusedWith('threshold_not_met'));
  // A keyid in the signature does not choose the key: it is always the named identity's.
  const bobs = registration(bob);
  assert.throws(
    () => register({ ...bobs, signatures: [{ ...bobs.signatures[0]!, keyid: idOf(alice) }], signed: req.signed }),
    refusedWith('threshold_not_met'),
  );
  assert.throws(() => register({ ...req, signatures: [{ ...req.signatures[0]!, sig: 'ab' }] }), refusedWith('threshold_not_met'));
  // The refusal says who should have signed (users read this).
  assert.throws(
    () => register(registration(alice, 'demo', NOW, bob)),
    (e: unknown) => isTufError(e) && e.message.includes(alice.identity) && e.message.includes(alice.issuer),
  );
});

// ---------------------------------------------------------------------------------------------
// changedDelegations, resignReason

test('changedDelegations: names roles whose identities, threshold or paths changed, and only those', () => {
  let v1 = withDelegation(topSigned(1), 'demo', [alice, bob], 1);
  v1 = withDelegation(v1, 'other', [carol], 1);
  v1 = withDelegation(v1, 'third', [alice], 1);
  const before = model(v1);
  assert.deepEqual(changedDelegations(null, before), ['demo', 'other', 'third'], 'from nothing, every role is new');
  assert.deepEqual(changedDelegations(before, before), []);
  // Unrelated changes: version, expiry, top-level targets.
  const bumped = { ...v1, version: 2, expires: expiresAfter(NOW, 100 * DAY), targets: pkg('sigstore/other.json') as unknown as JsonObject };
  assert.deepEqual(changedDelegations(before, model(bumped)), []);
  // Rewriting a delegation identically is no change.
  assert.deepEqual(changedDelegations(before, model(withDelegation(v1, 'demo', [alice, bob], 1))), []);
  // Listing the same keyids in another order is no change.
  assert.deepEqual(changedDelegations(before, model(withDelegation(v1, 'demo', [bob, alice], 1))), []);

  assert.deepEqual(changedDelegations(before, model(withDelegation(v1, 'demo', [alice, bob, carol], 1))), ['demo'], 'identity added');
  assert.deepEqual(changedDelegations(before, model(withDelegation(v1, 'demo', [alice], 1))), ['demo'], 'identity removed');
  assert.deepEqual(changedDelegations(before, model(withDelegation(v1, 'demo', [alice, bob], 2))), ['demo'], 'threshold');
  assert.deepEqual(changedDelegations(before, model(withoutDelegation(v1, 'other'))), ['other'], 'role removed');
  assert.deepEqual(changedDelegations(before, model(withDelegation(v1, 'new', [bob], 1))), ['new'], 'role added');
  const paths = structuredClone(v1);
  (paths.delegations as { roles: JsonObject[] }).roles.find((r) => r.name === 'third')!.paths = ['third/*', 'shared/*'];
  assert.deepEqual(changedDelegations(before, model(paths)), ['third'], 'paths');
  // Several at once, sorted.
  let many = withDelegation(v1, 'third', [bob], 1);
  many = withDelegation(many, 'demo', [alice, bob], 2);
  assert.deepEqual(changedDelegations(before, model(many)), ['demo', 'third']);
});

test('changedDelegations: the same keyid with other key content is a change', () => {
  const v1 = withDelegation(topSigned(), 'demo', [alice], 1);
  const v2 = structuredClone(v1);
  // Keyids are taken as given when reading: a new key under the old keyid must not go unnoticed.
  (v2.delegations as { keys: Record<string, JsonObject> }).keys[idOf(alice)] = identityKey(
    'mallory@example.com',
    ISSUER,
  ) as unknown as JsonObject;
  assert.deepEqual(changedDelegations(model(v1), model(v2)), ['demo']);
});

test('changedDelegations: a change of path_hash_prefixes is a change of paths', () => {
  const byPrefix = (prefixes: string[]) => {
    const signed = withDelegation(topSigned(), 'demo', [alice], 1);
    const role = (signed.delegations as { roles: JsonObject[] }).roles[0]!;
    delete role.paths;
    role.path_hash_prefixes = prefixes;
    return model(signed);
  };
  // tuf-js (and resignReason) see different delegated paths...
  const target = 'demo/demo-1.0.tgz';
  const prefix = sha256Hex(Buffer.from(target)).slice(0, 2);
  const other = prefix === '00' ? '01' : '00';
  assert.equal(findDelegation(byPrefix([prefix]), 'demo')!.isDelegatedPath(target), true);
  assert.equal(findDelegation(byPrefix([other]), 'demo')!.isDelegatedPath(target), false);
  // ...so the review after a new targets version must look at this role.
  assert.deepEqual(changedDelegations(byPrefix([prefix]), byPrefix([other])), ['demo']);
});

test('resignReason: null while the published role meets its delegation; otherwise why not', () => {
  const v1 = withDelegation(topSigned(), 'demo', [alice, bob], 1);
  const role = candidate(projectSigned({ version: 4 }), [alice]);
  const verifier = fakeVerifier();
  assert.equal(resignReason(role, findDelegation(model(v1), 'demo')!, verifier), null);
  // Threshold raised: 1 valid of 2 required.
  const raised = findDelegation(model(withDelegation(v1, 'demo', [alice, bob], 2)), 'demo')!;
  const reason = resignReason(role, raised, verifier);
  assert.ok(reason);
  assert.match(reason, /^v4 /);
  assert.match(reason, /1 valid signature\(s\) of the 2 now required/);
  // The signer removed: 0 valid.
  const replaced = findDelegation(model(withDelegation(v1, 'demo', [bob, carol], 1)), 'demo')!;
  assert.match(resignReason(role, replaced, verifier) ?? '', /0 valid signature\(s\) of the 1 now required/);
  // Paths narrowed: the listed targets fall outside.
  const narrowed = structuredClone(v1);
  (narrowed.delegations as { roles: JsonObject[] }).roles[0]!.paths = ['demo/sub/*'];
  const outside = resignReason(role, findDelegation(model(narrowed), 'demo')!, verifier);
  assert.ok(outside);
  assert.match(outside, /outside the delegated paths/);
  assert.ok(outside.includes('demo/demo-1.0.tgz'));
});
