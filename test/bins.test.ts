// The layered layout end to end on a real server: top-level targets delegates to bins signed by
// the bins key, an approval re-signs one bin only, uploads verify against the bin, a stock tuf-js
// Updater walks targets -> bin -> project role, and our client downloads through it.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import type { KeyObject } from 'node:crypto';
import http from 'node:http';
import zlib from 'node:zlib';
import { Updater } from 'tuf-js';
import { binnedProjectDirectory, projectPlacement } from '../core/bins.ts';
import { initialBinsSigned, initialTargetsSigned, editedTargetsSigned } from '../core/ceremony.ts';
import { sha256Hex, type JsonObject } from '../core/canonical.ts';
import { registrationSigned, withDelegation } from '../core/delegations.ts';
import { IdentitySignatureVerifier, SIGSTORE_TRUSTED_ROOT_TARGET } from '../core/identity.ts';
import { generatePrivateKey } from '../core/keys.ts';
import { buildTargetsSigned, describeTarget, expiresAfter, signEnvelope, type Envelope } from '../core/metadata.ts';
import { privateKeySigner } from '../core/signer.ts';
import { IdentityClient } from '../client/identityUpdater.ts';
import { verifyHistory } from '../server/admin/historyCheck.ts';
import { putBlob } from '../server/db/targetsRepo.ts';
import { makeRoot, newKeys, signAs, startTestRepo, type CeremonyKeys, type TestRepo } from './helpers/repo.ts';

const ALICE = 'alice@example.com';
const BINS = 32;
let t: TestRepo;
let keys: CeremonyKeys;
let binsKey: KeyObject;
let work: string;

before(async () => {
  t = await startTestRepo();
  keys = newKeys();
  binsKey = generatePrivateKey('ed25519');
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'tuf-bins-'));
  const root = await makeRoot(t, keys);
  fs.writeFileSync(path.join(work, 'root.json'), JSON.stringify(root));
  const trustedRootBytes = Buffer.from(JSON.stringify(t.sigstore.setup.trustedRoot));
  await putBlob(t.repo.knex, sha256Hex(trustedRootBytes), trustedRootBytes);
  const layout = { count: BINS, keys: [privateKeySigner(binsKey).publicKey], threshold: 1 };
  const targets = await signEnvelope(
    initialTargetsSigned(t.clock.now(), { [SIGSTORE_TRUSTED_ROOT_TARGET]: describeTarget(trustedRootBytes) }, undefined, layout),
    [privateKeySigner(keys.targets[0]!)],
  );
  const bins = new Map<string, unknown>();
  for (const [name, signed] of initialBinsSigned(t.clock.now(), BINS))
    bins.set(name, await signEnvelope(signed, [privateKeySigner(binsKey)]));
  await t.repo.admission.bootstrap(root, targets, 'test', bins);
});
after(async () => t.close());

async function approve(project: string, identities: string[], signer: KeyObject = binsKey) {
  const top = (await t.repo.current.targets())!;
  const placement = projectPlacement(top.envelope.signed, project);
  const bin = (await t.repo.current.delegated(t.repo.knex, placement.role))!;
  const maintainers = identities.map((identity) => ({ identity, issuer: t.sigstore.sigstore.issuerUrl }));
  const next = editedTargetsSigned(withDelegation(bin.envelope.signed, project, maintainers, 1, placement.paths), {}, t.clock.now());
  return t.repo.admission.submitDelegated(new Map([[placement.role, await signEnvelope(next, [privateKeySigner(signer)])]]), 'test');
}

function release(version: number, files: Record<string, Buffer>): JsonObject {
  const targets = Object.fromEntries(Object.entries(files).map(([p, b]) => [p, describeTarget(b)]));
  return buildTargetsSigned({ version, expires: expiresAfter(t.clock.now(), 30 * 86_400), targets });
}

function stateDir(name: string): string {
  const dir = path.join(work, name, 'metadata');
  fs.mkdirSync(dir, { recursive: true });
  fs.copyFileSync(path.join(work, 'root.json'), path.join(dir, 'root.json'));
  return dir;
}

test('bootstrap publishes every bin; snapshot lists them; top-level targets delegates only bins', async () => {
  const snapshot = JSON.parse((await (await fetch(`${t.baseUrl}/metadata/1.snapshot.json`)).text()) as string) as Envelope;
  const meta = snapshot.signed.meta as Record<string, unknown>;
  assert.equal(Object.keys(meta).filter((k) => k.startsWith('bin-')).length, BINS);
  const top = (await t.repo.current.targets())!;
  assert.equal(Object.keys(top.model.delegations!.roles!).length, BINS);
});

test('an approval re-signs one bin only; the registration it delegates is approved; uploads verify against the bin', async () => {
  const registration = await signAs(
    t,
    registrationSigned('demo', { identity: ALICE, issuer: t.sigstore.sigstore.issuerUrl }, t.clock.now()),
    [{ identity: ALICE }],
  );
  await t.repo.registrations.register(registration);
  const targetsBefore = t.repo.cache.head('targets')!.version;
  const { published } = await approve('demo', [ALICE]);
  const bin = projectPlacement((await t.repo.current.targets())!.envelope.signed, 'demo').role;
  assert.deepEqual(
    published.map((p) => p.role),
    [bin, 'snapshot', 'timestamp'],
  );
  assert.equal(t.repo.cache.head('targets')!.version, targetsBefore, 'top-level targets is not re-signed');
  assert.deepEqual(
    (await t.repo.registrations.list({ project: 'demo' })).registrations.map((r) => r.status),
    ['approved'],
  );
  const info = await t.repo.projects.info('demo');
  assert.equal(info.delegated, true);
  assert.deepEqual(info.paths, [`${binnedProjectDirectory('demo')}/*`]);

  const file = Buffer.from('demo 1.0 in a bin\n');
  const targetPath = `${binnedProjectDirectory('demo')}/demo-1.0.tgz`;
  const result = await t.repo.projects.upload(
    'demo',
    await signAs(t, release(1, { [targetPath]: file }), [{ identity: ALICE }]),
    new Map([[targetPath, file]]),
  );
  assert.equal(result.status, 'published');
  // The flat path is not the project's any more.
  await assert.rejects(
    async () =>
      t.repo.projects.upload(
        'demo',
        await signAs(t, release(2, { 'demo/flat.tgz': file }), [{ identity: ALICE }]),
        new Map([['demo/flat.tgz', file]]),
      ),
    (err: { code?: string }) => err.code === 'path_not_delegated',
  );

  // A stock tuf-js Updater walks root -> timestamp -> snapshot -> targets -> bin and reaches the
  // project role, which it cannot verify (identity keys): the same refusal as in the flat layout.
  const stockDir = stateDir('stock');
  const stock = new Updater({
    metadataBaseUrl: `${t.baseUrl}/metadata`,
    targetBaseUrl: `${t.baseUrl}/targets`,
    metadataDir: stockDir,
    targetDir: path.join(work, 'stock-targets'),
  });
  await stock.refresh();
  await assert.rejects(stock.getTargetInfo(targetPath), /demo was signed by 0\/1 keys/);
  assert.ok(fs.existsSync(path.join(stockDir, `${bin}.json`)), 'tuf-js verified and kept the bin');

  // Our client finds the file by PROJECT/FILE and downloads it through the bin.
  const client = new IdentityClient({
    metadataBaseUrl: `${t.baseUrl}/metadata`,
    targetBaseUrl: `${t.baseUrl}/targets`,
    metadataDir: stateDir('ours'),
    targetDir: path.join(work, 'ours-targets'),
  });
  assert.equal(await client.resolveTargetPath('demo/demo-1.0.tgz'), targetPath);
  const out = await client.download(targetPath, path.join(work, 'demo-1.0.tgz'));
  assert.ok(fs.readFileSync(out).equals(file));
});

test('bins are refused unless signed by the bins keys; project roles are not admitted from admins', async () => {
  const top = (await t.repo.current.targets())!;
  const bin = projectPlacement(top.envelope.signed, 'other').role;
  const current = (await t.repo.current.delegated(t.repo.knex, bin))!;
  const next = editedTargetsSigned(current.envelope.signed, {}, t.clock.now());
  const byTargetsKey = await signEnvelope(next, [privateKeySigner(keys.targets[0]!)]);
  await assert.rejects(
    t.repo.admission.submitDelegated(new Map([[bin, byTargetsKey]]), 'test'),
    (err: { code?: string }) => err.code === 'threshold_not_met',
  );
  const stale = await signEnvelope(current.envelope.signed, [privateKeySigner(binsKey)]);
  await assert.rejects(
    t.repo.admission.submitDelegated(new Map([[bin, stale]]), 'test'),
    (err: { code?: string }) => err.code === 'version_not_next',
  );
  await assert.rejects(
    t.repo.admission.submitDelegated(new Map([['demo', byTargetsKey]]), 'test'),
    (err: { code?: string }) => err.code === 'not_delegated',
  );
  for (const name of ['constructor', '__proto__', 'toString']) {
    await assert.rejects(
      t.repo.admission.submitDelegated(new Map([[name, byTargetsKey]]), 'test'),
      (err: { code?: string }) => err.code === 'not_delegated',
      name,
    );
  }
});

test('large metadata is also served gzip-compressed, with its own ETag; identity stays the default', async () => {
  const url = `${t.baseUrl}/metadata/1.targets.json`;
  const plain = await fetch(url, { headers: { 'accept-encoding': 'identity' } });
  const bytes = Buffer.from(await plain.arrayBuffer());
  assert.ok(bytes.length >= 4096, `${bytes.length} bytes`);
  assert.equal(plain.headers.get('content-encoding'), null);
  assert.equal(plain.headers.get('etag'), `"${sha256Hex(bytes)}"`);
  assert.equal(plain.headers.get('vary'), 'Accept-Encoding');
  const res = await new Promise<http.IncomingMessage>((resolve, reject) =>
    http.get(url, { headers: { 'accept-encoding': 'br;q=1, gzip;q=0.5' } }, resolve).on('error', reject),
  );
  const chunks: Buffer[] = [];
  for await (const c of res) chunks.push(c as Buffer);
  const body = Buffer.concat(chunks);
  assert.equal(res.headers['content-encoding'], 'gzip');
  assert.equal(res.headers.etag, `"${sha256Hex(bytes)}.gz"`);
  assert.ok(body.length < bytes.length / 2, `${body.length} of ${bytes.length}`);
  assert.ok(zlib.gunzipSync(body).equals(bytes), 'the same bytes once decompressed');
  const again = await fetch(url, { headers: { 'accept-encoding': 'gzip', 'if-none-match': String(res.headers.etag) } });
  assert.equal(again.status, 304);
  const refused = await fetch(url, { headers: { 'accept-encoding': 'gzip;q=0' } });
  assert.equal(refused.headers.get('content-encoding'), null);
});

test('the stored history checks out, bins and project roles included', async () => {
  const report = await verifyHistory(t.repo.knex, new IdentitySignatureVerifier(t.sigstore.setup.trustedRoot));
  assert.deepEqual(report.problems, []);
  assert.ok(report.versionsChecked > BINS);
});

test('bins close to expiry are reported by /readyz and /admin/status; expired ones make it not ready', async () => {
  const status = async () =>
    (await (await fetch(`${t.baseUrl}/admin/status`, { headers: { authorization: `Bearer ${t.adminToken}` } })).json()) as {
      offlineExpiry: { role: string; warning: boolean; expired: boolean }[];
    };
  assert.deepEqual(
    (await status()).offlineExpiry.map((e) => e.role),
    ['root', 'targets'],
    'healthy bins are not listed',
  );
  const saved = t.clock.now();
  t.clock.set(new Date(saved.getTime() + 340 * 86_400_000));
  try {
    const soon = (await status()).offlineExpiry.filter((e) => e.role.startsWith('bin-'));
    assert.equal(soon.length, BINS);
    assert.ok(soon.every((e) => e.warning && !e.expired));
    const ready = (await (await fetch(`${t.baseUrl}/readyz`)).json()) as { warnings: string[] };
    assert.ok(
      ready.warnings.some((w) => /^bin-/.test(w)),
      ready.warnings.join('; '),
    );
    t.clock.set(new Date(saved.getTime() + 400 * 86_400_000));
    const expired = await fetch(`${t.baseUrl}/readyz`);
    assert.equal(expired.status, 503);
    const body = (await expired.json()) as { checks: { offlineRoles: { ok: boolean; detail?: string } } };
    assert.equal(body.checks.offlineRoles.ok, false);
    assert.match(String(body.checks.offlineRoles.detail), /bin-/);
  } finally {
    t.clock.set(saved);
  }
});

test('a top-level targets that drops or changes the bins is refused (a bin file pushed as targets by mistake)', async () => {
  const top = (await t.repo.current.targets())!;
  const bin = (await t.repo.current.delegated(t.repo.knex, projectPlacement(top.envelope.signed, 'demo').role))!;
  const next = (signed: JsonObject) => signEnvelope(editedTargetsSigned(signed, {}, t.clock.now()), [privateKeySigner(keys.targets[0]!)]);
  // The bin's own content, as the next top-level targets: it delegates projects, not bins.
  const binAsTargets = await next({ ...bin.envelope.signed, version: top.version });
  await assert.rejects(
    t.repo.admission.submitTargets(binAsTargets, 'test'),
    (err: { code?: string; message?: string }) => err.code === 'bin_layout_changed' && /delegates no bins/.test(err.message ?? ''),
  );
  // Another number of bins.
  const fewer = { count: BINS / 2, keys: [privateKeySigner(binsKey).publicKey], threshold: 1 };
  const relaid = initialTargetsSigned(t.clock.now(), {}, undefined, fewer);
  await assert.rejects(
    t.repo.admission.submitTargets(await next({ ...relaid, version: top.version }), 'test'),
    (err: { code?: string }) => err.code === 'bin_layout_changed',
  );
  // The same bins with a new expiry are accepted.
  const kept = await t.repo.admission.submitTargets(await next(top.envelope.signed), 'test');
  assert.ok(kept.published.some((p) => p.role === 'targets' && p.version === top.version + 1));
});
