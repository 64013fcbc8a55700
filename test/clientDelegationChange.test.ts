// A project role that no longer meets its changed delegation (issue 22): after an admin revokes a
// maintainer, or raises the threshold, and before a current maintainer re-signs, the client still
// refuses the role, and says why: who may sign now (identity and issuer), the threshold, and that
// the project awaits re-signing. Forged signatures keep the plain refusal (test/client.test.ts).
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import request from 'supertest';
import { buildTargetsSigned, describeTarget, expiresAfter } from '../core/metadata.ts';
import { isTrustError } from '../core/trustedSet.ts';
import { ClientError, DelegationNotMetError, IdentityClient } from '../client/identityUpdater.ts';
import { mustRun, runCli } from './helpers/cli.ts';
import { bootstrappedWithSigstore, delegateProject, signAs, type CeremonyKeys, type TestRepo } from './helpers/repo.ts';

const ALICE = 'alice@example.com';
const BOB = 'bob@example.com';
const CAROL = 'carol@example.com';

let t: TestRepo;
let keys: CeremonyKeys;
let work: string;
let issuer: string;

before(async () => {
  ({ t, keys } = await bootstrappedWithSigstore());
  issuer = t.sigstore.sigstore.issuerUrl;
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'tuf-delegation-change-'));
  fs.writeFileSync(path.join(work, '1.root.json'), (await request(t.baseUrl).get('/metadata/1.root.json')).text);
});
after(async () => {
  await t.close();
  fs.rmSync(work, { recursive: true, force: true });
});

function identityClient(name: string): IdentityClient {
  const metadataDir = path.join(work, name, 'metadata');
  if (!fs.existsSync(metadataDir)) {
    fs.mkdirSync(metadataDir, { recursive: true });
    fs.copyFileSync(path.join(work, '1.root.json'), path.join(metadataDir, 'root.json'));
  }
  return new IdentityClient({
    metadataDir,
    metadataBaseUrl: `${t.baseUrl}/metadata`,
    targetDir: path.join(work, name, 'targets'),
    targetBaseUrl: `${t.baseUrl}/targets`,
  });
}

async function publish(project: string, version: number, file: string, content: string, by: string[]): Promise<void> {
  const targets = { [file]: describeTarget(Buffer.from(content)) };
  const signed = buildTargetsSigned({ version, expires: expiresAfter(t.clock.now(), 30 * 86_400), targets });
  const env = await signAs(
    t,
    signed,
    by.map((identity) => ({ identity })),
  );
  const res = await request(t.baseUrl)
    .post(`/api/v1/projects/${project}/uploads`)
    .send({ metadata: env, files: { [file]: Buffer.from(content).toString('base64') } });
  assert.equal(res.status, 201, JSON.stringify(res.body));
}

test('a maintainer revoked: the client names the identities the delegation names now, the threshold, and that the project awaits re-signing', async () => {
  await delegateProject(t, keys, 'lib', [ALICE, BOB]);
  await publish('lib', 1, 'lib/lib-1.0.tgz', 'lib 1.0', [ALICE]);
  assert.ok(await identityClient('user').getTargetInfo('lib/lib-1.0.tgz'));

  await delegateProject(t, keys, 'lib', [BOB]); // alice's account was compromised
  const refused = await identityClient('user')
    .download('lib/lib-1.0.tgz', path.join(work, 'lib.tgz'))
    .then(
      () => assert.fail('the role signed only by the revoked identity must be refused'),
      (err: unknown) => err,
    );
  assert.ok(refused instanceof DelegationNotMetError && refused instanceof ClientError, String(refused));
  assert.equal(refused.code, 'delegation_not_met');
  assert.ok(isTrustError(refused.cause, 'threshold_not_met'), 'the trusted set refused it');
  assert.deepEqual(refused.delegation, {
    role: 'lib',
    delegator: 'targets',
    threshold: 1,
    identities: [{ identity: BOB, issuer }],
    otherKeyids: [],
  });
  assert.equal(
    refused.message,
    'lib v1 does not meet its delegation in targets as it is now: lib was signed by 0/1 keys the delegation names now, ' +
      `and by ${ALICE} (issuer ${issuer}), whom it does not name (any more). The delegation now names ${BOB} (issuer ` +
      `${issuer}), threshold 1: it changed after this version was signed (a maintainer revoked or replaced, or the ` +
      'threshold raised), or this version was never signed by one of its maintainers. The project awaits re-signing by ' +
      'a current maintainer (`tuf-maintainer resign --project lib`); until then its files are refused.',
  );
  assert.equal(fs.existsSync(path.join(work, 'lib.tgz')), false, 'nothing was saved');

  // tuf-client fetch says the same, with the code, and exits non-zero.
  const cli = await runCli('client/main.ts', [
    'fetch',
    'lib/lib-1.0.tgz',
    '--server',
    t.baseUrl,
    '--root',
    path.join(work, '1.root.json'),
    '--out',
    path.join(work, 'cli-lib.tgz'),
    '--dir',
    path.join(work, 'cli'),
  ]);
  assert.equal(cli.status, 3, `refused by verification: exit 3; ${cli.stdout}${cli.stderr}`);
  assert.ok(cli.stderr.includes(`The delegation now names ${BOB} (issuer ${issuer}), threshold 1:`), cli.stderr);
  assert.match(cli.stderr, /The project awaits re-signing by a current maintainer/);
  assert.match(cli.stderr, /\[delegation_not_met\]$/m);

  // What the others see meanwhile (docs/runbooks.md): the revoked identity's tool refuses first,
  // the remaining maintainer is told to re-sign.
  fs.writeFileSync(path.join(work, 'lib-2.0.tgz'), 'evil');
  const revoked = await runCli('maintainer/main.ts', [
    'publish',
    '--server',
    t.baseUrl,
    '--project',
    'lib',
    '--dev-identity',
    ALICE,
    path.join(work, 'lib-2.0.tgz'),
  ]);
  assert.equal(revoked.status, 1, revoked.stdout + revoked.stderr);
  assert.ok(revoked.stderr.includes(`${ALICE} at ${issuer} is not a maintainer of lib (maintainers: ${BOB} at ${issuer})`), revoked.stderr);
  // Flat layout: the delegator is top-level targets, and its version is the one that changed it.
  const targetsVersion = t.repo.cache.head('targets')!.version;
  const since = `NEEDS RE-SIGNING: v1 has 0 valid signature(s) of the 1 now required (since targets v${targetsVersion}); `;
  const status = await mustRun('maintainer/main.ts', ['status', '--server', t.baseUrl, '--project', 'lib']);
  assert.ok(status.includes(`${since}a current maintainer (${BOB} at ${issuer}) runs \`tuf-maintainer resign --project lib\``), status);
  const asBob = await mustRun('maintainer/main.ts', ['status', '--server', t.baseUrl, '--project', 'lib', '--dev-identity', BOB]);
  assert.ok(asBob.includes(`${since}run \`tuf-maintainer resign\``), asBob);
  const asAlice = await mustRun('maintainer/main.ts', ['status', '--server', t.baseUrl, '--project', 'lib', '--dev-identity', ALICE]);
  assert.ok(asAlice.includes(`NOT A MAINTAINER ANY MORE: ${ALICE} at ${issuer} is not a maintainer of lib any more`), asAlice);

  // Once bob re-signs, the same client verifies and downloads it.
  assert.match(
    await mustRun('maintainer/main.ts', ['resign', '--server', t.baseUrl, '--project', 'lib', '--dev-identity', BOB]),
    /published lib v2/,
  );
  const file = await identityClient('user').download('lib/lib-1.0.tgz', path.join(work, 'lib.tgz'));
  assert.equal(fs.readFileSync(file, 'utf8'), 'lib 1.0');
});

test('the threshold raised: the current maintainer signature counts 1 of the 2 now required', async () => {
  await delegateProject(t, keys, 'app', [BOB]);
  await publish('app', 1, 'app/app-1.0.tgz', 'app 1.0', [BOB]);
  assert.ok(await identityClient('app-user').getTargetInfo('app/app-1.0.tgz'));
  await delegateProject(t, keys, 'app', [BOB, CAROL], 2);
  await assert.rejects(
    identityClient('app-user').getTargetInfo('app/app-1.0.tgz'),
    (err: unknown) =>
      err instanceof ClientError &&
      err.code === 'delegation_not_met' &&
      err.message.startsWith(
        'app v1 does not meet its delegation in targets as it is now: app was signed by 1/2 keys the delegation names now. ',
      ) &&
      err.message.includes(
        `The delegation now names ${BOB} (issuer ${issuer}), ${CAROL} (issuer ${issuer}), threshold 2: it changed after`,
      ) &&
      !err.message.includes('never signed') &&
      err.message.includes('The project awaits re-signing by a current maintainer'),
  );
});
