// Identity delegations end to end on the local Sigstore: clients (and the history check) refuse
// identity-signed roles that reached the repository without the delegated identity's signature.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Updater } from 'tuf-js';
import { identityKeyid } from '../core/identity.ts';
import { servedBytes, type Envelope } from '../core/metadata.ts';
import { identityVerificationInstalled } from '../client/identityUpdater.ts';
import { insertMetadataVersion } from '../server/db/metadataRepo.ts';
import { runCli } from './helpers/cli.ts';
import { ALICE, MALLORY, projectTools, saveTrustedRoot, startProjectsRepo } from './helpers/projects.ts';
import { delegateProject, signAs, type CeremonyKeys, type TestRepo } from './helpers/repo.ts';

let t: TestRepo;
let keys: CeremonyKeys;
let work: string;

const { upload, release, client } = projectTools(() => ({ t, work }));

before(async () => {
  ({ t, keys, work } = await startProjectsRepo());
  // What the registration and publishing flows leave behind: demo delegated to alice, v1 published.
  await saveTrustedRoot(t, work);
  await delegateProject(t, keys, 'demo', [ALICE]);
  const v1 = { 'demo/demo-1.0.tgz': Buffer.from('demo 1.0 release bytes\n') };
  const published = await upload('demo', await signAs(t, release(1, v1), [{ identity: ALICE }]), v1);
  assert.equal(published.status, 201, JSON.stringify(published.body));
});
after(async () => t.close());

describe('clients refuse what the delegated identities did not sign', () => {
  test('the identity extension is installed and an unmodified tuf-js cannot verify identity roles', async () => {
    assert.equal(identityVerificationInstalled(), true);
    // Outside an IdentityClient, the patched verifier has no Sigstore verifier and fails closed.
    const dir = path.join(work, 'plain');
    fs.mkdirSync(path.join(dir, 'metadata'), { recursive: true });
    fs.copyFileSync(path.join(work, 'root.json'), path.join(dir, 'metadata', 'root.json'));
    const plain = new Updater({
      metadataBaseUrl: `${t.baseUrl}/metadata`,
      targetBaseUrl: `${t.baseUrl}/targets`,
      metadataDir: path.join(dir, 'metadata'),
      targetDir: path.join(dir, 'targets'),
    });
    await plain.refresh();
    await assert.rejects(plain.getTargetInfo('demo/demo-1.0.tgz'), /signed by 0\/1 keys/);
  });

  test("roles that reached the repository without the delegated identity's signature are refused by the client", async () => {
    // Bypass the server's checks, as a compromised server or database would, and publish roles for
    // demo that the delegated identity (alice) did not sign.
    const issuer = t.sigstore.sigstore.issuerUrl;
    const aliceKeyid = identityKeyid(ALICE, issuer);
    const files = { 'demo/evil.tgz': Buffer.from('evil') };
    const attacks: [string, (version: number) => Promise<Envelope>][] = [
      [
        "a valid Sigstore signature by another identity, under alice's keyid",
        async (version) => {
          const env = await signAs(t, release(version, files), [{ identity: MALLORY, keyIssuer: issuer }]);
          env.signatures[0]!.keyid = aliceKeyid;
          return env;
        },
      ],
      [
        "alice's genuine signature, copied from other bytes",
        async (version) => {
          const genuine = await signAs(t, release(version + 1000, files), [{ identity: ALICE }]);
          return { signed: release(version, files), signatures: genuine.signatures };
        },
      ],
    ];
    for (const [i, [what, make]] of attacks.entries()) {
      const version = t.repo.cache.head('demo')!.version + 1;
      const evil = await make(version);
      await t.repo.publication.transaction('exclusive', async (tx) => {
        await insertMetadataVersion(tx.db, {
          role: 'demo',
          version,
          bytes: servedBytes(evil),
          expires: new Date(String(evil.signed.expires)),
        });
        tx.announce({ role: 'demo', version });
        await tx.signSnapshotAndTimestamp('attack');
      });
      const c = client(`victim-${i}`);
      await c.refresh();
      await assert.rejects(c.getTargetInfo('demo/evil.tgz'), /signed by 0\/1 keys/, what);
    }
    // The history check finds exactly what bypassed the server's checks.
    fs.writeFileSync(path.join(work, 'sigstore-root-for-audit.json'), JSON.stringify(t.sigstore.setup.trustedRoot));
    const audit = await runCli('server/main.ts', ['audit', 'verify'], {
      DATABASE_URL: t.databaseUrl,
      TUF_HOME: t.home,
      DEV_SIGSTORE: 'false',
      SIGSTORE_TRUSTED_ROOT: path.join(work, 'sigstore-root-for-audit.json'),
    });
    assert.equal(audit.status, 3, `problems found: exit 3; ${audit.stderr}`);
    const flagged = audit.stdout.split('\n').filter((l) => /^demo v\d+: /.test(l));
    assert.ok(
      flagged.some((l) => /not signed by the threshold of its delegation/.test(l)),
      audit.stdout,
    );
    assert.ok(
      flagged.some((l) => /no audit entry records it/.test(l)),
      audit.stdout,
    );
    assert.deepEqual(
      audit.stdout.split('\n').filter((l) => /^[a-z0-9.-]+ v\d+: /.test(l) && !l.startsWith('demo ')),
      [],
      'nothing else flagged',
    );
  });
});
