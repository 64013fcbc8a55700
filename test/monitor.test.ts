// The transparency monitor against the local Rekor: legitimate activity (registration, publication,
// a co-signer's pending version, strangers' signatures, a forged certificate naming a maintainer)
// flags nothing; a delegated identity's token used outside the repository to sign project
// metadata is flagged within one poll interval (finding, audit entry, metric, API); an
// unreachable log makes the monitor stale and flags nothing.
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { createRequire } from 'node:module';
import { after, before, test } from 'node:test';
import express from 'express';
import client from 'prom-client';
import request from 'supertest';
import { systemClock } from '../core/clock.ts';
import { TransparencyMonitor } from '../server/monitor/monitor.ts';
import { listen } from '../server/runtime.ts';
import { DelegationIndex } from '../server/serving/delegationIndex.ts';
import { runCli } from './helpers/cli.ts';
import { testLogger } from './helpers/secrets.ts';
import { canonicalBytes, sha256Hex } from '../core/canonical.ts';
import { registrationSigned } from '../core/delegations.ts';
import type { MonitorStatusJson } from '../core/monitorApi.ts';
import { ALICE, BOB, MALLORY, projectTools } from './helpers/projects.ts';
import { bootstrappedWithSigstore, delegateProject, signAs, startTestRepo, type CeremonyKeys, type TestRepo } from './helpers/repo.ts';

const INTERVAL_SECONDS = 3;
const GRACE_SECONDS = 1;
const env = {
  MONITOR_INTERVAL_SECONDS: String(INTERVAL_SECONDS),
  MONITOR_GRACE_SECONDS: String(GRACE_SECONDS),
  MONITOR_REKOR_REQUESTS_PER_SECOND: '200',
};

let t: TestRepo;
let keys: CeremonyKeys;
const { upload, release } = projectTools(() => ({ t, work: '' }));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

before(async () => {
  ({ t, keys } = await bootstrappedWithSigstore({ env }));
  await delegateProject(t, keys, 'demo', [ALICE]);
  await delegateProject(t, keys, 'pair', [ALICE, BOB], 2);
});
after(async () => t.close());

async function status(): Promise<MonitorStatusJson> {
  return (await request(t.baseUrl).get('/api/v1/monitor').expect(200)).body;
}

/** A certificate naming `identity` from a CA the repository does not trust, logged in the local Rekor. */
async function logForgedEntry(identity: string, issuer: string): Promise<void> {
  const require = createRequire(import.meta.url);
  const fulcio = require('@sigstore/mock/dist/fulcio/index.js') as typeof import('@sigstore/mock/dist/fulcio/index.js');
  const ca = await fulcio.initializeCA(crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' }));
  const signer = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const der = Buffer.from(
    (await ca.issueCertificate({
      publicKey: signer.publicKey.export({ format: 'der', type: 'spki' }) as unknown as ArrayBufferView<ArrayBuffer>,
      subjectAltName: identity,
      extensions: [{ oid: '1.3.6.1.4.1.57264.1.8', value: issuer }],
    })) as unknown as Uint8Array,
  );
  const pem = `-----BEGIN CERTIFICATE-----\n${der.toString('base64')}\n-----END CERTIFICATE-----\n`;
  const artifact = Buffer.from('forged project metadata');
  const res = await fetch(`${t.sigstore.sigstore.rekorUrl}/api/v1/log/entries`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      kind: 'hashedrekord',
      apiVersion: '0.0.1',
      spec: {
        data: { hash: { algorithm: 'sha256', value: sha256Hex(artifact) } },
        signature: {
          content: crypto.sign('sha256', artifact, signer.privateKey).toString('base64'),
          publicKey: { content: Buffer.from(pem).toString('base64') },
        },
      },
    }),
  });
  assert.equal(res.status, 201);
}

test('legitimate activity flags nothing', async () => {
  const monitor = t.repo.monitor!;
  const issuer = t.sigstore.sigstore.issuerUrl;
  // A registration, a publication, a pending version waiting for its second signer.
  await t.repo.registrations.register(
    await signAs(t, registrationSigned('more', { identity: ALICE, issuer }, t.clock.now()), [{ identity: ALICE }]),
  );
  const v1 = { 'demo/demo-1.0.tgz': Buffer.from('demo 1.0\n') };
  assert.equal((await upload('demo', await signAs(t, release(1, v1), [{ identity: ALICE }]), v1)).status, 201);
  const p1 = { 'pair/pair-1.0.tgz': Buffer.from('pair 1.0\n') };
  assert.equal((await upload('pair', await signAs(t, release(1, p1), [{ identity: BOB }]), p1)).status, 202);
  // Someone not delegated anything signs whatever they like; a forged certificate names alice.
  await signAs(t, release(7, v1), [{ identity: MALLORY }]);
  await logForgedEntry(ALICE, issuer);

  const first = await monitor.pollOnce();
  assert.equal(first.outcome, 'ok');
  assert.ok(first.entriesRead >= 5, `read ${first.entriesRead} entries`);
  await sleep(GRACE_SECONDS * 1000 + 200);
  const second = await monitor.pollOnce();
  assert.equal(second.outcome, 'ok');
  const s = await status();
  assert.equal(s.state, 'ok');
  assert.equal(s.findings, 0, JSON.stringify(s.recentFindings));
  assert.equal(s.watchedIdentities, 2);
  assert.equal(s.position, s.treeSize);
  assert.deepEqual(s.publishedSignatures, { checked: 1, unchecked: 0 });
  const metrics = (await request(t.baseUrl).get('/metrics')).text;
  assert.match(metrics, /tuf_monitor_unauthentic_entries_total 1\b/);
});

test("a delegated identity's token used outside the repository is flagged within one poll interval", async () => {
  const monitor = t.repo.monitor!;
  monitor.start();
  try {
    await sleep(500); // the timer's first poll
    // The stolen token signs a next version of demo and never comes near the repository.
    const evil = release(2, { 'demo/demo-2.0.tgz': Buffer.from('backdoor\n') });
    await signAs(t, evil, [{ identity: ALICE }]);
    await sleep(INTERVAL_SECONDS * 1000 + 500);
    const s = await status();
    assert.equal(s.findings, 1, JSON.stringify(s, null, 2));
    const [f] = s.recentFindings;
    assert.equal(f!.kind, 'unknown_signature');
    assert.equal(f!.identity, ALICE);
    assert.deepEqual(f!.projects, ['demo', 'pair']);
    assert.equal(f!.digest, sha256Hex(canonicalBytes(evil)));
  } finally {
    await monitor.stop();
  }
  const audit = await request(t.baseUrl)
    .get('/admin/audit?action=monitor&order=desc')
    .set('authorization', `Bearer ${t.adminToken}`)
    .expect(200);
  assert.deepEqual(
    audit.body.entries.map((e: { action: string; actor: string }) => [e.action, e.actor]),
    [['monitor.unknown_signature', 'monitor']],
  );
  assert.match((await request(t.baseUrl).get('/metrics')).text, /tuf_monitor_findings_total\{kind="unknown_signature"\} 1\b/);
  const mine = await request(t.baseUrl)
    .get('/api/v1/monitor/identity')
    .query({ identity: ALICE, issuer: t.sigstore.sigstore.issuerUrl })
    .expect(200);
  assert.deepEqual(mine.body.projects, ['demo', 'pair']);
  assert.equal(mine.body.findings.length, 1);
  const bob = await request(t.baseUrl)
    .get('/api/v1/monitor/identity')
    .query({ identity: BOB, issuer: t.sigstore.sigstore.issuerUrl })
    .expect(200);
  assert.equal(bob.body.findings.length, 0);
  // The maintainer's own check: the server's finding, and the same entry read from the log itself.
  const rootFile = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'monitor-cli-')), 'trusted_root.json');
  fs.writeFileSync(rootFile, JSON.stringify(t.sigstore.setup.trustedRoot));
  const issuer = t.sigstore.sigstore.issuerUrl;
  const args = (who: string) => [
    'monitor',
    '--server',
    t.baseUrl,
    '--identity',
    who,
    '--issuer',
    issuer,
    '--sigstore-trusted-root',
    rootFile,
  ];
  const alice = await runCli('maintainer/main.ts', args(ALICE));
  assert.equal(alice.status, 3, alice.stdout + alice.stderr);
  assert.match(alice.stdout, /delegated: demo, pair/);
  assert.match(alice.stdout, /FLAGGED unknown_signature \(log entry \d+/);
  assert.match(alice.stdout, /FLAGGED log entry \d+ .* NEVER RECEIVED by the repository/);
  const bobCheck = await runCli('maintainer/main.ts', [...args(BOB), '--json']);
  assert.equal(bobCheck.status, 0, bobCheck.stdout + bobCheck.stderr);
  const bobJson = JSON.parse(bobCheck.stdout);
  assert.deepEqual([bobJson.projects, bobJson.findings, bobJson.exitCode], [['pair'], [], 0]);
  assert.ok(bobJson.log.entries.length >= 1 && bobJson.log.entries.every((e: { received: boolean }) => e.received));
  // Polling again flags nothing twice.
  await t.repo.monitor!.pollOnce();
  assert.equal((await status()).findings, 1);
});

test('a published signature whose log entry reads otherwise is flagged', async () => {
  const v2 = { 'demo/demo-2.1.tgz': Buffer.from('demo 2.1\n') };
  const signed = await signAs(t, release(2, v2), [{ identity: ALICE }]);
  assert.equal((await upload('demo', signed, v2)).status, 201);
  const index = Number(
    (signed.signatures[0]!.bundle as { verificationMaterial: { tlogEntries: { logIndex: string }[] } }).verificationMaterial.tlogEntries[0]!
      .logIndex,
  );
  // A log that answers another body at that index (as a log that lost or rewrote the entry would).
  const rekor = t.sigstore.sigstore.rekorUrl;
  const proxy = express();
  proxy.use(express.json());
  proxy.all('/*path', async (req, res) => {
    const upstream = await fetch(`${rekor}${req.path}${req.url.slice(req.path.length)}`, {
      method: req.method,
      headers: { 'content-type': 'application/json' },
      ...(req.method === 'POST' ? { body: JSON.stringify(req.body) } : {}),
    });
    const body = (await upstream.json()) as unknown;
    if (Array.isArray(body)) {
      const other = Object.values(
        (await (await fetch(`${rekor}/api/v1/log/entries?logIndex=0`)).json()) as Record<string, { body: string }>,
      )[0]!;
      for (const item of body as Record<string, { logIndex: number; body: string }>[]) {
        for (const e of Object.values(item)) if (e.logIndex === index) e.body = other.body;
      }
    }
    res.status(upstream.status).json(body);
  });
  const server = await listen(proxy, '127.0.0.1', 0);
  const proxyUrl = `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`;
  const monitor = new TransparencyMonitor({
    knex: t.repo.knex,
    delegations: new DelegationIndex(t.repo.cache),
    clock: systemClock,
    log: testLogger(),
    trustedRoot: t.sigstore.setup.trustedRoot,
    config: { ...t.repo.config.monitor, start: 'now', searchByEmail: false },
    rekorUrl: proxyUrl,
    registry: new client.Registry(),
    holder: 'proxy-test',
  });
  try {
    const result = await monitor.pollOnce();
    assert.equal(result.outcome, 'ok');
    assert.equal(result.flagged, 1);
    const [f] = await monitor.findings({ limit: 10, identity: ALICE });
    assert.equal(f!.kind, 'publication_not_in_log');
    assert.deepEqual([f!.projects, f!.version, f!.logIndex], [['demo'], 2, index]);
    assert.match(
      f!.detail,
      /demo v2 was published with a signature by alice@example.com, but log entry \d+ signs sha256 [0-9a-f]{64}, not the published/,
    );
  } finally {
    await monitor.stop();
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  }
});

test('an unreachable log makes the monitor stale and flags nothing', async () => {
  // A port nothing listens on any more.
  const closed = net.createServer();
  await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
  const port = (closed.address() as net.AddressInfo).port;
  await new Promise((r) => closed.close(r));
  const other = await startTestRepo({ env: { ...env, MONITOR_REKOR_URL: `http://127.0.0.1:${port}/rekor` }, sigstore: t.sigstore });
  try {
    const result = await other.repo.monitor!.pollOnce();
    assert.equal(result.outcome, 'failed');
    const s = (await request(other.baseUrl).get('/api/v1/monitor').expect(200)).body as MonitorStatusJson;
    assert.equal(s.state, 'stale');
    assert.match(s.lastError!, new RegExp(`127\\.0\\.0\\.1:${port}/rekor/api/v1/log: ECONNREFUSED`));
    assert.equal(s.findings, 0);
    assert.equal(s.position, null);
  } finally {
    await other.close();
  }
});
