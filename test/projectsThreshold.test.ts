// Identity delegations end to end on the local Sigstore: a project whose threshold is 2 identities
// holds a version pending until the second signs, and drops a pending version overtaken by another.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import request from 'supertest';
import type { Envelope } from '../core/metadata.ts';
import { mustRun } from './helpers/cli.ts';
import { ALICE, BOB, projectTools, startProjectsRepo } from './helpers/projects.ts';
import { delegateProject, signAs, type CeremonyKeys, type TestRepo } from './helpers/repo.ts';

let t: TestRepo;
let keys: CeremonyKeys;
let work: string;

const { upload, release } = projectTools(() => ({ t, work }));

before(async () => {
  ({ t, keys, work } = await startProjectsRepo());
});
after(async () => t.close());

describe('a project with threshold 2', () => {
  before(async () => delegateProject(t, keys, 'pair', [ALICE, BOB], 2));
  const files = { 'pair/pair-1.0.tgz': Buffer.from('pair 1.0') };

  test('one signature is held pending, not published; a second over the same bytes publishes', async () => {
    const signed = release(1, files);
    const first = await upload('pair', await signAs(t, signed, [{ identity: ALICE }]), files);
    assert.equal(first.status, 202, JSON.stringify(first.body));
    assert.deepEqual([first.body.status, first.body.signatures, first.body.threshold], ['pending', 1, 2]);
    assert.equal((await request(t.baseUrl).get('/metadata/1.pair.json')).status, 404);
    const info = await request(t.baseUrl).get('/api/v1/projects/pair');
    assert.equal(info.body.pending.length, 1);
    // The same signature again does not count twice.
    const again = await upload('pair', await signAs(t, signed, [{ identity: ALICE }]), files);
    assert.equal(again.body.signatures, 1);
    const out = await mustRun('maintainer/main.ts', ['cosign', '--server', t.baseUrl, '--project', 'pair', '--dev-identity', BOB]);
    assert.match(out, /published pair v1/);
    const published = JSON.parse((await request(t.baseUrl).get('/metadata/1.pair.json')).text) as Envelope;
    assert.equal(published.signatures.length, 2);
    assert.equal((await request(t.baseUrl).get('/api/v1/projects/pair')).body.pending.length, 0);
  });

  test('a pending version overtaken by a newer one is dropped with a reason', async () => {
    const a = { 'pair/pair-2.0.tgz': Buffer.from('2.0 by alice') };
    const b = { 'pair/pair-2.0.tgz': Buffer.from('2.0 by both') };
    assert.equal((await upload('pair', await signAs(t, release(2, a), [{ identity: ALICE }]), a)).status, 202);
    assert.equal((await upload('pair', await signAs(t, release(2, b), [{ identity: ALICE }, { identity: BOB }]), b)).status, 201);
    const rows = await t.repo.knex('pending_uploads').where({ role: 'pair', version: 2 }).select('status', 'reason');
    assert.deepEqual(rows.map((r) => r.status).sort(), ['dropped']);
    assert.match(rows[0].reason, /overtaken: version 2 of pair was published/);
  });
});
