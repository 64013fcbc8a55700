import type http from 'node:http';
import type { KeyObject } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { initialTargetsSigned, rootSigned, DEFAULT_ROOT_EXPIRY_SECONDS } from '../../core/ceremony.ts';
import { ManualClock } from '../../core/clock.ts';
import { generatePrivateKey } from '../../core/keys.ts';
import { expiresAfter, signEnvelope, type Envelope } from '../../core/metadata.ts';
import { privateKeySigner } from '../../core/signer.ts';
import { loadConfig, type Config } from '../../server/config.ts';
import { currentOnlinePublicKeys, ensureOnlineKeys, FileKeyStore } from '../../server/onlineKeys.ts';
import { assembleRepository, listen, type Repository } from '../../server/runtime.ts';
import { createTestDatabase } from './db.ts';
import { canonicalBytes, sha256Hex, type JsonObject } from '../../core/canonical.ts';
import { editedTargetsSigned, initialBinsSigned } from '../../core/ceremony.ts';
import { withDelegation, type Maintainer } from '../../core/delegations.ts';
import { identityKeyid, SIGSTORE_TRUSTED_ROOT_TARGET } from '../../core/identity.ts';
import { describeTarget } from '../../core/metadata.ts';
import { putBlob } from '../../server/db/targetsRepo.ts';
import { signWithIdentity } from '../../maintainer/identitySigner.ts';
import { startLocalSigstore, type LocalSigstoreServer } from './sigstore.ts';
import { recordSecret, testLogger } from './secrets.ts';

export interface TestRepo {
  repo: Repository;
  server: http.Server;
  baseUrl: string;
  clock: ManualClock;
  adminToken: string;
  home: string;
  sigstore: LocalSigstoreServer;
  databaseUrl: string;
  close(): Promise<void>;
}

export interface StartOptions {
  /** Share a database (and online keys) with another instance: several server processes. */
  databaseUrl?: string;
  home?: string;
  clock?: ManualClock;
  env?: Record<string, string>;
  /** Share a local Sigstore; by default each repository gets its own. */
  sigstore?: LocalSigstoreServer;
}

export async function startTestRepo(opts: StartOptions = {}): Promise<TestRepo> {
  const home = opts.home ?? fs.mkdtempSync(path.join(os.tmpdir(), 'tuf-test-home-'));
  const db = opts.databaseUrl ? null : await createTestDatabase();
  const databaseUrl = opts.databaseUrl ?? db!.url;
  const config: Config = loadConfig({ TUF_HOME: home, DATABASE_URL: databaseUrl, PORT: '0', ...opts.env });
  const keyStore = new FileKeyStore(config.onlineKeysDir);
  await ensureOnlineKeys(keyStore);
  const clock = opts.clock ?? new ManualClock(new Date());
  const log = testLogger();
  const ownSigstore = opts.sigstore ? null : await startLocalSigstore();
  const sigstore = opts.sigstore ?? ownSigstore!;
  let repo: Repository;
  try {
    repo = await assembleRepository({ config, databaseUrl, log, clock, keyStore, resignTimer: false, sigstore: sigstore.setup });
  } catch (err) {
    // A repository that refused to start (a test of that) leaves nothing running behind it.
    await ownSigstore?.close();
    await db?.drop();
    throw err;
  }
  const server = await listen(repo.app, '127.0.0.1', 0, config);
  const addr = server.address();
  const port = typeof addr === 'object' && addr ? addr.port : 0;
  const adminToken = await repo.tokens.create(`test-${Math.random().toString(36).slice(2)}`);
  recordSecret(adminToken);
  for (const role of ['snapshot', 'timestamp'] as const) {
    for (const f of fs.readdirSync(config.onlineKeysDir).filter((n) => n.startsWith(role))) {
      recordSecret(JSON.parse(fs.readFileSync(path.join(config.onlineKeysDir, f), 'utf8')).private_key_pem);
    }
  }
  return {
    repo,
    server,
    baseUrl: `http://127.0.0.1:${port}`,
    clock,
    adminToken,
    home,
    sigstore,
    databaseUrl,
    async close() {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
      await repo.close();
      if (ownSigstore) await ownSigstore.close();
      if (db) await db.drop();
    },
  };
}

export interface CeremonyKeys {
  root: KeyObject[];
  targets: KeyObject[];
}

export function newKeys(rootCount = 1, targetsCount = 1): CeremonyKeys {
  return {
    root: Array.from({ length: rootCount }, (_, i) => generatePrivateKey(i % 2 === 0 ? 'ed25519' : 'ecdsa')),
    targets: Array.from({ length: targetsCount }, () => generatePrivateKey('ed25519')),
  };
}

export async function onlineKeysOf(t: TestRepo) {
  return (await currentOnlinePublicKeys(t.repo.keyStore))!;
}

/** Root v1 signed by `signWith` (indexes into keys.root), for the given online keys. */
export async function makeRoot(
  t: TestRepo,
  keys: CeremonyKeys,
  opts: {
    version?: number;
    rootThreshold?: number;
    signWith?: number[];
    expires?: string;
    online?: { snapshot: unknown; timestamp: unknown };
  } = {},
): Promise<Envelope> {
  const online = (opts.online as Awaited<ReturnType<typeof onlineKeysOf>> | undefined) ?? (await onlineKeysOf(t));
  const signed = rootSigned({
    version: opts.version ?? 1,
    expires: opts.expires ?? expiresAfter(t.clock.now(), DEFAULT_ROOT_EXPIRY_SECONDS),
    rootKeys: keys.root.map((k) => privateKeySigner(k).publicKey),
    rootThreshold: opts.rootThreshold ?? 1,
    targetsKeys: keys.targets.map((k) => privateKeySigner(k).publicKey),
    targetsThreshold: 1,
    snapshotKey: online.snapshot,
    timestampKey: online.timestamp,
  });
  const signWith = opts.signWith ?? keys.root.map((_, i) => i);
  return signEnvelope(
    signed,
    signWith.map((i) => privateKeySigner(keys.root[i]!)),
  );
}

export async function makeTargets(t: TestRepo, keys: CeremonyKeys): Promise<Envelope> {
  return signEnvelope(initialTargetsSigned(t.clock.now()), [privateKeySigner(keys.targets[0]!)]);
}

export async function bootstrapped(
  opts: StartOptions = {},
): Promise<{ t: TestRepo; keys: CeremonyKeys; root: Envelope; targets: Envelope }> {
  const t = await startTestRepo(opts);
  const keys = newKeys();
  const root = await makeRoot(t, keys);
  const targets = await makeTargets(t, keys);
  await t.repo.admission.bootstrap(root, targets, 'test');
  return { t, keys, root, targets };
}

/** Bootstraps with the Sigstore trusted root published as sigstore/trusted_root.json. */
export async function bootstrappedWithSigstore(opts: StartOptions = {}) {
  const t = await startTestRepo(opts);
  const keys = newKeys();
  const root = await makeRoot(t, keys);
  const trustedRootBytes = Buffer.from(JSON.stringify(t.sigstore.setup.trustedRoot));
  await putBlob(t.repo.knex, sha256Hex(trustedRootBytes), trustedRootBytes);
  const targets = await signEnvelope(
    initialTargetsSigned(t.clock.now(), { [SIGSTORE_TRUSTED_ROOT_TARGET]: describeTarget(trustedRootBytes) }),
    [privateKeySigner(keys.targets[0]!)],
  );
  await t.repo.admission.bootstrap(root, targets, 'test');
  return { t, keys, root, targets };
}

/** Admin approval: the next top-level targets delegating `project` to identities (at the main local issuer unless given). */
export async function delegateProject(
  t: TestRepo,
  keys: CeremonyKeys,
  project: string,
  identities: (string | Maintainer)[],
  threshold = 1,
): Promise<void> {
  const current = await t.repo.current.targets();
  const maintainers = identities.map((i) => (typeof i === 'string' ? { identity: i, issuer: t.sigstore.sigstore.issuerUrl } : i));
  const next = editedTargetsSigned(withDelegation(current!.envelope.signed, project, maintainers, threshold), {}, t.clock.now());
  await t.repo.admission.submitTargets(await signEnvelope(next, [privateKeySigner(keys.targets[0]!)]), 'test');
}

/** Signs `signed` with each identity through the local Sigstore, as tuf-maintainer does. */
export async function signAs(
  t: TestRepo,
  signed: JsonObject,
  signers: { identity: string; issuer?: string; keyIssuer?: string }[],
): Promise<Envelope> {
  const signatures = [];
  for (const s of signers) {
    const issuerUrl = s.issuer ? t.sigstore.sigstore.issuerUrlOf(s.issuer) : t.sigstore.sigstore.issuerUrl;
    const keyid = identityKeyid(s.identity, s.keyIssuer ?? issuerUrl);
    signatures.push(
      await signWithIdentity(
        canonicalBytes(signed),
        keyid,
        { fulcioUrl: t.sigstore.sigstore.fulcioUrl, rekorUrl: t.sigstore.sigstore.rekorUrl },
        {
          getToken: () => t.sigstore.sigstore.mintToken({ identity: s.identity, ...(s.issuer ? { issuer: s.issuer } : {}) }),
        },
      ),
    );
  }
  return { signed, signatures };
}

/**
 * Bootstraps `t` in the layered layout: root, top-level targets listing the Sigstore trusted root
 * and delegating to `count` bins signed by a new bins key, and every bin's v1.
 */
export async function bootstrapWithBins(t: TestRepo, count: number): Promise<{ keys: CeremonyKeys; binsKey: KeyObject; root: Envelope }> {
  const keys = newKeys();
  const binsKey = generatePrivateKey('ed25519');
  const root = await makeRoot(t, keys);
  const trustedRootBytes = Buffer.from(JSON.stringify(t.sigstore.setup.trustedRoot));
  await putBlob(t.repo.knex, sha256Hex(trustedRootBytes), trustedRootBytes);
  const layout = { count, keys: [privateKeySigner(binsKey).publicKey], threshold: 1 };
  const targets = await signEnvelope(
    initialTargetsSigned(t.clock.now(), { [SIGSTORE_TRUSTED_ROOT_TARGET]: describeTarget(trustedRootBytes) }, undefined, layout),
    [privateKeySigner(keys.targets[0]!)],
  );
  const bins = new Map<string, unknown>();
  for (const [name, signed] of initialBinsSigned(t.clock.now(), count))
    bins.set(name, await signEnvelope(signed, [privateKeySigner(binsKey)]));
  await t.repo.admission.bootstrap(root, targets, 'test', bins);
  return { keys, binsKey, root };
}
