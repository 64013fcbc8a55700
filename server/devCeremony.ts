// Development mode only: a ceremony with throwaway keys, so `npm start` on a fresh clone gives a
// working repository. Its keys sit unprotected on the server: never use it for anything real.
import fs from 'node:fs';
import path from 'node:path';
import type { Logger } from 'pino';
import { initialBinsSigned, initialTargetsSigned, singleKeyRoot } from '../core/ceremony.ts';
import { checkBinCount } from '../core/bins.ts';
import type { Clock } from '../core/clock.ts';
import { encodePrivateKeyFile } from '../core/keyFile.ts';
import { generatePrivateKey } from '../core/keys.ts';
import { describeTarget, servedBytes, signEnvelope } from '../core/metadata.ts';
import { sha256Hex } from '../core/canonical.ts';
import { SIGSTORE_TRUSTED_ROOT_TARGET } from '../core/identity.ts';
import { putBlob } from './db/targetsRepo.ts';
import { markDevelopmentState } from './db/developmentRepo.ts';
import { privateKeySigner } from '../core/signer.ts';
import type { Knex } from 'knex';
import type { AdminTokens } from './admin/adminTokens.ts';
import type { AdmissionService } from './admission/adminMetadata.ts';
import { currentOnlinePublicKeys, type OnlineKeyStore } from './onlineKeys.ts';
import { writeFileAtomic } from '../platform/atomicFile.ts';
import { ensurePrivateDir } from '../platform/privateDir.ts';

/** Passphrase of the dev key files, so the offline tool can be tried on them (TUF_KEY_PASSPHRASE). */
export const DEV_KEY_PASSPHRASE = 'insecure-dev-passphrase';

export async function runDevCeremony(opts: {
  devDir: string;
  admission: AdmissionService;
  knex: Knex;
  /** Published as the target sigstore/trusted_root.json, so clients learn it through TUF. */
  sigstoreTrustedRoot: unknown;
  keyStore: OnlineKeyStore;
  clock: Clock;
  log: Logger;
  /** The layered layout with this many bins; 0: projects directly in top-level targets. */
  binCount: number;
}): Promise<void> {
  const { devDir, log } = opts;
  const online = await currentOnlinePublicKeys(opts.keyStore);
  if (!online) throw new Error('dev ceremony: online keys are missing');
  const now = opts.clock.now();
  const { root, rootKey, targetsKey } = await singleKeyRoot(online, now);
  const trustedRootBytes = Buffer.from(`${JSON.stringify(opts.sigstoreTrustedRoot, null, 2)}\n`);
  await putBlob(opts.knex, sha256Hex(trustedRootBytes), trustedRootBytes);
  if (opts.binCount > 0) checkBinCount(opts.binCount);
  const binsKey = generatePrivateKey('ed25519');
  const layout = opts.binCount > 0 ? { count: opts.binCount, keys: [privateKeySigner(binsKey).publicKey], threshold: 1 } : undefined;
  const targets = await signEnvelope(
    initialTargetsSigned(now, { [SIGSTORE_TRUSTED_ROOT_TARGET]: describeTarget(trustedRootBytes) }, undefined, layout),
    [privateKeySigner(targetsKey)],
  );
  const bins = new Map<string, unknown>();
  if (layout)
    for (const [name, signed] of initialBinsSigned(now, layout.count))
      bins.set(name, await signEnvelope(signed, [privateKeySigner(binsKey)]));
  const keysDir = path.join(devDir, 'keys');
  ensurePrivateDir(devDir);
  ensurePrivateDir(keysDir);
  writeFileAtomic(
    path.join(keysDir, 'dev-root.key.json'),
    JSON.stringify(encodePrivateKeyFile('dev-root', rootKey, DEV_KEY_PASSPHRASE), null, 2),
    { mode: 0o600 },
  );
  writeFileAtomic(
    path.join(keysDir, 'dev-targets.key.json'),
    JSON.stringify(encodePrivateKeyFile('dev-targets', targetsKey, DEV_KEY_PASSPHRASE), null, 2),
    { mode: 0o600 },
  );
  if (layout)
    writeFileAtomic(
      path.join(keysDir, 'dev-bins.key.json'),
      JSON.stringify(encodePrivateKeyFile('dev-bins', binsKey, DEV_KEY_PASSPHRASE), null, 2),
      { mode: 0o600 },
    );
  // Marked before it bootstraps: a crash in between leaves a marked database, never an unmarked
  // one that production would take.
  await markDevelopmentState(opts.knex, 'development ceremony: root v1 and targets v1 signed with throwaway keys kept on the server');
  await opts.admission.bootstrap(root, targets, 'dev-ceremony', bins);
  writeFileAtomic(path.join(devDir, '1.root.json'), servedBytes(root).toString('utf8'));
  log.warn(
    { keys: keysDir },
    'DEVELOPMENT CEREMONY: bootstrapped with throwaway keys stored unprotected on this machine. INSECURE: for trying things out only; ' +
      'run a real offline ceremony (see README) for anything that matters',
  );
}

/** Makes sure devDir/admin-token holds a token the database knows. */
export async function ensureDevAdminToken(tokens: AdminTokens, devDir: string): Promise<string> {
  const file = path.join(devDir, 'admin-token');
  if (fs.existsSync(file)) {
    const token = fs.readFileSync(file, 'utf8').trim();
    if (await tokens.authenticate(token)) return file;
  }
  const token = await tokens.create(`dev-${Date.now()}`, { development: true });
  writeFileAtomic(file, `${token}\n`, { mode: 0o600 });
  return file;
}
