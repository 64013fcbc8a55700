// A real build-provenance attestation from the public-good Sigstore (made by GitHub's
// actions/attest-build-provenance, kept in test/fixtures/provenance/ with its source), published
// with the artifact it attests through a real server and downloaded by a real client. The
// repository trusts the local Sigstore (its maintainers sign there) and the public-good instance
// (the CI's attestations come from there): one Sigstore trusted root holding both.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import request from 'supertest';
import { publicGoodTrustedRoot } from '../core/publicGoodTrustedRoot.ts';
import { attestationPathFor } from '../core/provenance.ts';
import { parsePolicy } from '../core/clientPolicy.ts';
import { isClientRefusal } from './helpers/refusals.ts';
import { ALICE, projectTools, saveTrustedRoot } from './helpers/projects.ts';
import { delegateWithProvenance, GITHUB_ISSUER } from './helpers/provenance.ts';
import { bootstrappedWithSigstore, signAs, type CeremonyKeys, type TestRepo } from './helpers/repo.ts';
import { startLocalSigstore, type LocalSigstoreServer } from './helpers/sigstore.ts';

const FIXTURES = path.resolve(import.meta.dirname, 'fixtures', 'provenance');
const WHEEL = 'github_provenance_demo-0.0.0-py3-none-any.whl';
/** The identity in the bundle's certificate: GitHub's reusable attestation workflow at a commit. */
const ATTESTING_WORKFLOW =
  'https://github.com/github/artifact-attestations-workflows/.github/workflows/attest.yml@09b495c3f12c7881b3cc17209a327792065c1a1d';

let local: LocalSigstoreServer;
let t: TestRepo;
let keys: CeremonyKeys;
let work: string;
const { upload, release, state, client } = projectTools(() => ({ t, work }));

function merged(a: Record<string, unknown[]>, b: Record<string, unknown[]>): unknown {
  const out: Record<string, unknown> = { mediaType: 'application/vnd.dev.sigstore.trustedroot+json;version=0.1' };
  for (const field of ['tlogs', 'certificateAuthorities', 'ctlogs', 'timestampAuthorities'])
    out[field] = [...(a[field] ?? []), ...(b[field] ?? [])];
  return out;
}

before(async () => {
  local = await startLocalSigstore();
  const trustedRoot = merged(local.setup.trustedRoot as Record<string, unknown[]>, publicGoodTrustedRoot() as Record<string, unknown[]>);
  ({ t, keys } = await bootstrappedWithSigstore({ sigstore: { ...local, setup: { ...local.setup, trustedRoot } } }));
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'tuf-real-provenance-'));
  await saveTrustedRoot(t, work);
});
after(async () => {
  await t.close();
  await local.close();
});

const wheel = () => fs.readFileSync(path.join(FIXTURES, WHEEL));
const bundle = () => fs.readFileSync(path.join(FIXTURES, `${WHEEL}.provenance.sigstore.json`));
const FILE = `pgdemo/${WHEEL}`;

async function publish(version: number) {
  const files = { [FILE]: wheel(), [attestationPathFor(FILE)]: bundle() };
  return upload('pgdemo', await signAs(t, release(version, files), [{ identity: ALICE }]), files);
}

test('a delegation naming the workflow the certificate does not name (the caller, not the attesting workflow) refuses the real attestation', async () => {
  await delegateWithProvenance(t, keys, 'pgdemo', [ALICE], {
    identity: 'https://github.com/malancas/attest-demo/.github/workflows/shared.yml@refs/heads/main',
    issuer: GITHUB_ISSUER,
  });
  const before = await state();
  const res = await publish(1);
  assert.equal(res.status, 422, JSON.stringify(res.body));
  assert.equal(res.body.error.code, 'provenance_invalid');
  assert.match(
    res.body.error.message,
    /signed by https:\/\/github\.com\/github\/artifact-attestations-workflows\/.+@09b495c3.+not by the required builder/,
  );
  assert.deepEqual(await state(), before);
});

test('the real public-good attestation verifies for its real workflow identity: published, and verified again by the client', async () => {
  await delegateWithProvenance(t, keys, 'pgdemo', [ALICE], { identity: ATTESTING_WORKFLOW, issuer: GITHUB_ISSUER });
  const res = await publish(1);
  assert.equal(res.status, 201, JSON.stringify(res.body));
  assert.equal((await request(t.baseUrl).get('/api/v1/projects/pgdemo')).body.provenance.identity, ATTESTING_WORKFLOW);

  const c = client('real');
  const vouched = await c.vouch(FILE);
  assert.deepEqual(vouched.release.provenance?.builder, { identity: ATTESTING_WORKFLOW, issuer: GITHUB_ISSUER });
  assert.equal(vouched.release.provenance?.subjectName, WHEEL);
  assert.equal(vouched.release.provenance?.source, 'https://github.com/malancas/attest-demo/.github/workflows/shared.yml@refs/heads/main');
  assert.equal(vouched.release.provenance?.invocationId, 'https://github.com/malancas/attest-demo/actions/runs/9228858953/attempts/1');
  const out = path.join(work, WHEEL);
  await c.download(FILE, out);
  assert.deepEqual(fs.readFileSync(out), wheel());

  // A pin on a builder one character off is refused by the client, as the delegation would be.
  const pins = parsePolicy({ pins: [{ paths: ['pgdemo/*'], provenance: { identity: `${ATTESTING_WORKFLOW}x`, issuer: GITHUB_ISSUER } }] });
  const pinned = client('pinned-elsewhere', undefined, { pins });
  await assert.rejects(pinned.download(FILE, path.join(work, 'never.whl')), (err) =>
    isClientRefusal(err, 'provenance_invalid', /not by the required builder/),
  );
});
