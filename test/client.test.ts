// The client (client/identityUpdater.ts) against repositories held in memory and served over real
// HTTP, with a local Sigstore: no database. Identity-signed roles verify (and a stock tuf-js client
// cannot verify them), forged ones are refused; the client fetches what tuf-js fetches and keeps
// what tuf-js keeps, so an existing state directory keeps working; bounds, root rotation with
// fast-forward recovery, and freeze.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { Updater } from 'tuf-js';
import { canonicalBytes, type JsonObject } from '../core/canonical.ts';
import { identityKey, identityKeyid, SIGSTORE_TRUSTED_ROOT_TARGET } from '../core/identity.ts';
import type { SignatureJson } from '../core/metadata.ts';
import { isTrustError } from '../core/trustedSet.ts';
import { ClientError, IdentityClient, identityVerificationInstalled, type ClientLimits } from '../client/identityUpdater.ts';
import { isDownloadError } from '../client/download.ts';
import { signWithIdentity } from '../maintainer/identitySigner.ts';
import { delegations, MemoryRepo, newKey, PAST, rootSigned, targetsSigned } from './core/trustedSetHelpers.ts';
import { startLocalSigstore, type LocalSigstoreServer } from './helpers/sigstore.ts';

const ALICE = 'alice@example.com';
const MALLORY = 'mallory@example.com';

let sigstore: LocalSigstoreServer;
let server: http.Server;
let baseUrl: string;
let work: string;
/** What the server serves now, and every path asked for. */
let repo: MemoryRepo;
let requests: string[] = [];
let rewrite: ((urlPath: string) => Buffer | null | undefined) | null = null;

before(async () => {
  sigstore = await startLocalSigstore();
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'tuf-client-'));
  server = http.createServer((req, res) => {
    // As requested (still percent-encoded): file names are `N.${encodeURIComponent(role)}.json`.
    const urlPath = new URL(req.url ?? '/', 'http://x').pathname;
    requests.push(urlPath);
    const rewritten = rewrite?.(urlPath);
    const body =
      rewritten !== undefined
        ? rewritten
        : urlPath.startsWith('/metadata/')
          ? repo.metadata.get(urlPath.slice('/metadata/'.length))
          : urlPath.startsWith('/targets/')
            ? repo.targetFiles.get(urlPath.slice('/targets/'.length))
            : undefined;
    if (!body) return void res.writeHead(404).end();
    res.writeHead(200, { 'content-type': 'application/octet-stream' }).end(body);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const addr = server.address();
  baseUrl = `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}`;
});
after(async () => {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
  await sigstore.close();
});

let dirs = 0;
function stateDir(root: Buffer, name = `c${++dirs}`): string {
  const dir = path.join(work, name);
  fs.mkdirSync(path.join(dir, 'metadata'), { recursive: true });
  fs.writeFileSync(path.join(dir, 'metadata', 'root.json'), root);
  return dir;
}
const options = (dir: string) => ({
  metadataBaseUrl: `${baseUrl}/metadata`,
  targetBaseUrl: `${baseUrl}/targets`,
  metadataDir: path.join(dir, 'metadata'),
  targetDir: path.join(dir, 'targets'),
});
/** A client given the local Sigstore's trusted root ... */
const client = (dir: string, limits?: Partial<ClientLimits>) =>
  new IdentityClient({ ...options(dir), sigstoreTrustedRoot: sigstore.setup.trustedRoot, ...(limits ? { limits } : {}) });
/** ... or one that learns it through TUF, from the repository's target sigstore/trusted_root.json. */
const learning = (dir: string) => new IdentityClient(options(dir));

async function identitySignature(
  signed: JsonObject,
  identity: string,
  keyid = identityKeyid(identity, sigstore.sigstore.issuerUrl),
): Promise<SignatureJson> {
  return signWithIdentity(
    canonicalBytes(signed),
    keyid,
    { fulcioUrl: sigstore.sigstore.fulcioUrl, rekorUrl: sigstore.sigstore.rekorUrl },
    {
      getToken: () => sigstore.sigstore.mintToken({ identity }),
    },
  );
}

/** A repository publishing the local Sigstore's trusted root and delegating demo/* to alice. */
async function identityRepo(demoSignatures: (signed: JsonObject) => Promise<SignatureJson[]>): Promise<MemoryRepo> {
  const r = new MemoryRepo();
  const trustedRoot = Buffer.from(JSON.stringify(sigstore.setup.trustedRoot));
  const app = Buffer.from('demo app 1.0');
  const top = targetsSigned(
    1,
    { [SIGSTORE_TRUSTED_ROOT_TARGET]: r.addTarget(SIGSTORE_TRUSTED_ROOT_TARGET, trustedRoot) },
    {
      delegations: delegations([
        { name: 'demo', keys: [identityKey(ALICE, sigstore.sigstore.issuerUrl)], paths: ['demo/*'], terminating: true },
      ]),
    },
  );
  r.setRole('targets', top, [r.keys.targets]);
  const demo = targetsSigned(1, { 'demo/app.tgz': r.addTarget('demo/app.tgz', app) });
  r.setRole('demo', demo, Buffer.from(JSON.stringify({ signed: demo, signatures: await demoSignatures(demo) })));
  r.publish();
  return r;
}

test('the identity extension is in place: identity keys verify through Sigstore only', () => {
  assert.equal(identityVerificationInstalled(), true);
});

test('an identity-signed project role verifies and its file downloads; stock tuf-js cannot verify it', async () => {
  repo = await identityRepo(async (signed) => [await identitySignature(signed, ALICE)]);
  const dir = stateDir(repo.root1);
  const c = learning(dir);
  const file = await c.download('demo/app.tgz', path.join(dir, 'out', 'app.tgz'));
  assert.equal(file, path.join(dir, 'out', 'app.tgz'));
  assert.equal(fs.readFileSync(file, 'utf8'), 'demo app 1.0');
  // The Sigstore trusted root was learned through TUF, as a target of top-level targets.
  assert.ok(fs.existsSync(path.join(dir, 'targets', 'sigstore-trusted_root.json')));
  const info = await c.getTargetInfo('demo/app.tgz');
  assert.equal(info?.length, 'demo app 1.0'.length);
  assert.equal(await c.getTargetInfo('demo/absent.tgz'), undefined);
  await assert.rejects(
    c.download('demo/absent.tgz', path.join(dir, 'x')),
    (e) => e instanceof ClientError && e.code === 'target_not_found',
  );

  const plainDir = stateDir(repo.root1);
  const plain = new Updater(options(plainDir));
  await plain.refresh();
  await assert.rejects(plain.getTargetInfo('demo/app.tgz'), /demo was signed by 0\/1 keys/);
});

test("refused: another identity's signature under alice's keyid, alice's signature copied from other bytes, an unsigned role", async () => {
  const aliceKeyid = identityKeyid(ALICE, sigstore.sigstore.issuerUrl);
  const attacks: [string, (signed: JsonObject) => Promise<SignatureJson[]>][] = [
    [
      "a valid Sigstore signature by mallory, under alice's keyid",
      async (signed) => [await identitySignature(signed, MALLORY, aliceKeyid)],
    ],
    ["alice's genuine signature over other bytes", async (signed) => [await identitySignature({ ...signed, version: 1000 }, ALICE)]],
    ['no signature', async () => []],
  ];
  for (const [what, signatures] of attacks) {
    repo = await identityRepo(signatures);
    const c = learning(stateDir(repo.root1));
    await assert.rejects(
      c.getTargetInfo('demo/app.tgz'),
      (e) => isTrustError(e, 'threshold_not_met') && /demo was signed by 0\/1 keys/.test(e.message),
      what,
    );
  }
});

/** Ordinary keys only (tuf-js can verify them), with a role name that needs URL encoding. */
function plainRepo(): MemoryRepo {
  const r = new MemoryRepo();
  const [a, b] = [newKey(), newKey('ecdsa')];
  r.setRole(
    'targets',
    targetsSigned(
      1,
      { 'top.txt': r.addTarget('top.txt', Buffer.from('top')) },
      {
        delegations: delegations([
          { name: 'lib', keys: [a], paths: ['lib/*'] },
          { name: 'lib b+c', keys: [b], paths: ['lib/*', 'other/*'], terminating: true },
        ]),
      },
    ),
    [r.keys.targets],
  );
  r.setRole('lib', targetsSigned(3, { 'lib/one.txt': r.addTarget('lib/one.txt', Buffer.from('one')) }), [a]);
  r.setRole('lib b+c', targetsSigned(2, { 'lib/two.txt': r.addTarget('lib/two.txt', Buffer.from('two')) }), [b]);
  r.publish();
  return r;
}

test('the client asks for what tuf-js asks for, keeps the same files, and reads a state directory tuf-js wrote', async () => {
  repo = plainRepo();
  const tufDir = stateDir(repo.root1, 'tufjs');
  requests = [];
  const updater = new Updater(options(tufDir));
  await updater.refresh();
  const info = await updater.getTargetInfo('lib/two.txt');
  await updater.downloadTarget(info!, path.join(tufDir, 'two.txt'));
  assert.equal(fs.readFileSync(path.join(tufDir, 'two.txt'), 'utf8'), 'two');
  const tufRequests = requests;

  const ourDir = stateDir(repo.root1, 'ours');
  requests = [];
  const file = await client(ourDir).download('lib/two.txt', path.join(ourDir, 'two.txt'));
  assert.equal(fs.readFileSync(file, 'utf8'), 'two');
  assert.deepEqual(requests, tufRequests);
  assert.deepEqual(tufRequests, [
    '/metadata/2.root.json',
    '/metadata/timestamp.json',
    '/metadata/1.snapshot.json',
    '/metadata/1.targets.json',
    '/metadata/3.lib.json',
    '/metadata/2.lib%20b%2Bc.json',
    `/targets/lib/${JSON.parse(repo.roles.get('lib b+c')!.bytes.toString()).signed.targets['lib/two.txt'].hashes.sha256}.two.txt`,
  ]);
  const names = (dir: string) => fs.readdirSync(path.join(dir, 'metadata')).sort();
  assert.deepEqual(names(ourDir), names(tufDir));
  assert.ok(names(ourDir).includes('lib%20b%2Bc.json'));

  // In tuf-js's state directory nothing but the root probe, timestamp and the file is fetched.
  requests = [];
  await client(tufDir).download('lib/one.txt', path.join(tufDir, 'one.txt'));
  assert.deepEqual(requests, [
    '/metadata/2.root.json',
    '/metadata/timestamp.json',
    `/targets/lib/${JSON.parse(repo.roles.get('lib')!.bytes.toString()).signed.targets['lib/one.txt'].hashes.sha256}.one.txt`,
  ]);
});

test('roles listed by version only, and the bounds on lengths', async () => {
  repo = plainRepo();
  repo.bareMeta = true;
  repo.publish();
  const dir = stateDir(repo.root1);
  assert.equal(fs.readFileSync(await client(dir).download('lib/one.txt', path.join(dir, 'one.txt')), 'utf8'), 'one');
  // With no length in timestamp, the snapshot is bounded by the client's limit.
  await assert.rejects(client(stateDir(repo.root1), { snapshotMaxLength: 100 }).refresh(), (e) => isDownloadError(e, 'too_long'));
  await assert.rejects(client(stateDir(repo.root1), { targetsMaxLength: 100 }).refresh(), (e) => isDownloadError(e, 'too_long'));
  await assert.rejects(client(stateDir(repo.root1), { timestampMaxLength: 100 }).refresh(), (e) => isDownloadError(e, 'too_long'));
  // A target longer than it is listed: cut off at its length.
  rewrite = (p) => (p.startsWith('/targets/lib/') ? Buffer.from('one and more') : undefined);
  try {
    await assert.rejects(client(dir).download('lib/one.txt', path.join(dir, 'one-again.txt')), (e) => isDownloadError(e, 'too_long'));
    assert.ok(!fs.existsSync(path.join(dir, 'one-again.txt')), 'nothing left behind');
    rewrite = (p) => (p.startsWith('/targets/lib/') ? Buffer.from('on') : undefined);
    await assert.rejects(client(dir).download('lib/one.txt', path.join(dir, 'one-again.txt')), (e) =>
      isTrustError(e, 'length_or_hash_mismatch'),
    );
    rewrite = (p) => (p.startsWith('/targets/lib/') ? Buffer.from('ONE') : undefined);
    await assert.rejects(
      client(dir).download('lib/one.txt', path.join(dir, 'one-again.txt')),
      (e) => isTrustError(e, 'length_or_hash_mismatch') && /hash/.test(e.message),
    );
    assert.deepEqual(
      fs.readdirSync(dir).filter((f) => f.startsWith('one-again')),
      [],
    );
  } finally {
    rewrite = null;
  }
});

test('root rotation of the online keys: the client follows, and a timestamp pushed far ahead by the old key no longer blocks it', async () => {
  repo = plainRepo();
  // The attacker held the old timestamp key and made clients trust timestamp v1000.
  const oldTimestampKey = repo.keys.timestamp;
  repo.timestampVersion = 999;
  repo.publish();
  const dir = stateDir(repo.root1);
  await client(dir).refresh();
  assert.equal(JSON.parse(fs.readFileSync(path.join(dir, 'metadata', 'timestamp.json'), 'utf8')).signed.version, 1000);
  // Recovery: root v2 names new timestamp and snapshot keys; timestamp starts over at v1.
  const keys = repo.keys as { timestamp: ReturnType<typeof newKey>; snapshot: ReturnType<typeof newKey> };
  keys.timestamp = newKey();
  keys.snapshot = newKey();
  repo.setRoot(rootSigned(2, repo.rootRoles()), [repo.keys.root]);
  repo.timestampVersion = 0;
  repo.publish();
  assert.notEqual(repo.keys.timestamp.keyid, oldTimestampKey.keyid);
  const c = client(dir);
  assert.equal(fs.readFileSync(await c.download('lib/one.txt', path.join(dir, 'one.txt')), 'utf8'), 'one');
  const persisted = (role: string) => JSON.parse(fs.readFileSync(path.join(dir, 'metadata', `${role}.json`), 'utf8')).signed.version;
  assert.equal(persisted('root'), 2);
  assert.equal(persisted('timestamp'), 1);
  // Without the rotation a lower timestamp is a rollback.
  const again = stateDir(repo.root1);
  repo.publish(); // timestamp v2
  await client(again).refresh();
  repo.timestampVersion = 0;
  repo.publish(); // timestamp v1

  await assert.rejects(client(again).refresh(), (e) => isTrustError(e, 'bad_version') && /less than current version/.test(e.message));
});

test('freeze: an expired timestamp stops the update; a fresh one lets it through', async () => {
  repo = plainRepo();
  repo.publish({ timestampExpires: PAST });
  const dir = stateDir(repo.root1);
  await assert.rejects(client(dir).refresh(), (e) => isTrustError(e, 'expired'));
  assert.ok(!fs.existsSync(path.join(dir, 'metadata', 'timestamp.json')), 'an expired timestamp is not kept');
  repo.publish();
  await client(dir).refresh();
  // No trusted root at all: a clear error.
  const empty = path.join(work, 'empty');
  fs.mkdirSync(path.join(empty, 'metadata'), { recursive: true });
  await assert.rejects(client(empty).refresh(), (e) => e instanceof ClientError && e.code === 'no_trusted_root');
});

test('a repository that publishes no Sigstore trusted root: plain targets download, identity-signed roles need one given', async () => {
  const r = new MemoryRepo();
  const top = targetsSigned(
    1,
    { 'plain.txt': r.addTarget('plain.txt', Buffer.from('plain')) },
    {
      delegations: delegations([
        { name: 'demo', keys: [identityKey(ALICE, sigstore.sigstore.issuerUrl)], paths: ['demo/*'], terminating: true },
      ]),
    },
  );
  r.setRole('targets', top, [r.keys.targets]);
  const demo = targetsSigned(1, { 'demo/app.tgz': r.addTarget('demo/app.tgz', Buffer.from('app')) });
  r.setRole('demo', demo, Buffer.from(JSON.stringify({ signed: demo, signatures: [await identitySignature(demo, ALICE)] })));
  r.publish();
  repo = r;
  const dir = stateDir(r.root1);
  const plain = learning(dir);
  assert.equal(fs.readFileSync(await plain.download('plain.txt', path.join(dir, 'plain.txt')), 'utf8'), 'plain');
  assert.equal(plain.sigstoreRootSource(), 'none');
  await assert.rejects(
    learning(dir).getTargetInfo('demo/app.tgz'),
    (e) => e instanceof ClientError && e.code === 'no_sigstore_trusted_root' && /demo is signed by identities/.test(e.message),
  );
  // ... which is fine when it is given.
  const given = client(stateDir(r.root1));
  assert.ok(await given.getTargetInfo('demo/app.tgz'));
  assert.equal(given.sigstoreRootSource(), 'given');
});
