// A hostile mirror between the client and the repository rewrites responses. Our client must
// refuse each attack the TUF threat model names; a control request through the same mirror in
// pass-through mode shows that the refusal comes from the attack.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import request from 'supertest';
import {
  buildTargetsSigned,
  buildTimestampSigned,
  describeTarget,
  expiresAfter,
  metaEntryFor,
  servedBytes,
  signEnvelope,
  type Envelope,
} from '../core/metadata.ts';
import { IdentityClient } from '../client/identityUpdater.ts';
import { fetchUpstream as fetchFrom, publishDemo, startMirror, type Mirror, type Rewrite } from './helpers/mirror.ts';
import { bootstrappedWithSigstore, delegateProject, signAs, type TestRepo } from './helpers/repo.ts';

const ALICE = 'alice@example.com';
let t: TestRepo;
let work: string;
let mirror: Mirror;
let mirrorUrl: string;
let rewrite: Rewrite = (_p, up) => up();
const captured = new Map<string, Buffer>();

const fetchUpstream = (urlPath: string) => fetchFrom(t, urlPath);
const publish = (version: number, content: string) => publishDemo(t, ALICE, version, content);

before(async () => {
  let keys;
  ({ t, keys } = await bootstrappedWithSigstore());
  await delegateProject(t, keys, 'demo', [ALICE]);
  await publish(1, 'app 1');
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'tuf-mirror-'));
  fs.writeFileSync(path.join(work, 'root.json'), (await request(t.baseUrl).get('/metadata/1.root.json')).text);
  // Capture what an attacker could have recorded earlier: v1-era timestamp, snapshot and role.
  for (const p of [
    '/metadata/timestamp.json',
    `/metadata/${t.repo.cache.head('snapshot')!.version}.snapshot.json`,
    '/metadata/1.demo.json',
  ]) {
    captured.set(p, (await fetchUpstream(p))!);
  }
  await publish(2, 'app 2');
  mirror = await startMirror(t, () => rewrite);
  mirrorUrl = mirror.url;
});
after(async () => {
  await mirror.close();
  await t.close();
});

let clients = 0;
/** Reads snapshot.json (the standard TUF path) unless told to use TAP 16 proofs: test/mirrorProofs.test.ts covers those. */
let useProofs = false;
function client(dir?: string): { c: IdentityClient; dir: string } {
  const d = dir ?? path.join(work, `client-${++clients}`);
  const metadataDir = path.join(d, 'metadata');
  if (!fs.existsSync(metadataDir)) {
    fs.mkdirSync(metadataDir, { recursive: true });
    fs.copyFileSync(path.join(work, 'root.json'), path.join(metadataDir, 'root.json'));
  }
  return {
    dir: d,
    c: new IdentityClient({
      metadataDir,
      metadataBaseUrl: `${mirrorUrl}/metadata`,
      targetBaseUrl: `${mirrorUrl}/targets`,
      targetDir: path.join(d, 'targets'),
      snapshotMerkleProofs: useProofs,
    }),
  };
}

async function attack(
  what: string,
  r: Rewrite,
  act: (c: IdentityClient, dir: string) => Promise<unknown>,
  refusal: RegExp,
  prepared?: string,
): Promise<void> {
  // Control: through the honest mirror the same action succeeds.
  rewrite = (_p, up) => up();
  const control = client();
  await act(control.c, control.dir);
  rewrite = r;
  const victim = client(prepared);
  await assert.rejects(act(victim.c, victim.dir), refusal, what);
  rewrite = (_p, up) => up();
}

const download = (c: IdentityClient, dir: string) => c.download('demo/app.tgz', path.join(dir, 'app.tgz'));

test('rollback: an older timestamp than the client already trusts', async () => {
  const prepared = client();
  await prepared.c.refresh(); // trusts the current timestamp
  await attack(
    'rollback of timestamp',
    async (p, up) => (p === '/metadata/timestamp.json' ? captured.get(p)! : up()),
    (c) => c.refresh(),
    /less than current version/i,
    prepared.dir,
  );
});

test('rollback: an older project role served for the newer version', async () => {
  await attack(
    'rollback of demo',
    async (p, up) => (p === '/metadata/2.demo.json' ? captured.get('/metadata/1.demo.json')! : up()),
    download,
    /hash|length|version/i,
  );
});

test('freeze: a validly signed timestamp that has expired', async () => {
  // What an attacker replaying stale metadata achieves: the online key signed it, but it expired.
  const root = await t.repo.current.root();
  const snapshotHead = t.repo.cache.head('snapshot')!.version;
  const snapshotBytes = (await fetchUpstream(`/metadata/${snapshotHead}.snapshot.json`))!;
  const signed = buildTimestampSigned(
    t.repo.cache.head('timestamp')!.version + 1,
    '2020-01-01T00:00:00Z',
    metaEntryFor(snapshotHead, snapshotBytes),
  );
  const stale = servedBytes(await signEnvelope(signed, [await t.repo.publication.signers.signerFor('timestamp', root!.model)]));
  await attack(
    'freeze',
    async (p, up) => (p === '/metadata/timestamp.json' ? stale : up()),
    (c) => c.refresh(),
    /expired/i,
  );
});

test('mix-and-match: a snapshot from another version than timestamp names', async () => {
  const head = t.repo.cache.head('snapshot')!.version;
  await attack(
    'mix-and-match',
    async (p, up) =>
      p === `/metadata/${head}.snapshot.json` ? captured.get([...captured.keys()].find((k) => k.endsWith('.snapshot.json'))!)! : up(),
    (c) => c.refresh(),
    /hash|length|version/i,
  );
});

test('the attacks on the role and its files are refused with TAP 16 proofs too', async () => {
  useProofs = true;
  try {
    await attack(
      'rollback of demo (proofs)',
      async (p, up) => (p === '/metadata/2.demo.json' ? captured.get('/metadata/1.demo.json')! : up()),
      download,
      /hash|length|version/i,
    );
    await attack(
      'arbitrary package (proofs)',
      async (p, up) => (p.startsWith('/targets/demo/') ? Buffer.alloc(5, 0x41) : up()),
      download,
      /hash/i,
    );
  } finally {
    useProofs = false;
  }
});

test('arbitrary package: the target bytes swapped', async () => {
  await attack(
    'arbitrary package',
    async (p, up) =>
      p.startsWith('/targets/demo/')
        ? Buffer.from('app 2') /* wrong content, same length */
            .fill(0x41)
        : up(),
    download,
    /hash|length/i,
  );
});

test('endless data: oversized responses for metadata and for a target', async () => {
  await attack(
    'endless timestamp',
    async (p, up) => (p === '/metadata/timestamp.json' ? 'endless' : up()),
    (c) => c.refresh(),
    /max|length|exceed/i,
  );
  await attack('endless target', async (p, up) => (p.startsWith('/targets/demo/') ? 'endless' : up()), download, /max|length|exceed|hash/i);
});

test('a project role signed by an identity the delegation does not name', async () => {
  const version = t.repo.cache.head('demo')!.version;
  const evil = await signAs(
    t,
    buildTargetsSigned({
      version,
      expires: expiresAfter(t.clock.now(), 86_400),
      targets: { 'demo/app.tgz': describeTarget(Buffer.from('evil!')) },
    }),
    [{ identity: 'mallory@example.com' }],
  );
  const evilBytes = servedBytes(evil as Envelope);
  await attack(
    'wrong identity',
    async (p, up) => (p === `/metadata/${version}.demo.json` ? evilBytes : up()),
    download,
    /hash|length|signed by 0\/1 keys/i,
  );
});
