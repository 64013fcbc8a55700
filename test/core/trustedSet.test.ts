// The client's trusted metadata set (core/trustedSet.ts), without network or database: each
// attack of the TUF threat model it must refuse, the root rotation chain, thresholds, names that
// would find Object.prototype's members in a plain `{}` lookup, and real identity signatures.
// Delegation walks are in trustedSetWalk.test.ts, scale in trustedSetScale.test.ts.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { JsonObject } from '../../core/canonical.ts';
import { isTrustError, TrustedSet, type TrustErrorCode } from '../../core/trustedSet.ts';
import {
  chain,
  code,
  delegations,
  envelope,
  fixture,
  FUTURE,
  loaded,
  newKey,
  PAST,
  rootSigned,
  search,
  sign,
  targetEntry,
  targetsSigned,
  timestampSigned,
} from './trustedSetHelpers.ts';

test('the whole chain loads and a target is found in top-level targets', () => {
  const f = fixture();
  const file = Buffer.from('hello');
  const targets = envelope(targetsSigned(1, { 'hello.txt': targetEntry(file) }), [f.k.targets]);
  const set = loaded(f, targets);
  const { asked, found } = search(set, {}, 'hello.txt');
  assert.deepEqual(asked, []);
  assert.equal(found?.role, 'targets');
  assert.equal(found?.target.length, 5);
  assert.deepEqual(
    found?.target.hashes.map(([alg]) => alg),
    ['sha256'],
  );
  assert.equal(search(set, {}, 'other.txt').found, null);
});

test('order is enforced: nothing loads before what it depends on, and root not after timestamp', () => {
  const f = fixture();
  const targets = envelope(targetsSigned(1, {}), [f.k.targets]);
  const { snapshot, timestamp } = chain(f, { targets: { bytes: targets } });
  const set = new TrustedSet(f.root);
  assert.throws(() => set.updateSnapshot(snapshot), code('wrong_order'));
  assert.throws(() => set.updateTargets(targets), code('wrong_order'));
  set.updateTimestamp(timestamp);
  assert.throws(() => set.updateRoot(envelope(rootSigned(2, f.roles), [f.k.root])), code('wrong_order'));
  set.updateSnapshot(snapshot);
  set.updateTargets(targets);
  assert.throws(() => set.updateSnapshot(snapshot), code('wrong_order'));
});

test('root rotation: a chain of versions, each signed by the previous threshold and its own', () => {
  const f = fixture();
  const [b, c, d] = [newKey(), newKey('ecdsa'), newKey()];
  const set = new TrustedSet(f.root);
  // v2: root keys original + b + c, threshold 2, signed by v1's key and one more of v2's.
  const v2 = rootSigned(2, { ...f.roles, root: [f.k.root, b, c] }, { thresholds: { root: 2 } });
  assert.throws(() => set.updateRoot(envelope(v2, [f.k.root])), code('threshold_not_met'), 'only one of the two v2 requires');
  assert.throws(
    () => set.updateRoot(envelope(v2, [b, c])),
    (e) => isTrustError(e, 'threshold_not_met') && /root was signed by 0\/1 keys/.test(e.message),
    'not by v1',
  );
  set.updateRoot(envelope(v2, [f.k.root, b]));
  assert.equal(set.root.version, 2);
  // v3 replaces every key: signed by 2 of v2's and by its own.
  const v3 = rootSigned(3, { ...f.roles, root: [d] });
  assert.throws(() => set.updateRoot(envelope(v3, [d])), code('threshold_not_met'), 'only the new key');
  assert.throws(() => set.updateRoot(envelope(v3, [b, c])), code('threshold_not_met'), 'only the old keys');
  // TUF 5.3.5: exactly N+1: a skip or a replay is refused even when well signed.
  assert.throws(
    () => set.updateRoot(envelope(rootSigned(4, { ...f.roles, root: [b, c] }, { thresholds: { root: 2 } }), [b, c])),
    code('bad_version'),
  );
  assert.throws(() => set.updateRoot(envelope(v2, [f.k.root, b, c])), code('bad_version'));
  set.updateRoot(envelope(v3, [b, c, d]));
  assert.equal(set.root.version, 3);
  assert.deepEqual([...set.root.roles.get('root')!.keyids], [d.keyid]);
});

test('an expired intermediate root is fine; an expired final root stops the update', () => {
  const f = fixture();
  const set = new TrustedSet(envelope(rootSigned(1, f.roles, { expires: PAST }), [f.k.root]));
  set.updateRoot(envelope(rootSigned(2, f.roles, { expires: PAST }), [f.k.root]));
  const { timestamp } = chain(f, { targets: { bytes: envelope(targetsSigned(1, {}), [f.k.targets]) } });
  assert.throws(
    () => set.updateTimestamp(timestamp),
    (e) => isTrustError(e, 'expired') && /root/.test(e.message),
  );
});

test('threshold: distinct keyids of the role, each verified; duplicates and strangers do not count', () => {
  const f = fixture();
  const [a, b, stranger] = [newKey(), newKey('ecdsa'), newKey()];
  const roles = { ...f.roles, timestamp: [a, b] };
  const set = new TrustedSet(envelope(rootSigned(1, roles, { thresholds: { timestamp: 2 } }), [f.k.root]));
  const signed = timestampSigned(1, { version: 1 });
  assert.throws(
    () => set.updateTimestamp(envelope(signed, [a])),
    (e) => isTrustError(e, 'threshold_not_met') && /timestamp was signed by 1\/2 keys/.test(e.message),
  );
  assert.throws(() => set.updateTimestamp(envelope(signed, [a, stranger])), code('threshold_not_met'));
  // The same key's signature twice: refused outright, not counted twice.
  assert.throws(() => set.updateTimestamp(envelope(signed, [a], [sign(signed, a)])), code('malformed'));
  // A signature by a's key over other bytes, under b's keyid.
  const other = { ...sign(timestampSigned(2, { version: 1 }), b) };
  assert.throws(() => set.updateTimestamp(envelope(signed, [a], [other])), code('threshold_not_met'));
  // b's keyid carrying a's (valid) signature: verified against b's key, so it fails.
  assert.throws(
    () => set.updateTimestamp(envelope(signed, [a], [{ keyid: b.keyid, sig: sign(signed, a).sig }])),
    code('threshold_not_met'),
  );
  set.updateTimestamp(envelope(signed, [a, b]));
  assert.equal(set.timestamp?.version, 1);
});

test('rollback: older timestamp, older snapshot in timestamp, older or dropped roles in snapshot', () => {
  const f = fixture();
  const targets = envelope(targetsSigned(2, {}), [f.k.targets]);
  const proj = envelope(targetsSigned(3, {}), [f.k.targets]);
  const current = chain(f, { targets: { bytes: targets, version: 2 }, proj: { bytes: proj, version: 3 } }, { ts: 5, snap: 5 });
  const fresh = () => {
    const set = new TrustedSet(f.root);
    set.updateTimestamp(current.timestamp);
    return set;
  };
  // TUF 5.4.3.1
  assert.throws(
    () => fresh().updateTimestamp(chain(f, { targets: { bytes: targets } }, { ts: 4, snap: 5 }).timestamp),
    (e) => isTrustError(e, 'bad_version') && /less than current version/.test(e.message),
  );
  assert.throws(() => fresh().updateTimestamp(current.timestamp), code('equal_version'));
  // TUF 5.4.3.2
  assert.throws(
    () => fresh().updateTimestamp(chain(f, { targets: { bytes: targets } }, { ts: 6, snap: 4 }).timestamp),
    code('bad_version'),
  );
  const older = chain(f, { targets: { bytes: targets, version: 2 }, proj: { bytes: proj, version: 2 } }, { ts: 6, snap: 6 });
  const dropped = chain(f, { targets: { bytes: targets, version: 2 } }, { ts: 6, snap: 6 });
  const newer = chain(f, { targets: { bytes: targets, version: 2 }, proj: { bytes: proj, version: 4 } }, { ts: 6, snap: 6 });
  // The client's real sequence: old timestamp (v5) and old snapshot (v5) from disk, a new timestamp (v6).
  for (const [what, next, expected] of [
    ['older role', older, 'bad_version'],
    ['dropped role', dropped, 'missing_meta'],
  ] as const) {
    const set = new TrustedSet(f.root);
    set.updateTimestamp(current.timestamp);
    set.updateTimestamp(next.timestamp);
    // The local snapshot v5 is not final under timestamp v6 (5.5.4) but is kept for 5.5.5.
    assert.throws(() => set.updateSnapshot(current.snapshot, { trusted: true }), code('bad_version'));
    assert.throws(() => set.updateSnapshot(next.snapshot), code(expected), what);
  }
  const set = new TrustedSet(f.root);
  set.updateTimestamp(current.timestamp);
  set.updateTimestamp(newer.timestamp);
  assert.throws(() => set.updateSnapshot(current.snapshot, { trusted: true }), code('bad_version'));
  assert.equal(set.updateSnapshot(newer.snapshot).version, 6);
});

test('freeze: expired timestamp, snapshot or targets is refused, even when validly signed', () => {
  const f = fixture();
  const targets = envelope(targetsSigned(1, {}), [f.k.targets]);
  const stale = chain(f, { targets: { bytes: targets } }, { tsExpires: PAST });
  const set = new TrustedSet(f.root);
  assert.throws(
    () => set.updateTimestamp(stale.timestamp),
    (e) => isTrustError(e, 'expired') && /timestamp/.test(e.message),
  );
  // Kept as intermediate (a floor for the next one), but nothing loads under it.
  assert.equal(set.timestamp?.version, 1);
  assert.throws(() => set.updateSnapshot(stale.snapshot), code('expired'));
  const staleSnapshot = chain(f, { targets: { bytes: targets } }, { snapExpires: PAST });
  const s2 = new TrustedSet(f.root);
  s2.updateTimestamp(staleSnapshot.timestamp);
  assert.throws(
    () => s2.updateSnapshot(staleSnapshot.snapshot),
    (e) => isTrustError(e, 'expired') && /snapshot/.test(e.message),
  );
  assert.throws(() => s2.updateTargets(targets), code('expired'));
  const oldTargets = envelope(targetsSigned(1, {}, { expires: PAST }), [f.k.targets]);
  assert.throws(
    () => loaded(f, oldTargets),
    (e) => isTrustError(e, 'expired') && /targets/.test(e.message),
  );
  // The reference time is fixed at the start (TUF 5.1).
  const early = new TrustedSet(f.root, { referenceTime: new Date('2000-01-01T00:00:00Z') });
  early.updateTimestamp(stale.timestamp);
  assert.equal(early.referenceTime.toISOString(), '2000-01-01T00:00:00.000Z');
});

test('mix-and-match: snapshot or role bytes other than the ones timestamp and snapshot name', () => {
  const f = fixture();
  const targets = envelope(targetsSigned(1, {}), [f.k.targets]);
  const a = chain(f, { targets: { bytes: targets } }, { ts: 1, snap: 1 });
  const b = chain(f, { targets: { bytes: targets } }, { ts: 2, snap: 2 });
  const set = new TrustedSet(f.root);
  set.updateTimestamp(b.timestamp);
  // TUF 5.5.2: other bytes than timestamp's hash and length.
  assert.throws(
    () => set.updateSnapshot(a.snapshot),
    (e) => isTrustError(e, 'length_or_hash_mismatch') && /snapshot\.json/.test(e.message),
  );
  // TUF 5.5.4 without hashes to catch it: the version decides.
  const bare = chain(f, { targets: { bytes: targets } }, { ts: 2, snap: 2, bare: true });
  const s2 = new TrustedSet(f.root);
  s2.updateTimestamp(bare.timestamp);
  assert.throws(
    () => s2.updateSnapshot(a.snapshot),
    (e) => isTrustError(e, 'bad_version') && /timestamp/.test(e.message),
  );
  // TUF 5.6.2 and 5.6.4: targets other than snapshot names.
  const other = envelope(targetsSigned(2, {}), [f.k.targets]);
  const s3 = new TrustedSet(f.root);
  s3.updateTimestamp(a.timestamp);
  s3.updateSnapshot(a.snapshot);
  assert.throws(() => s3.updateTargets(other), code('length_or_hash_mismatch'));
  const bareChain = chain(f, { targets: { bytes: targets } }, { bare: true });
  const s4 = new TrustedSet(f.root);
  s4.updateTimestamp(bareChain.timestamp);
  s4.updateSnapshot(bareChain.snapshot);
  assert.throws(
    () => s4.updateTargets(other),
    (e) => isTrustError(e, 'bad_version') && /does not match snapshot version/.test(e.message),
  );
});

test('snapshot entries with only a version (no length, no hashes) load and are held to that version', () => {
  const f = fixture();
  const targets = envelope(targetsSigned(1, {}, { delegations: delegations([{ name: 'proj', keys: [f.k.targets], paths: ['proj/*'] }]) }), [
    f.k.targets,
  ]);
  const proj = envelope(targetsSigned(4, { 'proj/a': targetEntry(Buffer.from('a')) }), [f.k.targets]);
  const { snapshot, timestamp } = chain(f, { targets: { bytes: targets }, proj: { bytes: proj, version: 4 } }, { bare: true });
  const set = new TrustedSet(f.root);
  set.updateTimestamp(timestamp);
  assert.equal(set.timestamp?.snapshotMeta.length, null);
  set.updateSnapshot(snapshot);
  assert.deepEqual(set.snapshot?.meta.get('proj.json'), { version: 4, length: null, hashes: [] });
  set.updateTargets(targets);
  assert.equal(search(set, { proj }, 'proj/a').found?.role, 'proj');
  const wrong = new TrustedSet(f.root);
  wrong.updateTimestamp(timestamp);
  wrong.updateSnapshot(snapshot);
  wrong.updateTargets(targets);
  assert.throws(() => search(wrong, { proj: envelope(targetsSigned(3, {}), [f.k.targets]) }, 'proj/a'), code('bad_version'));
});
test('names like constructor and __proto__ are ordinary names: roles, targets, keyids, meta', () => {
  const f = fixture();
  // Written as JSON text: an object literal's `__proto__:` would set a prototype, not a key.
  const key = newKey('ed25519', '__proto__');
  const names = ['constructor', '__proto__', 'toString', 'hasOwnProperty'];
  const dels = delegations(names.map((name) => ({ name, keys: [key], paths: [`${name}/*`] })));
  const topSigned = JSON.parse(JSON.stringify(targetsSigned(1, {}, { delegations: dels }))) as JsonObject;
  const top = envelope(topSigned, [f.k.targets]);
  // Null prototype: assigning roles['__proto__'] on a `{}` would set its prototype instead.
  const roles = Object.create(null) as Record<string, Buffer>;
  for (const name of names) {
    const targets = JSON.parse(
      `{"${name}/file": ${JSON.stringify(targetEntry(Buffer.from(name)))}, "__proto__": ${JSON.stringify(targetEntry(Buffer.from('p')))}}`,
    ) as JsonObject;
    roles[name] = envelope(targetsSigned(1, targets as Record<string, JsonObject>), [key]);
  }
  const set = loaded(f, top, roles);
  assert.deepEqual([...set.snapshot!.meta.keys()].sort(), [
    '__proto__.json',
    'constructor.json',
    'hasOwnProperty.json',
    'targets.json',
    'toString.json',
  ]);
  for (const name of names) {
    const { asked, found } = search(set, roles, `${name}/file`);
    assert.deepEqual(asked, [name]);
    assert.equal(found?.role, name);
    assert.equal(found?.target.length, name.length);
  }
  // A target that exists in no role is absent, whatever Object.prototype holds.
  for (const path of ['constructor', 'toString', 'valueOf', 'hasOwnProperty']) assert.equal(search(set, roles, path).found, null, path);
  // "__proto__" is listed by top-level targets? No: by the delegated roles only, which no path reaches.
  assert.equal(search(set, roles, '__proto__').found, null);
  const topWithProto = envelope(
    JSON.parse(
      `{"_type":"targets","spec_version":"1.0.31","version":1,"expires":"${FUTURE}","targets":{"__proto__":${JSON.stringify(targetEntry(Buffer.from('p')))}}}`,
    ) as JsonObject,
    [f.k.targets],
  );
  assert.equal(search(loaded(f, topWithProto), {}, '__proto__').found?.target.length, 1);
  // A role not in snapshot, named after an Object.prototype member, is missing, not found.
  const s = loaded(f, top, {});
  const ctor: string = 'constructor';
  assert.throws(() => s.updateDelegatedTargets(roles[ctor]!, ctor, 'targets'), code('missing_meta'));
});

test('malformed metadata is refused before it can be trusted', () => {
  const f = fixture();
  const bad = (signed: JsonObject) => envelope(signed, [f.k.targets]);
  const refuse = (bytes: Buffer, c: TrustErrorCode) => assert.throws(() => loaded(f, bytes), code(c), bytes.toString().slice(0, 200));
  refuse(Buffer.from('{not json'), 'malformed');
  refuse(bad({ ...targetsSigned(1, {}), _type: 'snapshot' }), 'wrong_type');
  refuse(bad({ ...targetsSigned(1, {}), spec_version: '2.0.0' }), 'unsupported_spec_version');
  refuse(bad({ ...targetsSigned(1, {}), version: 0 }), 'malformed');
  refuse(bad({ ...targetsSigned(1, {}), expires: 'tomorrow' }), 'malformed');
  refuse(bad(targetsSigned(1, { x: { length: 1, hashes: {} } })), 'malformed');
  refuse(bad(targetsSigned(1, { x: { length: -1, hashes: { sha256: 'aa' } } })), 'malformed');
  const key = newKey();
  refuse(
    bad(
      targetsSigned(
        1,
        {},
        {
          delegations: delegations([
            { name: 'a', keys: [key], paths: ['a/*'] },
            { name: 'a', keys: [key], paths: ['b/*'] },
          ]),
        },
      ),
    ),
    'malformed',
  );
  refuse(bad(targetsSigned(1, {}, { delegations: delegations([{ name: 'snapshot', keys: [key], paths: ['a/*'] }]) })), 'malformed');
  refuse(
    bad(targetsSigned(1, {}, { delegations: delegations([{ name: 'a', keys: [key], paths: ['a/*'], path_hash_prefixes: ['00'] }]) })),
    'malformed',
  );
  refuse(
    bad(targetsSigned(1, {}, { delegations: delegations([{ name: 'a', keys: [key], keyids: [key.keyid, key.keyid], paths: ['a/*'] }]) })),
    'malformed',
  );
  refuse(bad(targetsSigned(1, {}, { delegations: delegations([{ name: 'a', keys: [key], threshold: 0, paths: ['a/*'] }]) })), 'malformed');
  assert.throws(
    () => new TrustedSet(envelope({ ...rootSigned(1, f.roles), roles: { root: { keyids: [f.k.root.keyid], threshold: 1 } } }, [f.k.root])),
    code('malformed'),
  );
});

test('a root with sigstore-oidc keys verifies through the identity verifier only (tuf-on-ci fixtures)', async () => {
  const fs = await import('node:fs');
  const path = await import('node:path');
  const { IdentitySignatureVerifier } = await import('../../core/identity.ts');
  const { publicGoodTrustedRoot } = await import('../../core/publicGoodTrustedRoot.ts');
  const dir = path.join(import.meta.dirname, '..', 'fixtures', 'tuf-on-ci');
  const read = (n: string) => fs.readFileSync(path.join(dir, n));
  const verifier = new IdentitySignatureVerifier(publicGoodTrustedRoot());
  const set = new TrustedSet(read('1.root.json'), { verifier });
  set.updateRoot(read('2.root.json'));
  set.updateRoot(read('3.root.json')); // a rotation to a new identity key, signed by both
  assert.equal(set.root.version, 3);
  // Without the identity verifier nothing of it verifies.
  assert.throws(
    () => new TrustedSet(read('1.root.json')),
    (e) => isTrustError(e, 'threshold_not_met') && /root was signed by 0\/1 keys/.test(e.message),
  );
  // One byte of `signed` changed: the genuine signature no longer covers it.
  const doc = JSON.parse(read('2.root.json').toString());
  doc.signed['x-tuf-on-ci-signing-period'] += 1;
  const s2 = new TrustedSet(read('1.root.json'), { verifier });
  assert.throws(() => s2.updateRoot(Buffer.from(JSON.stringify(doc))), code('threshold_not_met'));
  // The signature copied onto other bytes (version 2's onto a root v2 with other content).
  const copied = JSON.parse(read('2.root.json').toString());
  copied.signed.expires = '2030-01-01T00:00:00Z';
  assert.throws(() => s2.updateRoot(Buffer.from(JSON.stringify(copied))), code('threshold_not_met'));
});
