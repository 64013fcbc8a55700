// The read side's cache on a real PostgreSQL: versions that do not exist answer null without a
// stored row, a role never moves backwards, evicted files are read again, and other processes'
// announcements (NOTIFY) reach it while its own are skipped.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import pino from 'pino';
import type { Knex } from 'knex';
import { canonicalBytes, sha256Hex } from '../core/canonical.ts';
import { snapshotFromFile } from '../core/snapshotDelta.ts';
import { SnapshotMerkleTree } from '../core/snapshotMerkle.ts';
import { createKnex, migrateLatest } from '../server/db/knex.ts';
import { insertMetadataVersion } from '../server/db/metadataRepo.ts';
import { notifyPublished } from '../server/db/notifications.ts';
import { SnapshotFollower } from '../server/serving/snapshotFollower.ts';
import { MetadataCache } from '../server/serving/metadataCache.ts';
import { createTestDatabase } from './helpers/db.ts';

let db: { url: string; drop(): Promise<void> };
let knex: Knex;
const log = pino({ level: 'silent' });
const expires = new Date(Date.now() + 86_400_000);
const bytesOf = (role: string, version: number, pad = 0) =>
  Buffer.from(JSON.stringify({ signed: { role, version, pad: 'x'.repeat(pad) }, signatures: [] }));

before(async () => {
  db = await createTestDatabase();
  knex = createKnex(db.url, 4);
  await migrateLatest(knex);
  for (const role of ['root', 'targets', 'snapshot'])
    await insertMetadataVersion(knex, { role, version: 1, bytes: bytesOf(role, 1), expires });
  await insertMetadataVersion(knex, { role: 'timestamp', version: 1, bytes: bytesOf('timestamp', 1), expires });
  for (let v = 1; v <= 3; v++) await insertMetadataVersion(knex, { role: 'big', version: v, bytes: bytesOf('big', v, 600), expires });
});

after(async () => {
  await knex.destroy();
  await db.drop();
});

test('serves stored versions up to the head, nothing beyond it, and timestamp only unversioned', async () => {
  const cache = new MetadataCache(knex, 'me', log, 10_000, new SnapshotFollower(knex, 4, true));
  await cache.reloadAll();
  assert.equal((await cache.get('1.root.json'))?.etag, `"${sha256Hex(bytesOf('root', 1))}"`);
  assert.equal(await cache.get('2.root.json'), null);
  assert.equal(await cache.get('1.timestamp.json'), null);
  assert.ok((await cache.get('timestamp.json'))?.bytes.equals(bytesOf('timestamp', 1)));
  for (const name of [
    'root.json',
    '0.root.json',
    '01.root.json',
    '1.Root.json',
    '1.constructor.json',
    '1.__proto__.json',
    '../1.root.json',
  ]) {
    assert.equal(await cache.get(name), null, name);
  }
});

test('a role never moves backwards, whatever order publications arrive in', async () => {
  const cache = new MetadataCache(knex, 'me', log, 10_000, new SnapshotFollower(knex, 4, true));
  await cache.reloadAll();
  const file = (version: number) => ({ bytes: bytesOf('timestamp', version), sha256: sha256Hex(bytesOf('timestamp', version)), expires });
  await cache.applyPublished([{ role: 'timestamp', version: 5, file: file(5) }]);
  await cache.applyPublished([{ role: 'timestamp', version: 4, file: file(4) }]);
  assert.equal(cache.head('timestamp')?.version, 5);
  assert.ok((await cache.get('timestamp.json'))?.bytes.equals(file(5).bytes));
  await cache.reloadAll(); // the database still says v1: the newer announcement stands
  assert.equal(cache.head('timestamp')?.version, 5);
});

test('files evicted under the byte limit are read again from the database', async () => {
  const small = new MetadataCache(knex, 'me', log, 1_500, new SnapshotFollower(knex, 4, true));
  await small.reloadAll();
  for (let v = 1; v <= 3; v++) assert.ok((await small.get(`${v}.big.json`))?.bytes.equals(bytesOf('big', v, 600)));
  // Each is about 650 bytes, so v1 is out of the cache by now: still served, from the database.
  assert.ok((await small.get('1.big.json'))?.bytes.equals(bytesOf('big', 1, 600)));
});

test('cached files and their gzip variants own their memory (no 8 KiB pool slab kept alive per file)', async () => {
  await insertMetadataVersion(knex, { role: 'wide', version: 1, bytes: bytesOf('wide', 1, 5000), expires });
  const cache = new MetadataCache(knex, 'me', log, 100_000, new SnapshotFollower(knex, 4, true));
  await cache.reloadAll();
  const own = (b: Buffer) => b.byteOffset === 0 && b.buffer.byteLength === b.length;
  await cache.get('1.root.json');
  const root = (await cache.get('1.root.json'))!; // a hit: the cached copy
  assert.ok(root.bytes.length < 4096, 'small enough that node would pool it');
  assert.ok(own(root.bytes), `holds ${root.bytes.buffer.byteLength} bytes for ${root.bytes.length}`);
  assert.ok(own((await cache.get('timestamp.json'))!.bytes));
  const before = cache.cachedBytes;
  const wide = (await cache.get('1.wide.json'))!;
  assert.equal(cache.cachedBytes - before, wide.bytes.length, 'counted as held');
  const gz = await cache.gzipped(wide)!;
  assert.ok(gz.length < 4096);
  assert.ok(own(gz), `the gzip variant holds ${gz.buffer.byteLength} bytes for ${gz.length}`);
  assert.equal(cache.cachedBytes - before, wide.bytes.length + gz.length, 'the variant is counted in the bound with its file');
});

test('a gzip variant of a file the cache does not keep is not counted against the bound', async () => {
  await insertMetadataVersion(knex, { role: 'kept', version: 1, bytes: bytesOf('kept', 1, 5000), expires });
  await insertMetadataVersion(knex, { role: 'huge', version: 1, bytes: bytesOf('huge', 1, 20_000), expires });
  const cache = new MetadataCache(knex, 'me', log, 8_000, new SnapshotFollower(knex, 4, true));
  await cache.reloadAll();
  const kept = (await cache.get('1.kept.json'))!; // about 5 KB: kept
  const huge = (await cache.get('1.huge.json'))!; // larger than the bound: served, not kept
  const before = cache.cachedBytes;
  await cache.gzipped(huge);
  assert.equal(cache.cachedBytes, before, 'nothing counted that eviction could not reach');
  assert.equal(cache.getNow('1.kept.json'), kept, 'and nothing evicted to make room for it');
});

test('TAP 16 proofs kept for readers own their memory too', async () => {
  // The soak's heap snapshot: 1,221 kept proofs held 10 MB, each a 1 KB view of its own 8 KiB slab.
  const meta = Object.fromEntries(['targets', 'a', 'b', 'c'].map((r) => [`${r}.json`, { version: 1 }]));
  const file = canonicalBytes({ signatures: [], signed: { _type: 'snapshot', meta, version: 7 } });
  const rebuilt = snapshotFromFile(file, 7);
  const follower = new SnapshotFollower(knex, 4, true);
  follower.adopt(rebuilt, SnapshotMerkleTree.build(rebuilt.entries.texts()));
  const proof = (await follower.proof(7, 'a.json', 7))!;
  assert.ok(proof.bytes.length < 4096, 'small enough that node would pool it');
  assert.ok(
    proof.bytes.byteOffset === 0 && proof.bytes.buffer.byteLength === proof.bytes.length,
    `holds ${proof.bytes.buffer.byteLength} bytes for ${proof.bytes.length}`,
  );
  assert.equal(await follower.proof(7, 'a.json', 7), proof, 'kept: the second reader gets the same bytes');
});

test('a gzip variant leaves the cache with its file', async () => {
  for (let v = 1; v <= 3; v++) await insertMetadataVersion(knex, { role: 'wider', version: v, bytes: bytesOf('wider', v, 5000), expires });
  const cache = new MetadataCache(knex, 'me', log, 12_000, new SnapshotFollower(knex, 4, true));
  await cache.reloadAll();
  const first = (await cache.get('1.wider.json'))!;
  const variant = cache.gzipped(first)!;
  assert.equal(cache.gzipped(first), variant, 'kept while its file is');
  for (let v = 2; v <= 3; v++) await cache.gzipped((await cache.get(`${v}.wider.json`))!);
  // About 5 KB each under a 12,000-byte bound: v1 was evicted, and its variant with it.
  const again = (await cache.get('1.wider.json'))!;
  assert.notEqual(cache.gzipped(again), variant, 'compressed again once its file is read again');
  await cache.gzipped(again);
  assert.ok(cache.cachedBytes <= 12_000, `files and variants within the bound: ${cache.cachedBytes}`);
});

test("other processes' announcements arrive through NOTIFY; its own are skipped", async () => {
  const cache = new MetadataCache(knex, 'me', log, 10_000, new SnapshotFollower(knex, 4, true));
  await cache.start(db.url, 3600);
  try {
    await insertMetadataVersion(knex, { role: 'big', version: 4, bytes: bytesOf('big', 4, 600), expires });
    await knex.transaction((trx) => notifyPublished(trx, 'me', [{ role: 'big', version: 4 }]));
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(cache.head('big')?.version, 3, 'its own announcement is not applied again');
    await knex.transaction((trx) => notifyPublished(trx, 'another-process', [{ role: 'big', version: 4 }]));
    for (let i = 0; i < 50 && cache.head('big')?.version !== 4; i++) await new Promise((r) => setTimeout(r, 50));
    assert.equal(cache.head('big')?.version, 4);
    assert.ok((await cache.get('4.big.json'))?.bytes.equals(bytesOf('big', 4, 600)));
  } finally {
    await cache.stop();
  }
});

test("another process's announcement with an expiry moves the head at once; the bytes are read when first asked for", async () => {
  const cache = new MetadataCache(knex, 'me', log, 100_000, new SnapshotFollower(knex, 4, true));
  await cache.reloadAll();
  await insertMetadataVersion(knex, { role: 'big', version: 5, bytes: bytesOf('big', 5, 600), expires });
  let queries = 0;
  const count = () => (queries += 1);
  knex.on('query', count);
  try {
    await cache.applyPublished([{ role: 'big', version: 5, expires }]);
    assert.equal(cache.head('big')?.version, 5);
    assert.equal(cache.head('big')?.expires.getTime(), expires.getTime());
    assert.equal(queries, 0, 'no read on the announcement');
    assert.ok((await cache.get('5.big.json'))?.bytes.equals(bytesOf('big', 5, 600)));
    assert.equal(queries, 1, 'one read when asked for');
    // Timestamp is served unversioned from memory: read at once, expiry or not.
    await insertMetadataVersion(knex, { role: 'timestamp', version: 7, bytes: bytesOf('timestamp', 7), expires });
    queries = 0;
    await cache.applyPublished([{ role: 'timestamp', version: 7, expires }]);
    assert.equal(queries, 1, 'read on the announcement');
    assert.ok((await cache.get('timestamp.json'))?.bytes.equals(bytesOf('timestamp', 7)));
  } finally {
    knex.off('query', count);
  }
});

test('eviction spares a file used since it was cached (second chance): the unused one goes first', async () => {
  const small = new MetadataCache(knex, 'me', log, 1_500, new SnapshotFollower(knex, 4, true));
  await small.reloadAll();
  let queries = 0;
  const count = () => (queries += 1);
  knex.on('query', count);
  try {
    await small.get('1.big.json');
    await small.get('2.big.json'); // about 650 bytes each: both fit
    await small.get('1.big.json'); // used again
    await small.get('3.big.json'); // over the limit: 2 goes, not 1
    queries = 0;
    assert.ok((await small.get('1.big.json'))?.bytes.equals(bytesOf('big', 1, 600)));
    assert.equal(queries, 0, 'the used file stayed');
    assert.ok((await small.get('2.big.json'))?.bytes.equals(bytesOf('big', 2, 600)));
    assert.equal(queries, 1, 'the unused one was read again');
  } finally {
    knex.off('query', count);
  }
});
