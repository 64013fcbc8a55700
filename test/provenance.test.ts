// Author-and-builder policies end to end, on a real server, the local Sigstore and real clients: a
// delegation that requires build provenance from a CI workflow identity (signed offline with the
// delegation), uploads refused without a verifying attestation (nothing stored), the maintainer's
// and the CI job's commands, the client verifying the attestation again before it saves the file
// (also what bypassed the server), `tuf-client verify` showing it, and a changed builder.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import request from 'supertest';
import { sha256Hex } from '../core/canonical.ts';
import { attestationPathFor } from '../core/provenance.ts';
import { describeTarget, servedBytes, type Envelope } from '../core/metadata.ts';
import { isClientRefusal } from './helpers/refusals.ts';
import { insertMetadataVersion } from '../server/db/metadataRepo.ts';
import { putBlob, replaceTargetRecords } from '../server/db/targetsRepo.ts';
import { runCli } from './helpers/cli.ts';
import { ALICE, projectTools, saveTrustedRoot, startProjectsRepo } from './helpers/projects.ts';
import { attestAs, CI, delegateWithProvenance, GITHUB_ISSUER, RELEASE_WORKFLOW } from './helpers/provenance.ts';
import { signAs, type CeremonyKeys, type TestRepo } from './helpers/repo.ts';

let t: TestRepo;
let keys: CeremonyKeys;
let work: string;
const { upload, release, state, client } = projectTools(() => ({ t, work }));

const FILE = 'mylib/mylib-1.0.tgz';
const BYTES = Buffer.from('mylib 1.0, built by CI\n');

before(async () => {
  ({ t, keys, work } = await startProjectsRepo());
  await saveTrustedRoot(t, work);
  await delegateWithProvenance(t, keys, 'mylib', [ALICE], CI);
});
after(async () => t.close());

/** Inline upload of `files` as mylib v`version`, signed by alice. */
async function uploadAsAlice(version: number, files: Record<string, Buffer>) {
  return upload('mylib', await signAs(t, release(version, files), [{ identity: ALICE }]), files);
}

describe('the server refuses what lacks a verifying attestation', () => {
  test('the requirement is part of the delegation, and the project API names it', async () => {
    const info = (await request(t.baseUrl).get('/api/v1/projects/mylib')).body;
    assert.deepEqual(info.provenance, { identity: RELEASE_WORKFLOW, issuer: GITHUB_ISSUER });
    const targets = (await t.repo.current.targets())!.envelope.signed as { delegations: { roles: Record<string, unknown>[] } };
    const role = targets.delegations.roles.find((r) => r.name === 'mylib')!;
    assert.deepEqual(role['x-build-provenance'], { identity: RELEASE_WORKFLOW, issuer: GITHUB_ISSUER });
  });

  test('a release without an attestation is refused before any file is stored', async () => {
    const before = await state();
    const res = await uploadAsAlice(1, { [FILE]: BYTES });
    assert.equal(res.status, 422, JSON.stringify(res.body));
    assert.equal(res.body.error.code, 'provenance_missing');
    assert.match(res.body.error.message, new RegExp(`no attestation is listed for ${FILE}`));
    assert.deepEqual(await state(), before);
  });

  test('attestations that do not verify are refused, and never stored', async () => {
    const other = Buffer.from('other bytes\n');
    const cases: [string, () => Promise<Buffer>, RegExp][] = [
      [
        'signed by another workflow',
        () => attestAs(t, { [FILE]: BYTES }, { identity: RELEASE_WORKFLOW.replace('v1.0.0', 'v1.0.1'), issuer: GITHUB_ISSUER }),
        /not by the required builder/,
      ],
      [
        'the same workflow name at another issuer',
        () => attestAs(t, { [FILE]: BYTES }, { identity: RELEASE_WORKFLOW, issuer: t.sigstore.sigstore.issuerUrl }),
        /not by the required builder/,
      ],
      ['about other bytes', () => attestAs(t, { [FILE]: other }), /no subject has the file's sha256/],
      [
        'SLSA provenance v0.2',
        () => attestAs(t, { [FILE]: BYTES }, CI, { predicateType: 'https://slsa.dev/provenance/v0.2' }),
        /not SLSA provenance v1/,
      ],
      ['not an in-toto payload', () => attestAs(t, { [FILE]: BYTES }, CI, { payloadType: 'text/plain' }), /payload type text\/plain/],
      ['not a bundle', async () => Buffer.from('{"hello": "world"}'), /bundle is malformed|DSSE/],
      [
        "a maintainer's message signature instead of an attestation",
        async () =>
          Buffer.from(JSON.stringify((await signAs(t, release(1, { [FILE]: BYTES }), [{ identity: ALICE }])).signatures[0]!.bundle)),
        /no DSSE envelope/,
      ],
      [
        'one byte of the statement changed',
        async () => {
          const bundle = JSON.parse((await attestAs(t, { [FILE]: BYTES })).toString()) as { dsseEnvelope: { payload: string } };
          const payload = Buffer.from(bundle.dsseEnvelope.payload, 'base64').toString().replace('mylib-1.0.tgz', 'mylib-1.1.tgz');
          bundle.dsseEnvelope.payload = Buffer.from(payload).toString('base64');
          return Buffer.from(JSON.stringify(bundle));
        },
        /DSSE payload hash mismatch|signature/,
      ],
    ];
    for (const [what, make, reason] of cases) {
      const before = await state();
      const res = await uploadAsAlice(1, { [FILE]: BYTES, [attestationPathFor(FILE)]: await make() });
      assert.equal(res.status, 422, `${what}: ${JSON.stringify(res.body)}`);
      assert.equal(res.body.error.code, 'provenance_invalid', what);
      assert.match(res.body.error.message, reason, what);
      assert.deepEqual(await state(), before, `${what}: nothing stored`);
    }
  });

  test('a streamed attestation that does not verify is refused when it arrives, before it is stored', async () => {
    const wrong = await attestAs(t, { [FILE]: BYTES }, { identity: `${RELEASE_WORKFLOW}-other`, issuer: GITHUB_ISSUER });
    const files = { [FILE]: BYTES, [attestationPathFor(FILE)]: wrong };
    const metadata = await signAs(t, release(1, files), [{ identity: ALICE }]);
    const first = await upload('mylib', metadata); // the metadata alone: files follow
    assert.equal(first.status, 202, JSON.stringify(first.body));
    assert.equal(first.body.status, 'awaiting_files');
    const put = (p: string, bytes: Buffer) =>
      request(t.baseUrl)
        .put(`/api/v1/projects/mylib/uploads/${first.body.signedSha256}/files/${p}`)
        .type('application/octet-stream')
        .send(bytes);
    assert.equal((await put(FILE, BYTES)).status, 202);
    const before = await state();
    const res = await put(attestationPathFor(FILE), wrong);
    assert.equal(res.status, 422, JSON.stringify(res.body));
    assert.equal(res.body.error.code, 'provenance_invalid');
    assert.match(res.body.error.message, /not by the required builder/);
    assert.deepEqual(await state(), before, 'the attestation is not stored');
    assert.equal(t.repo.cache.head('mylib') ?? null, null, 'nothing published');
  });

  test('an attestation about a file the role does not list is refused', async () => {
    const res = await uploadAsAlice(1, { [FILE]: BYTES, [attestationPathFor('mylib/gone.tgz')]: await attestAs(t, { [FILE]: BYTES }) });
    assert.equal(res.status, 422);
    assert.equal(res.body.error.code, 'provenance_invalid');
  });
});

describe('the author-and-CI release, with the real commands', () => {
  const cli = (tool: string, args: string[]) => runCli(tool, args, {}, work);

  test('tuf-maintainer publish refuses, before signing, a file no --provenance bundle attests', async () => {
    const file = path.join(work, 'mylib-1.0.tgz');
    fs.writeFileSync(file, BYTES);
    const res = await cli('maintainer/main.ts', ['publish', '--server', t.baseUrl, '--project', 'mylib', '--dev-identity', ALICE, file]);
    assert.equal(res.status, 1, res.stdout + res.stderr);
    assert.match(
      res.stderr,
      /requires build provenance by https:\/\/github\.com\/acme\/mylib\/.+ for every file; no --provenance bundle attests mylib\/mylib-1\.0\.tgz/,
    );
  });

  test('CI attests, the author publishes with the attestation, and a client verifies both before saving the file', async () => {
    const file = path.join(work, 'mylib-1.0.tgz');
    const bundle = path.join(work, 'mylib-1.0.tgz.intoto.json');
    const attested = await cli('maintainer/main.ts', [
      'attest',
      file,
      '--out',
      bundle,
      '--server',
      t.baseUrl,
      '--dev-identity',
      RELEASE_WORKFLOW,
      '--dev-issuer',
      GITHUB_ISSUER,
      '--source',
      'git+https://github.com/acme/mylib@refs/tags/v1.0.0',
    ]);
    assert.equal(attested.status, 0, attested.stdout + attested.stderr);
    assert.match(
      attested.stdout,
      /SLSA provenance v1 for mylib-1\.0\.tgz, signed by https:\/\/github\.com\/acme\/mylib\/.+ \(issuer https:\/\/token\.actions\.githubusercontent\.com\)/,
    );

    const published = await cli('maintainer/main.ts', [
      'publish',
      '--server',
      t.baseUrl,
      '--project',
      'mylib',
      '--dev-identity',
      ALICE,
      file,
      '--provenance',
      bundle,
    ]);
    assert.equal(published.status, 0, published.stdout + published.stderr);
    assert.match(published.stdout, /attestation .+ listed as mylib\/mylib-1\.0\.tgz\.provenance\.sigstore\.json/);
    assert.match(published.stdout, /published mylib v1/);

    const out = path.join(work, 'fetched', 'mylib-1.0.tgz');
    const fetched = await cli('client/main.ts', [
      'fetch',
      FILE,
      '--server',
      t.baseUrl,
      '--root',
      path.join(work, 'root.json'),
      '--dir',
      path.join(work, 'cli-client'),
      '--out',
      out,
    ]);
    assert.equal(fetched.status, 0, fetched.stdout + fetched.stderr);
    assert.match(
      fetched.stderr,
      /build provenance: mylib\/mylib-1\.0\.tgz built by https:\/\/github\.com\/acme\/mylib\/\.github\/workflows\/release\.yml@refs\/tags\/v1\.0\.0 \(issuer https:\/\/token\.actions\.githubusercontent\.com\) from git\+https:\/\/github\.com\/acme\/mylib@refs\/tags\/v1\.0\.0 \(SLSA provenance v1, verified\)/,
    );
    assert.deepEqual(fs.readFileSync(out), BYTES);

    const metadata = path.join(work, 'cli-client', 'metadata');
    const verified = await cli('client/main.ts', [
      'verify',
      path.join(metadata, 'mylib.json'),
      '--delegator',
      path.join(metadata, 'targets.json'),
      '--role',
      'mylib',
      '--dir',
      path.join(work, 'cli-client'),
    ]);
    assert.equal(verified.status, 0, verified.stdout + verified.stderr);
    assert.match(
      verified.stdout,
      /build provenance: every file of mylib needs an attestation by https:\/\/github\.com\/acme\/mylib\/.+ \(its delegation\)/,
    );
    assert.match(
      verified.stdout,
      /mylib\/mylib-1\.0\.tgz: built by https:\/\/github\.com\/acme\/mylib\/.+: valid \(SLSA provenance v1, subject mylib-1\.0\.tgz\)/,
    );

    const c = client('library');
    const vouched = await c.vouch(FILE);
    assert.equal(vouched.release.provenance?.builder.identity, RELEASE_WORKFLOW);
    assert.equal(vouched.release.provenance?.builder.issuer, GITHUB_ISSUER);
  });
});

describe('clients enforce the requirement themselves', () => {
  test('a changed builder flags the release for re-signing, and clients refuse its old attestation until a new one', async () => {
    const next = { identity: RELEASE_WORKFLOW.replace('v1.0.0', 'v2.0.0'), issuer: GITHUB_ISSUER };
    await delegateWithProvenance(t, keys, 'mylib', [ALICE], next);
    const info = (await request(t.baseUrl).get('/api/v1/projects/mylib')).body;
    assert.match(String(info.needsResigning?.reason), /now requires build provenance by https:\/\/github\.com\/acme\/mylib\/.+v2\.0\.0/);
    const out = path.join(work, 'refused.tgz');
    await assert.rejects(client('after-change').download(FILE, out), (err) =>
      isClientRefusal(err, 'provenance_invalid', /not by the required builder/),
    );
    assert.equal(fs.existsSync(out), false, 'the file is never saved');

    // Keeping 1.0 with its attestation by the old builder is refused; attested anew, it publishes.
    const v2 = { 'mylib/mylib-2.0.tgz': Buffer.from('mylib 2.0\n') };
    const oldAttestation = fs.readFileSync(path.join(work, 'mylib-1.0.tgz.intoto.json'));
    const res = await uploadAsAlice(2, {
      [FILE]: BYTES,
      [attestationPathFor(FILE)]: oldAttestation,
      ...v2,
      [attestationPathFor('mylib/mylib-2.0.tgz')]: await attestAs(t, v2, next),
    });
    assert.equal(res.status, 422, JSON.stringify(res.body));
    assert.equal(res.body.error.code, 'provenance_invalid');
    assert.match(
      res.body.error.message,
      /attestation mylib\/mylib-1\.0\.tgz\.provenance\.sigstore\.json: signed by .+v1\.0\.0.+not by the required builder/,
    );
    const files = { [FILE]: BYTES, ...v2 };
    const both = await attestAs(t, files, next);
    const ok = await uploadAsAlice(2, { ...files, [attestationPathFor(FILE)]: both, [attestationPathFor('mylib/mylib-2.0.tgz')]: both });
    assert.equal(ok.status, 201, JSON.stringify(ok.body));
    const fresh = client('after-republish');
    await fresh.download('mylib/mylib-2.0.tgz', path.join(work, 'v2.tgz'));
    assert.equal((await fresh.vouch(FILE)).release.provenance?.builder.identity, next.identity);
  });

  test('what reached the repository around the server (a compromised server or database) is refused by clients', async () => {
    const builder = (await request(t.baseUrl).get('/api/v1/projects/mylib')).body.provenance;
    const evil = Buffer.from('evil\n');
    const evilPath = 'mylib/evil.tgz';
    const attacks: [string, () => Promise<Record<string, Buffer>>, string][] = [
      ['no attestation listed', async () => ({}), 'provenance_missing'],
      [
        'an attestation by another builder',
        async () => ({ [attestationPathFor(evilPath)]: await attestAs(t, { [evilPath]: evil }, CI) }),
        'provenance_invalid',
      ],
      [
        'an attestation of other bytes',
        async () => ({ [attestationPathFor(evilPath)]: await attestAs(t, { [evilPath]: BYTES }, builder) }),
        'provenance_invalid',
      ],
    ];
    for (const [i, [what, extra, code]] of attacks.entries()) {
      const files = { [evilPath]: evil, ...(await extra()) };
      for (const bytes of Object.values(files)) await putBlob(t.repo.knex, sha256Hex(bytes), bytes);
      const version = t.repo.cache.head('mylib')!.version + 1;
      // Signed by the delegated maintainer: only the provenance requirement is missed.
      const env: Envelope = await signAs(t, release(version, files), [{ identity: ALICE }]);
      await t.repo.publication.transaction('exclusive', async (tx) => {
        await insertMetadataVersion(tx.db, {
          role: 'mylib',
          version,
          bytes: servedBytes(env),
          expires: new Date(String(env.signed.expires)),
        });
        // Served as a server would serve a published version's files.
        const listed = Object.entries(files).map(([p, b]) => ({ path: p, ...describeTarget(b) }));
        await replaceTargetRecords(tx.db, 'mylib', version, listed);
        tx.announce({ role: 'mylib', version });
        await tx.signSnapshotAndTimestamp('attack');
      });
      const out = path.join(work, `evil-${i}.tgz`);
      await assert.rejects(client(`victim-${i}`).download(evilPath, out), (err) => isClientRefusal(err, code), what);
      assert.equal(fs.existsSync(out), false, `${what}: never saved`);
    }
  });
});
