// tuf-auditor (TAP 16 auditing over HTTP): it follows every snapshot version, resumes from its
// state, and catches what a client fetching one role cannot see: a hostile mirror holding the
// online keys rolls one role back in one snapshot (with a tree consistent with it), or serves a
// timestamp whose merkle_root is not the tree over its snapshot. The honest server passes before
// and after; a finding does not move the auditor's state past it.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import request from 'supertest';
import type { SnapshotMetaEntry } from '../core/metadata.ts';
import { buildTimestampSigned, expiresAfter, metaEntryFor, servedBytes, signEnvelope } from '../core/metadata.ts';
import { SnapshotMerkleTree } from '../core/snapshotMerkle.ts';
import { SnapshotEntries, signSnapshotBytes, snapshotSignedBytes } from '../core/snapshotText.ts';
import { runCli } from './helpers/cli.ts';
import { publishDemo, startMirror, type Mirror } from './helpers/mirror.ts';
import { bootstrappedWithSigstore, delegateProject, type TestRepo } from './helpers/repo.ts';

const ALICE = 'alice@example.com';
let t: TestRepo;
let work: string;
let mirror: Mirror;
let mirrorUrl: string;
/** Files the hostile mirror serves instead of the repository's, by URL path. */
const forged = new Map<string, Buffer>();

const publish = (version: number) => publishDemo(t, ALICE, version, `app ${version}`);

before(async () => {
  let keys;
  ({ t, keys } = await bootstrappedWithSigstore());
  await delegateProject(t, keys, 'demo', [ALICE]);
  await publish(1);
  await publish(2);
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'tuf-auditor-'));
  fs.writeFileSync(path.join(work, 'root.json'), (await request(t.baseUrl).get('/metadata/1.root.json')).text);
  mirror = await startMirror(t, () => async (p, up) => forged.get(p) ?? up());
  mirrorUrl = mirror.url;
});
after(async () => {
  await mirror.close();
  await t.close();
});

const stateDir = () => path.join(work, 'state');
async function audit(server: string, extra: string[] = []) {
  const res = await runCli('auditor/main.ts', [
    'check',
    '--server',
    server,
    '--root',
    path.join(work, 'root.json'),
    '--state',
    stateDir(),
    '--json',
    ...extra,
  ]);
  const line = res.stdout.trim().split('\n').at(-1) ?? '';
  return { ...res, report: line.startsWith('{') ? JSON.parse(line) : null };
}

test('the honest repository passes; a later pass checks every snapshot version published since, and proofs', async () => {
  const first = await audit(t.baseUrl);
  assert.equal(first.status, 0, first.stderr);
  assert.equal(first.report.merkleRoot, 'matched');
  assert.deepEqual(first.report.findings, []);
  const head = t.repo.cache.head('snapshot')!.version;
  await publish(3);
  await publish(4);
  const second = await audit(t.baseUrl);
  assert.equal(second.status, 0, second.stderr);
  assert.deepEqual(second.report.checked, [head + 1, head + 2], 'both new versions, not only the current one');
  assert.ok(second.report.proofsChecked >= 2, 'targets and the changed role');
  const third = await audit(t.baseUrl);
  assert.equal(third.status, 0);
  assert.deepEqual(third.report.checked, []);
});

async function signedByOnlineKeys(meta: Record<string, SnapshotMetaEntry>, version: number, merkleRoot?: string) {
  const root = (await t.repo.current.root())!.model;
  const expires = expiresAfter(t.clock.now(), 86_400);
  const entries = new SnapshotEntries().withChanges(new Map(Object.entries(meta)));
  const snapshot = await signSnapshotBytes(snapshotSignedBytes(version, expires, entries.metaText), [
    await t.repo.publication.signers.signerFor('snapshot', root),
  ]);
  const tree = SnapshotMerkleTree.build(entries.next.texts()).root.toString('hex');
  const timestamp = servedBytes(
    await signEnvelope(
      buildTimestampSigned(t.repo.cache.head('timestamp')!.version + 1, expires, metaEntryFor(version, snapshot), merkleRoot ?? tree),
      [await t.repo.publication.signers.signerFor('timestamp', root)],
    ),
  );
  return { snapshot, timestamp };
}

test('a hostile mirror with the online keys rolls demo back in one snapshot: the auditor names the role and versions', async () => {
  const head = t.repo.cache.head('snapshot')!.version;
  const current = JSON.parse((await request(t.baseUrl).get(`/metadata/${head}.snapshot.json`)).text);
  const meta = current.signed.meta as Record<string, SnapshotMetaEntry>;
  assert.equal(meta['demo.json']!.version, 4);
  // One more snapshot where demo is back at v2, and a tree consistent with it: a client that does
  // not fetch demo sees nothing wrong.
  const { snapshot, timestamp } = await signedByOnlineKeys({ ...meta, 'demo.json': { version: 2 } }, head + 1);
  forged.set(`/metadata/${head + 1}.snapshot.json`, snapshot);
  forged.set('/metadata/timestamp.json', timestamp);
  try {
    const res = await audit(mirrorUrl);
    assert.equal(res.status, 3, res.stderr);
    assert.deepEqual(
      res.report.findings.map((f: { kind: string; role: string; from: number; to: number }) => [f.kind, f.role, f.from, f.to]),
      [['rollback', 'demo', 4, 2]],
    );
    assert.match(res.stderr, /FINDING rollback: demo\.json went from v4 .* down to v2/);
    // Found again by the next pass: the state did not move past it.
    assert.equal((await audit(mirrorUrl)).status, 3);
  } finally {
    forged.clear();
  }
});

test('a timestamp whose merkle_root is not the tree over its snapshot is a finding; the honest server passes again', async () => {
  const head = t.repo.cache.head('snapshot')!.version;
  const current = JSON.parse((await request(t.baseUrl).get(`/metadata/${head}.snapshot.json`)).text);
  const meta = current.signed.meta as Record<string, SnapshotMetaEntry>;
  // The real next snapshot's entries, but a root over entries where demo is older.
  const older = await signedByOnlineKeys({ ...meta, 'demo.json': { version: 1 } }, head + 1);
  const olderRoot = JSON.parse(older.timestamp.toString()).signed.merkle_root as string;
  const { snapshot, timestamp } = await signedByOnlineKeys(meta, head + 1, olderRoot);
  forged.set(`/metadata/${head + 1}.snapshot.json`, snapshot);
  forged.set('/metadata/timestamp.json', timestamp);
  try {
    const res = await audit(mirrorUrl);
    assert.equal(res.status, 3, res.stderr);
    assert.deepEqual(
      res.report.findings.map((f: { kind: string }) => f.kind),
      ['merkle_root_mismatch'],
    );
  } finally {
    forged.clear();
  }
  const honest = await audit(t.baseUrl);
  assert.equal(honest.status, 0, honest.stderr);
  assert.equal(honest.report.merkleRoot, 'matched');
});

test('an unreachable repository is a failure (exit 1) that says where, not a finding; usage errors exit 2', async () => {
  const res = await audit('http://127.0.0.1:9');
  assert.equal(res.status, 1);
  assert.match(res.stderr, /127\.0\.0\.1:9.*\[unreachable\]/);
  const usage = await runCli('auditor/main.ts', ['inspect']);
  assert.equal(usage.status, 2);
  assert.match(usage.stderr, /unknown command "inspect".*see `tuf-auditor --help`/);
});
