// Look-alike and reserved names in the layered (bins) layout: projects live in different bins
// (the bin depends on the exact spelling), so the checks must look across bins, also for a
// project that was delegated but has published nothing yet.
import assert from 'node:assert/strict';
import type { KeyObject } from 'node:crypto';
import { after, before, test } from 'node:test';
import request from 'supertest';
import { projectPlacement } from '../core/bins.ts';
import { editedTargetsSigned } from '../core/ceremony.ts';
import { registrationSigned, withDelegation } from '../core/delegations.ts';
import { isTufError } from '../core/errors.ts';
import { signEnvelope } from '../core/metadata.ts';
import { privateKeySigner } from '../core/signer.ts';
import { bootstrapWithBins, signAs, startTestRepo, type TestRepo } from './helpers/repo.ts';

const BINS = 32;
let t: TestRepo;
let binsKey: KeyObject;

before(async () => {
  t = await startTestRepo({ env: { WRITE_RATE_LIMIT_PER_MINUTE: '0' } });
  ({ binsKey } = await bootstrapWithBins(t, BINS));
});
after(async () => t.close());

async function approve(project: string) {
  const top = (await t.repo.current.targets())!;
  const placement = projectPlacement(top.envelope.signed, project);
  const bin = (await t.repo.current.delegated(t.repo.knex, placement.role))!;
  const next = editedTargetsSigned(
    withDelegation(
      bin.envelope.signed,
      project,
      [{ identity: 'alice@example.com', issuer: t.sigstore.sigstore.issuerUrl }],
      1,
      placement.paths,
    ),
    {},
    t.clock.now(),
  );
  return t.repo.admission.submitDelegated(new Map([[placement.role, await signEnvelope(next, [privateKeySigner(binsKey)])]]), 'test');
}

/** A name whose "-" and "_" spellings fall in different bins (so only a cross-bin check finds them). */
async function splitName(): Promise<[string, string]> {
  const top = (await t.repo.current.targets())!.envelope.signed;
  for (const base of ['lib-one', 'pkg-a', 'my-tool', 'web-kit', 'data-io', 'net-x', 'zip-it']) {
    const other = base.replace('-', '_');
    if (projectPlacement(top, base).role !== projectPlacement(top, other).role) return [base, other];
  }
  throw new Error('no split name among the candidates');
}

test('a bin delegating a look-alike of a project in another bin, or a reserved name, is refused', async () => {
  const [name, lookAlike] = await splitName();
  await approve(name);
  await assert.rejects(approve(lookAlike), (err) => isTufError(err, 'confusable_name') && err.message.includes(`"${name}"`));
  await assert.rejects(approve('sigstore'), (err) => isTufError(err, 'reserved_name'));
});

test('a registration spelled like a project another bin delegates (nothing published yet) is refused', async () => {
  const [name, lookAlike] = await splitName();
  const issuer = t.sigstore.sigstore.issuerUrl;
  const signed = await signAs(t, registrationSigned(lookAlike, { identity: 'eve@example.com', issuer }, t.clock.now()), [
    { identity: 'eve@example.com' },
  ]);
  const res = await request(t.baseUrl).post('/api/v1/registrations').send(signed);
  assert.equal(res.status, 409, JSON.stringify(res.body));
  assert.equal(res.body.error.code, 'confusable_name');
  assert.ok(res.body.error.message.includes(`existing project "${name}"`), res.body.error.message);
});
