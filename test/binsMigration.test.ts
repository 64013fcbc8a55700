// Moving a flat repository to bins with the real tools (tuf-carry pull, tuf-offline
// migrate-to-bins and sign, tuf-carry push --with-bins): clients that updated before follow, the
// moved project keeps publishing with its old paths, a new project lands in its hashed directory.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { Updater } from 'tuf-js';
import { binnedProjectDirectory, isBinName, projectPlacement } from '../core/bins.ts';
import { editedTargetsSigned } from '../core/ceremony.ts';
import type { JsonObject } from '../core/canonical.ts';
import { withDelegation } from '../core/delegations.ts';
import { IdentitySignatureVerifier } from '../core/identity.ts';
import { decodePrivateKeyFile, encodePrivateKeyFile, publicKeyFileOf } from '../core/keyFile.ts';
import { generatePrivateKey } from '../core/keys.ts';
import { buildTargetsSigned, describeTarget, expiresAfter, signEnvelope } from '../core/metadata.ts';
import { privateKeySigner } from '../core/signer.ts';
import { IdentityClient } from '../client/identityUpdater.ts';
import { verifyHistory } from '../server/admin/historyCheck.ts';
import { mustRun } from './helpers/cli.ts';
import { bootstrappedWithSigstore, delegateProject, signAs, type CeremonyKeys, type TestRepo } from './helpers/repo.ts';

const ALICE = 'alice@example.com';
const PASSPHRASE = 'migration-test-passphrase';
let t: TestRepo;
let keys: CeremonyKeys;
let work: string;

before(async () => {
  ({ t, keys } = await bootstrappedWithSigstore());
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'tuf-migrate-'));
  fs.writeFileSync(path.join(work, 'root.json'), await (await fetch(`${t.baseUrl}/metadata/1.root.json`)).text());
  const targetsFile = encodePrivateKeyFile('publisher', keys.targets[0]!, PASSPHRASE);
  fs.writeFileSync(path.join(work, 'publisher.key.json'), JSON.stringify(targetsFile));
  const binsFile = encodePrivateKeyFile('bins', generatePrivateKey('ed25519'), PASSPHRASE);
  fs.writeFileSync(path.join(work, 'bins.key.json'), JSON.stringify(binsFile));
  fs.writeFileSync(path.join(work, 'bins.pub.json'), JSON.stringify(publicKeyFileOf(binsFile)));
});
after(async () => t.close());

const offline = (...args: string[]) => mustRun('keys-offline/main.ts', args, { TUF_KEY_PASSPHRASE: PASSPHRASE }, work);
const carry = (...args: string[]) => mustRun('carry/main.ts', ['--server', t.baseUrl, ...args], { TUF_ADMIN_TOKEN: t.adminToken }, work);

function release(version: number, files: Record<string, Buffer>): JsonObject {
  const targets = Object.fromEntries(Object.entries(files).map(([p, b]) => [p, describeTarget(b)]));
  return buildTargetsSigned({ version, expires: expiresAfter(t.clock.now(), 30 * 86_400), targets });
}

/** A client's state directories, kept across calls (a client that updated before). */
function clientOptions(name: string) {
  const metadataDir = path.join(work, name, 'metadata');
  if (!fs.existsSync(metadataDir)) {
    fs.mkdirSync(metadataDir, { recursive: true });
    fs.copyFileSync(path.join(work, 'root.json'), path.join(metadataDir, 'root.json'));
  }
  return {
    metadataBaseUrl: `${t.baseUrl}/metadata`,
    targetBaseUrl: `${t.baseUrl}/targets`,
    metadataDir,
    targetDir: path.join(work, name, 'targets'),
  };
}

const ourClient = (name: string) => new IdentityClient(clientOptions(name));
const stockClient = (name: string) => new Updater(clientOptions(name));

test('a flat repository moves to bins; clients that updated before follow; every project keeps publishing', async () => {
  // Before: "legacy" delegated by top-level targets, one release, clients up to date.
  await delegateProject(t, keys, 'legacy', [ALICE]);
  const v1 = Buffer.from('legacy 1\n');
  assert.equal(
    (
      await t.repo.projects.upload(
        'legacy',
        await signAs(t, release(1, { 'legacy/a.tgz': v1 }), [{ identity: ALICE }]),
        new Map([['legacy/a.tgz', v1]]),
      )
    ).status,
    'published',
  );
  assert.ok(fs.readFileSync(await ourClient('ours').download('legacy/a.tgz', path.join(work, 'a-before.tgz'))).equals(v1));
  await stockClient('stock').refresh();

  // The ceremony: pull, migrate, sign with the targets key and the bins key, push in one request.
  await carry('pull', '--out', 'pulled');
  const current = fs.readdirSync(path.join(work, 'pulled')).find((f) => /^\d+\.targets\.json$/.test(f))!;
  const out = await offline(
    'migrate-to-bins',
    '--from',
    path.join('pulled', current),
    '--out',
    'migrated',
    '--bins-key',
    'bins.pub.json',
    '--bins',
    '16',
  );
  assert.match(out, /16 bins holding 1 moved delegations/);
  const next = fs.readdirSync(path.join(work, 'migrated')).find((f) => f.endsWith('.targets.json'))!;
  await offline('sign', path.join('migrated', next), '--key', 'publisher.key.json');
  const binFiles = fs.readdirSync(path.join(work, 'migrated', 'bins')).map((f) => path.join('migrated', 'bins', f));
  assert.equal(binFiles.length, 16);
  await offline('sign', ...binFiles, '--key', 'bins.key.json');
  await carry('push', path.join('migrated', next), '--with-bins', path.join('migrated', 'bins'));

  // After: top-level targets delegates bins only; legacy sits in its bin with its old paths.
  const top = (await t.repo.current.targets())!;
  assert.ok(Object.keys(top.model.delegations!.roles!).every(isBinName));
  const placement = projectPlacement(top.envelope.signed, 'legacy');
  assert.deepEqual(placement.paths, ['legacy/*']);
  const info = await t.repo.projects.info('legacy');
  assert.deepEqual([info.delegated, info.paths, info.version], [true, ['legacy/*'], 1]);
  const resign = await fetch(`${t.baseUrl}/admin/projects/resign-needed`, { headers: { authorization: `Bearer ${t.adminToken}` } });
  assert.deepEqual(((await resign.json()) as { projects: unknown[] }).projects, [], 'nothing published needs re-signing');

  // The client that updated before follows: the same file still verifies, now through the bin.
  assert.ok(fs.readFileSync(await ourClient('ours').download('legacy/a.tgz', path.join(work, 'a-after.tgz'))).equals(v1));
  // A stock tuf-js client from before walks the new layout down to the project role (which it
  // cannot verify: identity keys), keeping the bin it verified on the way.
  const stock = stockClient('stock');
  await stock.refresh();
  await assert.rejects(stock.getTargetInfo('legacy/a.tgz'), /legacy was signed by 0\/1 keys/);
  assert.ok(fs.existsSync(path.join(work, 'stock', 'metadata', `${placement.role}.json`)));

  // The moved project keeps publishing as before.
  const v2 = Buffer.from('legacy 2\n');
  const files = { 'legacy/a.tgz': v1, 'legacy/b.tgz': v2 };
  assert.equal(
    (await t.repo.projects.upload('legacy', await signAs(t, release(2, files), [{ identity: ALICE }]), new Map([['legacy/b.tgz', v2]])))
      .status,
    'published',
  );
  assert.ok(fs.readFileSync(await ourClient('ours').download('legacy/b.tgz', path.join(work, 'b.tgz'))).equals(v2));

  // A new project goes into its bin, under its hashed directory.
  const freshPlacement = projectPlacement(top.envelope.signed, 'fresh');
  const bin = (await t.repo.current.delegated(t.repo.knex, freshPlacement.role))!;
  const approved = editedTargetsSigned(
    withDelegation(bin.envelope.signed, 'fresh', [{ identity: ALICE, issuer: t.sigstore.sigstore.issuerUrl }], 1, freshPlacement.paths),
    {},
    t.clock.now(),
  );
  const binsKey = decodePrivateKeyFile(JSON.parse(fs.readFileSync(path.join(work, 'bins.key.json'), 'utf8')), PASSPHRASE).privateKey;
  await t.repo.admission.submitDelegated(
    new Map([[freshPlacement.role, await signEnvelope(approved, [privateKeySigner(binsKey)])]]),
    'test',
  );
  const freshPath = `${binnedProjectDirectory('fresh')}/f.tgz`;
  const f = Buffer.from('fresh 1\n');
  assert.equal(
    (
      await t.repo.projects.upload(
        'fresh',
        await signAs(t, release(1, { [freshPath]: f }), [{ identity: ALICE }]),
        new Map([[freshPath, f]]),
      )
    ).status,
    'published',
  );
  const client = ourClient('ours');
  assert.equal(await client.resolveTargetPath('fresh/f.tgz'), freshPath);
  assert.ok(fs.readFileSync(await client.download(freshPath, path.join(work, 'f.tgz'))).equals(f));

  const report = await verifyHistory(t.repo.knex, new IdentitySignatureVerifier(t.sigstore.setup.trustedRoot));
  assert.deepEqual(report.problems, []);
});
