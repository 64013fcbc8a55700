// Pinned identities on the client (`tuf-client fetch --policy`): a user's pins only narrow what the
// repository's delegations allow. Against a real server and the local Sigstore: a pin on the real
// maintainer passes, a pin on another identity (or a higher threshold) refuses naming the pin and
// who did sign, a pin on paths the repository does not delegate changes nothing, and a pinned
// builder asks for an attestation the delegation does not require.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { parsePolicy } from '../core/clientPolicy.ts';
import { attestationPathFor } from '../core/provenance.ts';
import { runCli } from './helpers/cli.ts';
import { isClientRefusal } from './helpers/refusals.ts';
import { ALICE, BOB, projectTools, saveTrustedRoot, startProjectsRepo } from './helpers/projects.ts';
import { attestAs, CI, delegateWithProvenance, GITHUB_ISSUER } from './helpers/provenance.ts';
import { signAs, type TestRepo } from './helpers/repo.ts';

let t: TestRepo;
let work: string;
let issuer: string;
const { upload, release, client } = projectTools(() => ({ t, work }));

const ATTESTED = 'plain/plain-1.0.tgz';
const BARE = 'plain/plain-docs.tgz';
const files = { [ATTESTED]: Buffer.from('plain 1.0\n'), [BARE]: Buffer.from('docs\n') };

before(async () => {
  let keys;
  ({ t, keys, work } = await startProjectsRepo());
  issuer = t.sigstore.sigstore.issuerUrl;
  await saveTrustedRoot(t, work);
  // No provenance required by the repository; the maintainer attaches one attestation anyway.
  await delegateWithProvenance(t, keys, 'plain', [ALICE, BOB], null);
  const all = { ...files, [attestationPathFor(ATTESTED)]: await attestAs(t, { [ATTESTED]: files[ATTESTED] }) };
  const res = await upload('plain', await signAs(t, release(1, all), [{ identity: ALICE }]), all);
  assert.equal(res.status, 201, JSON.stringify(res.body));
});
after(async () => t.close());

const withPins = (name: string, policy: unknown) => client(name, undefined, { pins: parsePolicy(policy) });
const id = (identity: string) => ({ identity, issuer });

test('pinned to the maintainer who signed: the file downloads, and the pin is reported met', async () => {
  const c = withPins('alice-pinned', { pins: [{ paths: ['plain/*'], identities: [id(ALICE)] }] });
  const vouched = await c.vouch(ATTESTED);
  assert.equal(vouched.release.pins.length, 1);
  await c.download(ATTESTED, path.join(work, 'ok.tgz'));
  assert.deepEqual(fs.readFileSync(path.join(work, 'ok.tgz')), files[ATTESTED]);
});

test('pinned to another identity the delegation also names: refused, naming the pin and who signed', async () => {
  const c = withPins('bob-pinned', { pins: [{ paths: ['plain/*'], identities: [id(BOB)], threshold: 1 }] });
  const out = path.join(work, 'never.tgz');
  await assert.rejects(c.download(ATTESTED, out), (err) =>
    isClientRefusal(
      err,
      'pin_not_met',
      /refused by pin 1 \(paths plain\/\*; 1 of bob@example\.com .+\): 0 of the pinned identities signed, 1 required; plain v1 is signed by alice@example\.com \(issuer /,
    ),
  );
  assert.equal(fs.existsSync(out), false);
});

test('a higher threshold than the signatures there: refused', async () => {
  const c = withPins('two-pinned', { pins: [{ paths: ['plain/*'], identities: [id(ALICE), id(BOB)], threshold: 2 }] });
  await assert.rejects(c.download(BARE, path.join(work, 'never2.tgz')), (err) =>
    isClientRefusal(err, 'pin_not_met', /1 of the pinned identities signed, 2 required/),
  );
});

test('a pin on paths the repository does not delegate changes nothing', async () => {
  const c = withPins('elsewhere', { pins: [{ paths: ['nothing/*', 'plain-other/*'], identities: [id(BOB)] }] });
  const vouched = await c.vouch(ATTESTED);
  assert.deepEqual(vouched.release.pins, []);
  await c.download(BARE, path.join(work, 'bare.tgz'));
});

test('a pinned builder: the attestation must be there and be by that builder, though the delegation does not require one', async () => {
  const builder = { identity: CI.identity, issuer: GITHUB_ISSUER };
  const c = withPins('builder-pinned', { pins: [{ paths: ['plain/*'], provenance: builder }] });
  assert.equal((await c.vouch(ATTESTED)).release.provenance?.builder.identity, CI.identity);
  await assert.rejects(c.vouch(BARE), (err) =>
    isClientRefusal(err, 'provenance_missing', /needs a build-provenance attestation by .+ \(asked by pin 1/),
  );
  const other = withPins('other-builder', {
    pins: [{ paths: ['plain/*'], provenance: { ...builder, identity: `${builder.identity}-x` } }],
  });
  await assert.rejects(other.vouch(ATTESTED), (err) => isClientRefusal(err, 'provenance_invalid', /not by the required builder/));
});

test('tuf-client fetch --policy: met pins are said; a failed pin exits 3 with its code; a misspelt field refuses the whole policy', async () => {
  const run = (dir: string, policy: unknown) => {
    const file = path.join(work, `${dir}.policy.json`);
    fs.writeFileSync(file, JSON.stringify(policy));
    return runCli('client/main.ts', [
      'fetch',
      ATTESTED,
      '--server',
      t.baseUrl,
      '--root',
      path.join(work, 'root.json'),
      '--dir',
      path.join(work, dir),
      '--out',
      path.join(work, `${dir}.tgz`),
      '--policy',
      file,
    ]);
  };
  const ok = await run('cli-ok', { pins: [{ paths: ['plain/*'], identities: [id(ALICE)], provenance: CI }] });
  assert.equal(ok.status, 0, ok.stderr);
  assert.match(
    ok.stderr,
    /^policy: pin 1 \(paths plain\/\*; 1 of alice@example\.com .+; built by https:\/\/github\.com\/acme\/mylib\/.+\) met$/m,
  );
  assert.match(ok.stderr, /^build provenance: plain\/plain-1\.0\.tgz built by https:\/\/github\.com\/acme\/mylib\//m);
  const refused = await run('cli-refused', { pins: [{ paths: ['plain/*'], identities: [id(BOB)] }] });
  assert.equal(refused.status, 3);
  assert.match(refused.stderr, /\[pin_not_met\]/);
  const typo = await run('cli-typo', { pins: [{ paths: ['plain/*'], identites: [id(BOB)] }] });
  assert.equal(typo.status, 1);
  assert.match(typo.stderr, /pin 1: unknown field\(s\) identites .+\[bad_policy\]/);
});
