// TAP 16 proofs through a hostile mirror. The client learns each role's version from a proof
// against the timestamp's merkle_root; what a mirror (or a server holding the timestamp key) could
// send instead is refused with its code: a wrong sibling, another role's proof, a proof from an
// older tree, a cut proof, a forged leaf, a role the tree does not hold, and a rollback signed
// with the timestamp key. Each attack has a control through the same mirror passing through. A
// mirror that serves no proofs, and a repository that publishes no tree, are read through
// snapshot.json. `tuf-client fetch --verbose` says which way it went.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import request from 'supertest';
import { buildTimestampSigned, expiresAfter, metaEntryFor, servedBytes, signEnvelope } from '../core/metadata.ts';
import { SnapshotMerkleTree } from '../core/snapshotMerkle.ts';
import { snapshotFromFile } from '../core/snapshotDelta.ts';
import { isTrustError, type TrustErrorCode } from '../core/trustedModel.ts';
import { IdentityClient } from '../client/identityUpdater.ts';
import { runCli } from './helpers/cli.ts';
import { fetchUpstream, publishDemo, startMirror, type Mirror, type Rewrite } from './helpers/mirror.ts';
import { bootstrappedWithSigstore, delegateProject, type TestRepo } from './helpers/repo.ts';

const ALICE = 'alice@example.com';
let t: TestRepo;
let work: string;
let mirror: Mirror;
let mirrorUrl: string;
const honest: Rewrite = (_p, up) => up();
let rewrite: Rewrite = honest;
/** Recorded while demo v1 was current: its snapshot version, the snapshot, and demo's proof then. */
let old: { snapshotVersion: number; snapshot: Buffer; demoProof: Buffer };

const upstream = (urlPath: string) => fetchUpstream(t, urlPath);
const publish = (version: number, content: string) => publishDemo(t, ALICE, version, content);

const snapshotVersion = () => t.repo.cache.head('snapshot')!.version;
const proofUrl = (role: string, version = snapshotVersion()) => `/metadata/snapshot-merkle/${version}/${role}.json`;

before(async () => {
  let keys;
  ({ t, keys } = await bootstrappedWithSigstore());
  await delegateProject(t, keys, 'demo', [ALICE]);
  await publish(1, 'app 1');
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'tuf-mirror-proofs-'));
  fs.writeFileSync(path.join(work, 'root.json'), (await request(t.baseUrl).get('/metadata/1.root.json')).text);
  const v = snapshotVersion();
  old = {
    snapshotVersion: v,
    snapshot: (await upstream(`/metadata/${v}.snapshot.json`))!,
    demoProof: (await upstream(proofUrl('demo', v)))!,
  };
  await publish(2, 'app 2');
  mirror = await startMirror(t, () => rewrite);
  mirrorUrl = mirror.url;
});
after(async () => {
  await mirror.close();
  await t.close();
});

let clients = 0;
function client(dir = path.join(work, `client-${++clients}`)): { c: IdentityClient; dir: string; log: string[] } {
  const metadataDir = path.join(dir, 'metadata');
  if (!fs.existsSync(metadataDir)) {
    fs.mkdirSync(metadataDir, { recursive: true });
    fs.copyFileSync(path.join(work, 'root.json'), path.join(metadataDir, 'root.json'));
  }
  const log: string[] = [];
  const c = new IdentityClient({
    metadataDir,
    metadataBaseUrl: `${mirrorUrl}/metadata`,
    targetBaseUrl: `${mirrorUrl}/targets`,
    targetDir: path.join(dir, 'targets'),
    log: (line) => log.push(line),
  });
  return { c, dir, log };
}

const download = (c: IdentityClient, dir: string) => c.download('demo/app.tgz', path.join(dir, 'app.tgz'));

/** `r` applied to demo's current proof only. */
const onDemoProof =
  (edit: (doc: Record<string, Record<string, unknown>>) => unknown): Rewrite =>
  async (p, up) => {
    const body = await up();
    if (p !== proofUrl('demo') || !body) return body;
    return Buffer.from(JSON.stringify(edit(JSON.parse(body.toString()))));
  };

async function attack(what: string, r: Rewrite, code: TrustErrorCode, prepared?: string): Promise<void> {
  rewrite = honest;
  const control = client();
  await download(control.c, control.dir);
  assert.equal(control.c.snapshotMode(), 'proofs', `${what}: the control used proofs`);
  rewrite = r;
  const victim = client(prepared);
  try {
    await assert.rejects(download(victim.c, victim.dir), (e) => isTrustError(e, code), `${what}: refused with ${code}`);
  } finally {
    rewrite = honest;
  }
}

test('honest: the client verifies through proofs alone, never downloading snapshot.json', async () => {
  const seen: string[] = [];
  rewrite = async (p, up) => (seen.push(p), up());
  const { c, dir, log } = client();
  await download(c, dir);
  rewrite = honest;
  assert.equal(fs.readFileSync(path.join(dir, 'app.tgz'), 'utf8'), 'app 2');
  assert.equal(c.snapshotMode(), 'proofs');
  assert.ok(!seen.some((p) => p.endsWith('.snapshot.json')), `no snapshot.json fetched: ${seen.join(' ')}`);
  for (const role of ['targets', 'demo']) assert.ok(seen.includes(proofUrl(role)), `${role}'s proof fetched`);
  assert.ok(log.some((l) => /by TAP 16 proofs/.test(l)) && log.some((l) => l.startsWith('proof: demo v2')), log.join('\n'));
});

test('a wrong sibling, another role, an older tree, a cut proof and a forged leaf are refused', async () => {
  await attack(
    'wrong sibling',
    onDemoProof((d) => {
      const first = d.merkle_path!['0'] as string;
      d.merkle_path!['0'] = `${first.slice(0, -1)}${first.endsWith('0') ? '1' : '0'}`;
      return d;
    }),
    'merkle_root_mismatch',
  );
  await attack('another role', async (p, up) => (p === proofUrl('demo') ? upstream(proofUrl('targets')) : up()), 'merkle_proof_wrong_role');
  await attack('an older tree', async (p, up) => (p === proofUrl('demo') ? old.demoProof : up()), 'merkle_root_mismatch');
  await attack(
    'a cut proof',
    onDemoProof((d) => {
      const last = String(Object.keys(d.merkle_path!).length - 1);
      delete d.merkle_path![last];
      delete d.path_directions![last];
      return d;
    }),
    'merkle_root_mismatch',
  );
  await attack(
    'a forged leaf',
    onDemoProof((d) => ({ ...d, leaf_contents: { 'demo.json': { version: 7 } } })),
    'merkle_root_mismatch',
  );
  await attack(
    'not a proof',
    async (p, up) => (p === proofUrl('demo') ? Buffer.from('{"leaf_contents":') : up()),
    'merkle_proof_malformed',
  );
  await attack('a role the tree does not hold', async (p, up) => (p === proofUrl('demo') ? null : up()), 'missing_meta');
});

test('rollback signed with the timestamp key: a tree where demo is older than the client trusts is refused', async () => {
  const prepared = client();
  await download(prepared.c, prepared.dir); // keeps demo v2
  // A server whose timestamp key is in the attacker's hands signs the tree of an older snapshot.
  const oldRoot = SnapshotMerkleTree.build(snapshotFromFile(old.snapshot, old.snapshotVersion).entries.texts()).root.toString('hex');
  const root = await t.repo.current.root();
  const current = snapshotVersion();
  const signed = buildTimestampSigned(
    t.repo.cache.head('timestamp')!.version + 1,
    expiresAfter(t.clock.now(), 86_400),
    metaEntryFor(current, (await upstream(`/metadata/${current}.snapshot.json`))!),
    oldRoot,
  );
  const forged = servedBytes(await signEnvelope(signed, [await t.repo.publication.signers.signerFor('timestamp', root!.model)]));
  const rollback: Rewrite = async (p, up) => {
    if (p === '/metadata/timestamp.json') return forged;
    if (p === proofUrl('demo')) return old.demoProof; // valid in the old tree: demo v1
    if (p === proofUrl('targets')) return upstream(proofUrl('targets', old.snapshotVersion));
    return up();
  };
  await attack('rollback of demo by proof', rollback, 'bad_version', prepared.dir);
});

test('a mirror that serves no proofs, and a repository that publishes no tree, are read through snapshot.json', async () => {
  rewrite = async (p, up) => (p.startsWith('/metadata/snapshot-merkle/') ? null : up());
  try {
    const { c, dir, log } = client();
    await download(c, dir);
    assert.equal(fs.readFileSync(path.join(dir, 'app.tgz'), 'utf8'), 'app 2');
    assert.equal(c.snapshotMode(), 'snapshot');
    assert.ok(
      log.some((l) => /no TAP 16 proofs served/.test(l)),
      log.join('\n'),
    );
  } finally {
    rewrite = honest;
  }
  const flat = await bootstrappedWithSigstore({ env: { SNAPSHOT_MERKLE_TREES: 'false' } });
  try {
    const timestamp = JSON.parse((await request(flat.t.baseUrl).get('/metadata/timestamp.json')).text);
    assert.equal(timestamp.signed.merkle_root, undefined);
    assert.equal((await request(flat.t.baseUrl).get('/metadata/snapshot-merkle/1/targets.json')).status, 404);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tuf-no-tree-'));
    fs.mkdirSync(path.join(dir, 'metadata'));
    fs.writeFileSync(path.join(dir, 'metadata', 'root.json'), (await request(flat.t.baseUrl).get('/metadata/1.root.json')).text);
    const c = new IdentityClient({
      metadataDir: path.join(dir, 'metadata'),
      metadataBaseUrl: `${flat.t.baseUrl}/metadata`,
      targetBaseUrl: `${flat.t.baseUrl}/targets`,
      targetDir: path.join(dir, 'targets'),
    });
    await c.download('sigstore/trusted_root.json', path.join(dir, 'tr.json'));
    assert.equal(c.snapshotMode(), 'snapshot');
  } finally {
    await flat.t.close();
  }
});

test('tuf-client fetch --verbose says it verified through proofs; --full-snapshot reads snapshot.json', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tuf-client-verbose-'));
  const args = ['fetch', 'demo/app.tgz', '--server', t.baseUrl, '--root', path.join(work, 'root.json'), '--dir', dir, '--verbose'];
  const proofs = await runCli('client/main.ts', [...args, '--out', path.join(dir, 'a.tgz')]);
  assert.equal(proofs.status, 0, proofs.stderr);
  assert.match(proofs.stderr, /snapshot: v\d+ by TAP 16 proofs/);
  assert.match(proofs.stderr, /proof: demo v2 in snapshot v\d+/);
  const full = await runCli('client/main.ts', [...args, '--full-snapshot', '--out', path.join(dir, 'b.tgz')]);
  assert.equal(full.status, 0, full.stderr);
  assert.match(full.stderr, /snapshot: v\d+, \d+ bytes \(snapshot\.json\)/);
});
