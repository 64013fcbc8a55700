// Snapshot versions stored as deltas (core/snapshotDelta.ts) and TAP 16 proofs on a real server:
// every version is served byte for byte by the process that signed it and by another one that
// only learned of it through the database; checkpoints are kept; every timestamp carries the root
// of the tree over its snapshot; every role's proof of the current and of earlier versions leads
// to that root; a stock tuf-js client refreshes through it all; and the history check passes.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import type { KeyObject } from 'node:crypto';
import { Updater } from 'tuf-js';
import { sha256Hex, type JsonObject } from '../core/canonical.ts';
import { projectPlacement } from '../core/bins.ts';
import { editedTargetsSigned } from '../core/ceremony.ts';
import { withDelegation } from '../core/delegations.ts';
import { buildTargetsSigned, describeTarget, expiresAfter, signEnvelope, type Envelope } from '../core/metadata.ts';
import { privateKeySigner } from '../core/signer.ts';
import { SnapshotMerkleTree, verifySnapshotProof } from '../core/snapshotMerkle.ts';
import { snapshotFromFile } from '../core/snapshotDelta.ts';
import { verifyHistory } from '../server/admin/historyCheck.ts';
import { SnapshotFollower, SnapshotRebuildBusy } from '../server/serving/snapshotFollower.ts';
import { IdentitySignatureVerifier } from '../core/identity.ts';
import { ALICE } from './helpers/projects.ts';
import { bootstrapWithBins, signAs, startTestRepo, type TestRepo } from './helpers/repo.ts';

const BINS = 8;
let t: TestRepo;
let other: TestRepo;
let binsKey: KeyObject;
let rootEnvelope: Envelope;
const env = { SNAPSHOT_CHECKPOINT_VERSIONS: '3' };

before(async () => {
  t = await startTestRepo({ env });
  ({ binsKey, root: rootEnvelope } = await bootstrapWithBins(t, BINS));
  // A second server process on the same database: it learns of each version by notification only.
  other = await startTestRepo({ databaseUrl: t.databaseUrl, home: t.home, sigstore: t.sigstore, env });
});
after(async () => {
  await other.close();
  await t.close();
});

async function approve(project: string) {
  const top = (await t.repo.current.targets())!;
  const placement = projectPlacement(top.envelope.signed, project);
  const bin = (await t.repo.current.delegated(t.repo.knex, placement.role))!;
  const maintainers = [{ identity: ALICE, issuer: t.sigstore.sigstore.issuerUrl }];
  const next = editedTargetsSigned(withDelegation(bin.envelope.signed, project, maintainers, 1, placement.paths), {}, t.clock.now());
  await t.repo.admission.submitDelegated(new Map([[placement.role, await signEnvelope(next, [privateKeySigner(binsKey)])]]), 'test');
  return placement.paths[0]!.replace(/\*$/, '');
}

async function publish(project: string, dir: string, version: number, through: TestRepo = t) {
  const file = Buffer.from(`${project} ${version}\n`);
  const targetPath = `${dir}${project}-${version}.tgz`;
  const signed: JsonObject = buildTargetsSigned({
    version,
    expires: expiresAfter(t.clock.now(), 30 * 86_400),
    targets: { [targetPath]: describeTarget(file) },
  });
  const result = await through.repo.projects.upload(project, await signAs(t, signed, [{ identity: ALICE }]), new Map([[targetPath, file]]));
  assert.equal(result.status, 'published');
}

async function get(base: string, url: string): Promise<{ status: number; body: Buffer }> {
  const res = await fetch(`${base}${url}`);
  return { status: res.status, body: Buffer.from(await res.arrayBuffer()) };
}

async function until(check: () => Promise<boolean>): Promise<void> {
  for (let i = 0; i < 500 && !(await check()); i++) await new Promise((r) => setTimeout(r, 10));
  assert.ok(await check(), 'in time');
}

test('snapshot versions after the first are stored as deltas with checkpoints, and served byte for byte by both processes', async () => {
  const dirA = await approve('alpha');
  const dirB = await approve('beta');
  await publish('alpha', dirA, 1); // a new role: inserted into the tree
  await publish('beta', dirB, 1);
  await publish('alpha', dirA, 2); // a new version of a listed role
  t.clock.advanceSeconds(5 * 86_400); // a re-sign with no change: a delta of its expiry alone
  other.clock.advanceSeconds(5 * 86_400);
  await t.repo.resignTick();
  await publish('beta', dirB, 2);
  // Publications alternate between processes: each continues from the other's stored deltas.
  await publish('beta', dirB, 3, other);
  await publish('alpha', dirA, 3);
  await publish('alpha', dirA, 4, other);

  const rows = await t.repo.knex('metadata_versions').where({ role: 'snapshot' }).orderBy('version').select('version', 'bytes', 'sha256');
  assert.ok(rows.length >= 7, `${rows.length} snapshot versions`);
  assert.ok(rows[0].bytes !== null, 'the first version is stored whole');
  assert.ok(
    rows.slice(1).every((r) => r.bytes === null),
    'every later version is stored as a delta',
  );
  const head = rows.at(-1)!.version;
  await until(async () => (await t.repo.knex('snapshot_checkpoints').count({ n: '*' }).first())!.n !== '0');
  const checkpoints = (await t.repo.knex('snapshot_checkpoints').select('version')).map((r) => r.version);
  assert.ok(checkpoints.length >= 1 && checkpoints.every((v) => v > 1 && v <= head), `checkpoints ${checkpoints}`);

  await until(async () => other.repo.cache.head('snapshot')?.version === head);
  for (const row of rows) {
    for (const base of [t.baseUrl, other.baseUrl]) {
      const res = await get(base, `/metadata/${row.version}.snapshot.json`);
      assert.equal(res.status, 200, `v${row.version} from ${base}`);
      assert.equal(sha256Hex(res.body), row.sha256, `v${row.version} from ${base} is the file signed`);
    }
  }
  // A process started now rebuilds from a checkpoint and the deltas after it, and its first
  // publication continues from there (a delta again, not a whole file).
  const third = await startTestRepo({ databaseUrl: t.databaseUrl, home: t.home, sigstore: t.sigstore, env });
  try {
    const res = await get(third.baseUrl, `/metadata/${head}.snapshot.json`);
    assert.equal(sha256Hex(res.body), rows.at(-1)!.sha256);
    await publish('beta', dirB, 4, third);
    const after = await t.repo.knex('metadata_versions').where({ role: 'snapshot' }).where('version', '>', head).select('version', 'bytes');
    assert.ok(after.length >= 1 && after.every((r) => r.bytes === null), 'stored as a delta by a process that just started');
  } finally {
    await third.close();
  }
});

test("every timestamp carries its snapshot tree's root; each role's proof, now and in earlier versions, leads to it", async () => {
  const timestamp = JSON.parse((await get(t.baseUrl, '/metadata/timestamp.json')).body.toString()) as Envelope;
  const merkleRoot = timestamp.signed.merkle_root as string;
  assert.match(merkleRoot, /^[0-9a-f]{64}$/);
  const snapshotVersion = (timestamp.signed.meta as Record<string, { version: number }>)['snapshot.json']!.version;
  const snapshot = JSON.parse((await get(t.baseUrl, `/metadata/${snapshotVersion}.snapshot.json`)).body.toString()) as Envelope;
  const meta = snapshot.signed.meta as Record<string, { version: number }>;
  // The root is the tree over exactly the snapshot's entries: what an auditor rebuilds.
  const rebuilt = snapshotFromFile((await get(t.baseUrl, `/metadata/${snapshotVersion}.snapshot.json`)).body, snapshotVersion);
  assert.equal(SnapshotMerkleTree.build(rebuilt.entries.texts()).root.toString('hex'), merkleRoot);
  for (const [file, entry] of Object.entries(meta)) {
    const role = file.replace(/\.json$/, '');
    for (const base of [t.baseUrl, other.baseUrl]) {
      const res = await get(base, `/metadata/snapshot-merkle/${snapshotVersion}/${file}`);
      assert.equal(res.status, 200, `${file} from ${base}`);
      assert.equal(verifySnapshotProof(JSON.parse(res.body.toString()), role, merkleRoot).version, entry.version);
    }
  }
  // An earlier version's proofs stay servable where its tree is kept (a client may hold a timestamp
  // a few versions old): by the processes that published or followed it. A process that starts now
  // builds only the current tree and answers 404 for older ones: no whole tree is built for a
  // request naming an old version (a client then reads snapshot.json).
  const earlier = snapshotVersion - 3;
  const earlierFile = (await get(other.baseUrl, `/metadata/${earlier}.snapshot.json`)).body;
  const earlierRoot = SnapshotMerkleTree.build(snapshotFromFile(earlierFile, earlier).entries.texts()).root.toString('hex');
  const proof = await get(t.baseUrl, `/metadata/snapshot-merkle/${earlier}/targets.json`);
  assert.equal(verifySnapshotProof(JSON.parse(proof.body.toString()), 'targets', earlierRoot).version, 1);
  const fresh = await startTestRepo({ databaseUrl: t.databaseUrl, home: t.home, sigstore: t.sigstore, env });
  try {
    assert.equal((await get(fresh.baseUrl, `/metadata/snapshot-merkle/${snapshotVersion}/targets.json`)).status, 200);
    const notKept = await get(fresh.baseUrl, `/metadata/snapshot-merkle/${earlier}/targets.json`);
    assert.equal(notKept.status, 404);
    assert.match(notKept.body.toString(), /read timestamp\.json again/);
  } finally {
    await fresh.close();
  }
  // Unknown roles and versions: 404, as for metadata.
  assert.equal((await get(t.baseUrl, `/metadata/snapshot-merkle/${snapshotVersion}/nobody.json`)).status, 404);
  assert.equal((await get(t.baseUrl, `/metadata/snapshot-merkle/${snapshotVersion + 50}/targets.json`)).status, 404);
  assert.equal((await get(t.baseUrl, `/metadata/snapshot-merkle/0/targets.json`)).status, 404);
});

test('a stock tuf-js client refreshes through timestamps that carry merkle_root; the history check passes', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tuf-merkle-stock-'));
  fs.mkdirSync(path.join(dir, 'metadata'));
  fs.mkdirSync(path.join(dir, 'targets'));
  fs.writeFileSync(path.join(dir, 'metadata', 'root.json'), JSON.stringify(rootEnvelope));
  const updater = new Updater({
    metadataDir: path.join(dir, 'metadata'),
    metadataBaseUrl: `${other.baseUrl}/metadata`,
    targetDir: path.join(dir, 'targets'),
    targetBaseUrl: `${other.baseUrl}/targets`,
  });
  await updater.refresh();
  assert.ok(await updater.getTargetInfo('sigstore/trusted_root.json'));
  const history = await verifyHistory(t.repo.knex, new IdentitySignatureVerifier(t.sigstore.setup.trustedRoot));
  assert.deepEqual(history.problems, []);
  assert.ok(history.versionsChecked > 20);
});

test('requests for many earlier snapshot versions at once: a few are rebuilt in turn, the rest answered 503, and each rebuilt one is exact', async () => {
  const rows = await t.repo.knex('metadata_versions').where({ role: 'snapshot' }).orderBy('version').select('version', 'sha256');
  assert.ok(rows.length >= 12);
  const follower = new SnapshotFollower(t.repo.knex, 4, true);
  const results = await Promise.allSettled(rows.slice(0, 12).map((r) => follower.file(r.version)));
  const busy = results.filter((r) => r.status === 'rejected');
  assert.equal(busy.length, 4, 'beyond the eight waiting, refused');
  assert.ok(busy.every((r) => (r as PromiseRejectedResult).reason instanceof SnapshotRebuildBusy));
  results.forEach((r, i) => {
    if (r.status === 'fulfilled') assert.equal(sha256Hex(r.value!), rows[i]!.sha256);
  });
  // A reader walking versions in order is served one delta on from the version it asked for last.
  for (const r of rows.slice(0, 12)) assert.equal(sha256Hex((await follower.file(r.version))!), r.sha256);
});
