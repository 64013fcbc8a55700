// Scale: a snapshot of 100,000 roles and a top-level targets with 10,000 delegations load through
// the trusted set, and load correctly. Timing is printed, never asserted (machine load varies).
// @tufjs/models builds the same maps with an object spread per entry (quadratic): it is timed on
// 2,000 entries here, and on the full sizes with TUF_SCALE_COMPARE=1 (minutes to an hour).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Snapshot, Targets } from '@tufjs/models';
import type { JsonObject } from '../../core/canonical.ts';
import { identityKey } from '../../core/identity.ts';
import { TrustedSet } from '../../core/trustedSet.ts';
import {
  delegations,
  dict,
  envelope,
  metaFor,
  newKey,
  rootSigned,
  snapshotSigned,
  targetEntry,
  targetsSigned,
  timestampSigned,
  type MetaJson,
} from './trustedSetHelpers.ts';

const ROLES = 100_000;
const DELEGATIONS = 10_000;
const FULL_COMPARE = process.env.TUF_SCALE_COMPARE === '1';

const ms = (start: number) => `${(performance.now() - start).toFixed(0)} ms`;
const log = (line: string) => console.log(`scale: ${line}`);

const k = { root: newKey(), timestamp: newKey(), snapshot: newKey(), targets: newKey(), last: newKey() };
const root = envelope(rootSigned(1, { root: [k.root], timestamp: [k.timestamp], snapshot: [k.snapshot], targets: [k.targets] }), [k.root]);
const HASH = 'ab'.repeat(32);

function snapshotMeta(count: number, bump = 0): Record<string, MetaJson> {
  const meta = dict<MetaJson>();
  for (let i = 0; i < count; i++) {
    // Every third entry gives only its version, as the specification allows.
    meta[`proj${i}.json`] =
      i % 3 === 0 ? { version: 1 + (i % 7) + bump } : { version: 1 + (i % 7) + bump, length: 1000 + i, hashes: { sha256: HASH } };
  }
  return meta;
}

function delegationsSigned(count: number): JsonObject {
  // As the server writes them: one identity key per project, `NAME/*`, terminating. The last one
  // is delegated to an ordinary key so that the test can load it.
  const roles = Array.from({ length: count }, (_, i) => ({
    name: `p${i}`,
    keys: i === count - 1 ? [k.last] : [identityKey(`maintainer${i}@example.com`, 'https://issuer.example')],
    paths: [`p${i}/*`],
    terminating: true,
  }));
  return targetsSigned(1, { 'top.txt': targetEntry(Buffer.from('top')) }, { delegations: delegations(roles) });
}

test(`a snapshot of ${ROLES} roles and targets with ${DELEGATIONS} delegations load, with rollback checks over every entry`, () => {
  let start = performance.now();
  const targets = envelope(delegationsSigned(DELEGATIONS), [k.targets]);
  const last = envelope(targetsSigned(1, { [`p${DELEGATIONS - 1}/file.tgz`]: targetEntry(Buffer.from('file')) }), [k.last]);
  const meta1 = snapshotMeta(ROLES);
  meta1['targets.json'] = metaFor(1, targets);
  meta1[`p${DELEGATIONS - 1}.json`] = metaFor(1, last, true);
  const snap1 = envelope(snapshotSigned(1, meta1), [k.snapshot]);
  const meta2 = snapshotMeta(ROLES, 1);
  meta2['targets.json'] = meta1['targets.json']!;
  meta2[`p${DELEGATIONS - 1}.json`] = meta1[`p${DELEGATIONS - 1}.json`]!;
  const snap2 = envelope(snapshotSigned(2, meta2), [k.snapshot]);
  const ts1 = envelope(timestampSigned(1, metaFor(1, snap1)), [k.timestamp]);
  const ts2 = envelope(timestampSigned(2, metaFor(2, snap2, true)), [k.timestamp]);
  log(`built in ${ms(start)}: snapshot ${(snap1.length / 1e6).toFixed(1)} MB, targets ${(targets.length / 1e6).toFixed(1)} MB`);

  const set = new TrustedSet(root);
  set.updateTimestamp(ts1);
  start = performance.now();
  const snapshot = set.updateSnapshot(snap1);
  log(`trusted set: snapshot with ${snapshot.meta.size} entries loaded in ${ms(start)}`);
  assert.equal(snapshot.meta.size, ROLES + 2);
  assert.deepEqual(snapshot.meta.get('proj0.json'), { version: 1, length: null, hashes: [] });
  assert.deepEqual(snapshot.meta.get('proj99998.json'), { version: 1 + (99_998 % 7), length: 1000 + 99_998, hashes: [['sha256', HASH]] });

  start = performance.now();
  const top = set.updateTargets(targets);
  log(`trusted set: targets with ${top.delegations?.roles?.length} delegations loaded in ${ms(start)}`);
  assert.equal(top.delegations?.roles?.length, DELEGATIONS);
  assert.equal(top.delegations?.keys.size, DELEGATIONS);
  assert.equal(top.delegations?.roleFor('p5000')?.threshold, 1);

  start = performance.now();
  const walk = set.searchTarget(`p${DELEGATIONS - 1}/file.tgz`);
  const need = walk.next();
  log(`trusted set: first walk over ${DELEGATIONS} delegations to the last one in ${ms(start)}`);
  assert.deepEqual(need.value, { role: `p${DELEGATIONS - 1}`, delegator: 'targets' });
  set.updateDelegatedTargets(last, `p${DELEGATIONS - 1}`, 'targets');
  const found = walk.next();
  assert.equal(found.done, true);
  assert.equal(found.value && 'target' in found.value ? found.value.role : null, `p${DELEGATIONS - 1}`);
  start = performance.now();
  const again = set.searchTarget('p5000/other.tgz').next();
  log(`trusted set: a second walk (patterns compiled) in ${ms(start)}`);
  assert.deepEqual(again.value, { role: 'p5000', delegator: 'targets' });
  const nowhere = set.searchTarget('unlisted/x').next();
  assert.equal(nowhere.done, true);
  assert.equal(nowhere.value, null);

  // TUF 5.5.5 over 100,000 entries: the next snapshot checked against the trusted one.
  const next = new TrustedSet(root);
  next.updateTimestamp(ts1);
  next.updateTimestamp(ts2);
  // The snapshot kept from before is not final under timestamp v2, but stays as the floor.
  assert.throws(() => next.updateSnapshot(snap1, { trusted: true }), /doesn't match timestamp/);
  start = performance.now();
  next.updateSnapshot(snap2);
  log(`trusted set: snapshot v2 loaded with rollback checks against v1 (${ROLES} entries) in ${ms(start)}`);
  assert.equal(next.snapshot?.meta.get('proj0.json')?.version, 2);
});

test('for comparison: @tufjs/models on the same documents (printed only)', () => {
  const small = 2_000;
  const sizes = FULL_COMPARE ? [small, ROLES] : [small];
  for (const n of sizes) {
    const meta = snapshotMeta(n);
    const signed = snapshotSigned(1, meta);
    let start = performance.now();
    Snapshot.fromJSON(structuredClone(signed) as never);
    log(`@tufjs/models: Snapshot.fromJSON with ${n} entries: ${ms(start)}`);
    start = performance.now();
    const bytes = envelope(signed, [k.snapshot]);
    const set = new TrustedSet(root);
    set.updateTimestamp(envelope(timestampSigned(1, metaFor(1, bytes)), [k.timestamp]));
    set.updateSnapshot(bytes);
    log(`trusted set: the same ${n} entries, signature included: ${ms(start)}`);
  }
  for (const n of FULL_COMPARE ? [small, DELEGATIONS] : [small]) {
    const signed = delegationsSigned(n);
    const start = performance.now();
    const model = Targets.fromJSON(structuredClone(signed) as never);
    log(`@tufjs/models: Targets.fromJSON with ${n} delegations: ${ms(start)}`);
    assert.equal(Object.keys(model.delegations?.roles ?? {}).length, n);
  }
  if (!FULL_COMPARE) log(`set TUF_SCALE_COMPARE=1 to time @tufjs/models on ${ROLES} snapshot entries and ${DELEGATIONS} delegations`);
});
