// verifyProjectUpload: a new version of a project role against its delegation (TAP 18), with its
// refusals in a fixed order. Fake identity signatures (delegationsHelpers.ts), and real ed25519 keys.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { canonicalBytes, type JsonObject } from '../../core/canonical.ts';
import { delegationMaintainers, findDelegation, verifyProjectUpload } from '../../core/delegations.ts';
import { isTufError, type TufErrorCode } from '../../core/errors.ts';
import { generatePrivateKey } from '../../core/keys.ts';
import { expiresAfter, parseMetadata, signEnvelope, type Envelope, type ParsedMetadata, type SignatureJson } from '../../core/metadata.ts';
import { privateKeySigner, type Signer } from '../../core/signer.ts';
import { classicKeyVerifier } from '../../core/verify.ts';
import {
  NOW,
  DAY,
  MAX_EXPIRY,
  alice,
  bob,
  carol,
  idOf,
  refusedWith,
  signAs,
  fakeVerifier,
  topSigned,
  model,
  delegationFor,
  pkg,
  projectSigned,
  candidate,
  upload,
} from './delegationsHelpers.ts';

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
