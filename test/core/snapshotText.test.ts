// The snapshot text builder must give exactly the canonical bytes of the same object, through any
// sequence of publications, and the served file must be JSON that tuf-js verifies.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { Key, Metadata, MetadataKind } from '@tufjs/models';
import { canonicalBytes, sha256Hex } from '../../core/canonical.ts';
import { TufError } from '../../core/errors.ts';
import { generatePrivateKey } from '../../core/keys.ts';
import { buildSnapshotSigned, type MetaEntry, type SnapshotMetaEntry } from '../../core/metadata.ts';
import { privateKeySigner } from '../../core/signer.ts';
import {
  finishSnapshotFile,
  layOutSnapshotFile,
  metaEntryText,
  signSnapshot,
  signSnapshotBytes,
  SnapshotEntries,
  snapshotFileBytes,
  snapshotSignedBytes,
} from '../../core/snapshotText.ts';

const EXPIRES = '2030-01-01T00:00:00Z';
// Names in the role grammar plus a few that sort around them (digits, dots, upper case, `~`).
const name = fc.stringMatching(/^[a-zA-Z0-9~][a-z0-9._~-]{0,12}$/).map((n) => `${n}.json`);
const entry: fc.Arbitrary<MetaEntry> = fc.record({
  version: fc.integer({ min: 1, max: 2 ** 31 }),
  length: fc.integer({ min: 0, max: 2 ** 40 }),
  hashes: fc.uint8Array({ minLength: 1, maxLength: 8 }).map((b) => ({ sha256: sha256Hex(b) })),
});
const anyEntry: fc.Arbitrary<SnapshotMetaEntry> = fc.oneof(entry, fc.record({ version: fc.integer({ min: 1, max: 2 ** 31 }) }));
/** Each entry's own text, in the order canonical JSON sorts names. */
function entryTexts(model: ReadonlyMap<string, SnapshotMetaEntry>): string[] {
  return [...model.keys()].sort().map((n) => metaEntryText(n, model.get(n)!));
}

const changes = fc.array(fc.tuple(name, anyEntry), { maxLength: 30 }).map((xs) => new Map(xs));

test('snapshot text: equals canonical JSON of the same snapshot over any sequence of changes', () => {
  fc.assert(
    fc.property(fc.array(fc.tuple(changes, fc.boolean()), { minLength: 1, maxLength: 8 }), (steps) => {
      const entries = new SnapshotEntries();
      const model = new Map<string, SnapshotMetaEntry>();
      for (const [change, commit] of steps) {
        const next = entries.withChanges(change);
        const expected = new Map([...model, ...change]);
        const fast = snapshotSignedBytes(7, EXPIRES, next.metaText);
        assert.deepEqual(fast, canonicalBytes(buildSnapshotSigned(7, EXPIRES, Object.fromEntries(expected))));
        // The file written around the text leaves the text, and the next step's splice, as they were.
        const file = finishSnapshotFile(layOutSnapshotFile(7, EXPIRES, next.metaBytes), []);
        assert.deepEqual(file, snapshotFileBytes(fast, []));
        assert.deepEqual(snapshotSignedBytes(7, EXPIRES, next.metaBytes), fast);
        assert.equal(next.size, expected.size);
        assert.deepEqual(next.next.texts(), entryTexts(expected));
        // An uncommitted build (a failed transaction) leaves the entries as they were.
        if (commit) {
          next.commit();
          for (const [k, v] of change) model.set(k, v);
        }
        assert.equal(entries.size, model.size);
      }
    }),
    { numRuns: 300 },
  );
});

test('snapshot text: new versions of listed roles only (the spliced path) equal canonical JSON too', () => {
  fc.assert(
    fc.property(
      fc.uniqueArray(fc.tuple(name, anyEntry), { minLength: 1, maxLength: 40, selector: ([n]) => n }),
      fc.array(fc.tuple(fc.array(fc.tuple(fc.nat(), anyEntry), { maxLength: 6 }), fc.boolean()), { minLength: 1, maxLength: 8 }),
      (initial, steps) => {
        const entries = new SnapshotEntries();
        const model = new Map(initial);
        entries.withChanges(model).commit();
        const names = [...model.keys()];
        for (const [picks, commit] of steps) {
          const change = new Map(picks.map(([i, e]) => [names[i % names.length]!, e]));
          const next = entries.withChanges(change);
          const expected = new Map([...model, ...change]);
          assert.deepEqual(
            snapshotSignedBytes(3, EXPIRES, next.metaText),
            canonicalBytes(buildSnapshotSigned(3, EXPIRES, Object.fromEntries(expected))),
          );
          assert.deepEqual(next.next.texts(), entryTexts(expected));
          if (commit) {
            next.commit();
            for (const [k, v] of change) model.set(k, v);
          }
        }
      },
    ),
    { numRuns: 300 },
  );
});

test('snapshot text: the served file is JSON whose signature tuf-js verifies', async () => {
  const signer = privateKeySigner(generatePrivateKey('ed25519'));
  const entries = new SnapshotEntries();
  const built = entries.withChanges(
    new Map([
      ['targets.json', { version: 3, length: 1200, hashes: { sha256: sha256Hex(Buffer.from('t')) } }],
      ['demo.json', { version: 1, length: 800, hashes: { sha256: sha256Hex(Buffer.from('d')) } }],
    ]),
  );
  const signedBytes = snapshotSignedBytes(4, EXPIRES, built.metaText);
  const served = await signSnapshotBytes(signedBytes, [signer]);
  const parsed = JSON.parse(served.toString('utf8'));
  assert.deepEqual(canonicalBytes(parsed.signed), signedBytes);
  const md = Metadata.fromJSON(MetadataKind.Snapshot, parsed);
  assert.equal(md.signed.version, 4);
  assert.equal(md.signed.meta['demo.json']?.version, 1);
  const key = Key.fromJSON(signer.keyid, signer.publicKey as never);
  key.verifySignature(md); // throws when the signature does not hold
  const tampered = Metadata.fromJSON(MetadataKind.Snapshot, JSON.parse(served.toString('utf8').replace('"version":1}', '"version":2}')));
  assert.throws(() => key.verifySignature(tampered));
});

test('snapshot text: the file laid out in one buffer is the same file, however many signatures it carries', async () => {
  const built = new SnapshotEntries().withChanges(
    new Map([
      ['a.json', { version: 2 }],
      ['targets.json', { version: 9 }],
    ]),
  );
  for (const count of [0, 1, 2, 8]) {
    const signers = Array.from({ length: count }, () => privateKeySigner(generatePrivateKey('ecdsa')));
    const layout = layOutSnapshotFile(5, EXPIRES, built.metaBytes);
    assert.deepEqual(layout.signed, snapshotSignedBytes(5, EXPIRES, built.metaBytes));
    const signatures = await signSnapshot(layout.signed, signers);
    const file = finishSnapshotFile(layout, signatures);
    assert.deepEqual(file, snapshotFileBytes(snapshotSignedBytes(5, EXPIRES, built.metaBytes), signatures));
    assert.equal(JSON.parse(file.toString('utf8')).signatures.length, count);
  }
  // Laid out twice (a publication tried again): the second is a copy, the first file unchanged.
  const fresh = new SnapshotEntries().withChanges(new Map([['b.json', { version: 3 }]]));
  const first = finishSnapshotFile(layOutSnapshotFile(6, EXPIRES, fresh.metaBytes), []);
  // Written around the text, not copied: the file's bytes are the text's neighbours.
  assert.equal(first.byteOffset + first.indexOf('"meta":{') + '"meta":{'.length, fresh.metaBytes.byteOffset);
  assert.equal(first.buffer, fresh.metaBytes.buffer);
  const firstCopy = Buffer.from(first);
  const second = finishSnapshotFile(layOutSnapshotFile(1000, EXPIRES, fresh.metaBytes), []);
  assert.deepEqual(first, firstCopy);
  assert.deepEqual(second, snapshotFileBytes(snapshotSignedBytes(1000, EXPIRES, fresh.metaBytes), []));
  assert.throws(
    () => layOutSnapshotFile(0, EXPIRES, built.metaBytes),
    (e: unknown) => e instanceof TufError && e.code === 'malformed',
  );
});

test('snapshot text: refuses entries the fixed layout cannot write canonically', () => {
  const ok: MetaEntry = { version: 1, length: 1, hashes: { sha256: 'a'.repeat(64) } };
  const bad: [string, MetaEntry][] = [
    ['a"b.json', ok],
    ['a\\b.json', ok],
    ['a\nb.json', ok],
    ['é.json', ok],
    ['', ok],
    ['a.json', { ...ok, version: 0 }],
    ['a.json', { ...ok, version: 1.5 }],
    ['a.json', { ...ok, length: -1 }],
    ['a.json', { ...ok, hashes: { sha256: 'A'.repeat(64) } }],
    ['a.json', { version: 1, length: 1 } as never],
    ['a.json', { version: 1, hashes: ok.hashes } as never],
    ['a.json', { ...ok, hashes: { sha256: 'a'.repeat(63) } }],
    ['a.json', { ...ok, hashes: { sha256: 'a'.repeat(64), sha512: 'b'.repeat(128) } as never }],
  ];
  for (const [n, e] of bad) {
    assert.throws(
      () => metaEntryText(n, e),
      (err: unknown) => err instanceof TufError && err.code === 'malformed',
      JSON.stringify([n, e]),
    );
  }
  assert.throws(
    () => snapshotSignedBytes(0, EXPIRES, ''),
    (err: unknown) => err instanceof TufError && err.code === 'malformed',
  );
  assert.throws(
    () => snapshotSignedBytes(1, '2030-01-01', ''),
    (err: unknown) => err instanceof TufError && err.code === 'malformed',
  );
});
