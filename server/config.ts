// The one configuration object. Read once by the composition root (server/main.ts) and passed down.
import os from 'node:os';
import path from 'node:path';
import { roleNameProblem } from '../core/names.ts';
import { resolveOnlineKeysDir, type OnlineKeysLocation } from './onlineKeysDir.ts';
import { loadMonitorConfig, type MonitorConfig } from './monitor/monitorConfig.ts';
import { loadStorageConfig, type StorageConfig } from './objectStore/storageConfig.ts';
import { loadFeedSettings, type FeedSettings } from './db/feedSettings.ts';

export interface Config {
  /** NODE_ENV=production or --production: never creates keys or bootstraps by itself; requires DATABASE_URL. */
  production: boolean;
  host: string;
  port: number;
  /** URL clients use to reach this server, for printed instructions (PUBLIC_URL). */
  publicUrl: string;
  /** External PostgreSQL; null starts the embedded one under `dataDir`. */
  databaseUrl: string | null;
  dataDir: string;
  /** Port of the embedded PostgreSQL on 127.0.0.1 (EMBEDDED_PG_PORT); 0 picks a free one, logged at start. */
  embeddedPgPort: number;
  /** Dev-mode ceremony output (throwaway keys, admin token). */
  devDir: string;
  /** Directory of online (snapshot/timestamp) key files; ignored when keys come from the environment. ONLINE_KEYS_DIR, default DATA_DIR/online-keys. */
  onlineKeysDir: string;
  /** How onlineKeysDir was chosen (the variable, the default, or the old default holding this repository's keys), for messages. */
  onlineKeysLocation: OnlineKeysLocation;
  /** Said when the server starts and by the operator commands: a setting that works but should change. */
  warnings: string[];
  /** PEM private keys from TUF_SNAPSHOT_KEY / TUF_TIMESTAMP_KEY instead of files. */
  onlineKeysFromEnv: { snapshot: string; timestamp: string } | null;
  timestampExpirySeconds: number;
  snapshotExpirySeconds: number;
  /** SNAPSHOT_VERSION_ONLY (default true): delegated roles listed in snapshot by version alone. */
  snapshotVersionOnly: boolean;
  /** SNAPSHOT_MERKLE_TREES (default true): publish TAP 16 snapshot Merkle trees (root in timestamp, a proof per role). */
  snapshotMerkleTrees: boolean;
  /** Snapshot versions are stored as deltas; a whole file is kept at least every this many (SNAPSHOT_CHECKPOINT_VERSIONS, default 64). */
  snapshotCheckpointVersions: number;
  /** TAP 16 trees of this many recent snapshot versions are kept in memory for their proofs (SNAPSHOT_TREES_KEPT, default 64). */
  snapshotTreesKept: number;
  /** Re-sign a role once less than this fraction of its lifetime is left. */
  resignRemainingFraction: number;
  resignCheckIntervalSeconds: number;
  /** /readyz fails when timestamp has less than this left. */
  readyMinTimestampRemainingSeconds: number;
  /** Fallback reload of the metadata cache, in case a notification was missed. */
  cacheReloadIntervalSeconds: number;
  metadataCacheBytes: number;
  /** Delegating roles (bins) kept parsed for admission and uploads; about 0.4 MB each at 244 projects a bin. PARSED_BINS_CACHED. */
  parsedBinsCached: number;
  timestampMaxAgeSeconds: number;
  // Request bodies, per route: each limit fits what the route carries (docs/design-notes.md, "Uploads").
  /** POST /api/v1/registrations: one signed request and its Sigstore bundle (about 5 KiB). MAX_REGISTRATION_BYTES, default 32 KiB. */
  maxRegistrationBytes: number;
  /** POST /api/v1/projects/NAME/uploads: a project role's signed metadata (small files may ride along as base64 within it). MAX_PROJECT_METADATA_BYTES, default 2 MiB. */
  maxProjectMetadataBytes: number;
  /** /admin/bootstrap and /admin/metadata/*: root, top-level targets and bins. MAX_ADMIN_METADATA_BYTES (older name MAX_METADATA_BYTES), default 10 MiB. */
  maxAdminMetadataBytes: number;
  /** One target file, streamed: PUT .../uploads/SHA/files/PATH and PUT /admin/blobs. MAX_TARGET_BYTES, default 100 MiB. */
  maxTargetBytes: number;
  /** Targets one project role may list: tuf-js (clients, and the server's checks) reads them in quadratic time (1,000: about 0.4 s). MAX_TARGETS_PER_PROJECT_ROLE, default 1000. */
  maxTargetsPerProjectRole: number;
  /** JSON bodies larger than this are parsed, canonicalized and verified on worker threads, never on the event loop. PARSE_OFF_THREAD_BYTES, default 64 KiB. */
  parseOffThreadBytes: number;
  /** JSON bodies held in memory at once by this process while read and parsed; beyond it, 503. MAX_BUFFERED_BODY_BYTES, default 64 MiB. */
  maxBufferedBodyBytes: number;
  /** A JSON body must arrive whole within this, and a streamed file may not stall longer (408). BODY_TIMEOUT_SECONDS, default 30. */
  bodyTimeoutSeconds: number;
  /** Streamed file uploads at once in this process; beyond it, 503 with Retry-After. MAX_CONCURRENT_FILE_UPLOADS, default 8. */
  maxConcurrentFileUploads: number;
  /** Streamed files are staged here (hashed, cut off at their declared length) before one transaction stores them. UPLOAD_STAGING_DIR, default DATA_DIR/staging. */
  uploadStagingDir: string;
  /** A client has this long to send its request headers (node's headersTimeout; slowloris). HEADERS_TIMEOUT_SECONDS, default 20. */
  headersTimeoutSeconds: number;
  /** A whole request, body included (node's requestTimeout): room for MAX_TARGET_BYTES on a slow link. REQUEST_TIMEOUT_SECONDS, default 3600. */
  requestTimeoutSeconds: number;
  logLevel: string;
  /** Sigstore trusted root file (SIGSTORE_TRUSTED_ROOT); null: the local one in dev mode, else public-good. */
  sigstoreTrustedRootFile: string | null;
  /** Advertised to maintainer tools; in dev mode the local Sigstore's URLs replace them. */
  sigstoreFulcioUrl: string;
  sigstoreRekorUrl: string;
  /** Run the local Sigstore (OIDC issuer, Fulcio, Rekor) under /dev/sigstore: dev mode only. */
  devSigstore: boolean;
  /** Bins the development ceremony creates (DEV_BINS, a power of two up to 4096); 0 for the flat layout. */
  devBinCount: number;
  projectMaxExpirySeconds: number;
  registrationMaxSkewSeconds: number;
  /** Warn (API, /readyz) when root or targets expire within this window: time for a ceremony. */
  expiryWarningSeconds: number;
  /** Write requests (POST/PUT) a client address may make per minute, per process; 0 turns it off. */
  writeRateLimitPerMinute: number;
  /** Worker threads that verify upload signatures, per server process (VERIFY_WORKERS); 0 verifies on the main thread. */
  verifyWorkers: number;
  /**
   * Server processes that share the port (WEB_CONCURRENCY or `--workers N`; default one per core):
   * more than one runs a supervising process and N workers (server/cluster/). 1: one process, as before.
   */
  workers: number;
  /** Pending registrations one identity (identity and issuer) may have at once; more answer 429. */
  maxPendingRegistrationsPerIdentity: number;
  /** Pending registrations one project (by normalized name) may have at once; more answer 409. */
  maxPendingRegistrationsPerProject: number;
  /** Project names nobody may register or be delegated (RESERVED_PROJECT_NAMES, comma-separated), besides the repository's own folders. */
  reservedProjectNames: string[];
  /** Pending project versions that have not reached their threshold after this long are removed, with their files. */
  pendingVersionMaxAgeSeconds: number;
  /** Rejected registrations are removed this long after the decision. */
  rejectedRegistrationRetentionSeconds: number;
  /** Pending registrations nobody approved or rejected are removed after this long. */
  pendingRegistrationMaxAgeSeconds: number;
  /** A file no stored or pending version lists is removed once it was last uploaded longer ago than this. */
  blobGcGraceSeconds: number;
  /** How often each process runs the garbage collection (`tuf-server gc`); 0 turns the schedule off. */
  gcIntervalSeconds: number;
  /** A target file a newer version of its role dropped stays downloadable this long (clients that read the version before); 0: not at all. */
  supersededTargetGraceSeconds: number;
  // Restore safety (issue 16; docs/runbooks.md, "Restoring from a backup").
  /** The highest snapshot/timestamp versions this host published, kept outside the database. PUBLISHED_MARK_FILE, default DATA_DIR/published-mark.json. */
  publishedMarkFile: string;
  /** A mirror or CDN's metadata URL, read at start as a witness of what clients hold (MIRROR_URL); null: none. */
  mirrorUrl: string | null;
  /** Where that mirror serves target files (MIRROR_TARGETS_URL); null: its metadata URL with /metadata replaced by /targets. */
  mirrorTargetsUrl: string | null;
  /**
   * Online keys in a PKCS#11 token instead of files (PKCS11_MODULE, PKCS11_TOKEN_LABEL, PKCS11_PIN or
   * PKCS11_PIN_FILE, PKCS11_KEY_TYPE ed25519|ecdsa|auto); null: files or the environment.
   */
  pkcs11: {
    modulePath: string;
    tokenLabel: string;
    pin: string | null;
    pinFile: string | null;
    keyType: 'ed25519' | 'ecdsa' | 'auto';
  } | null;
  /** The transparency monitor (MONITOR_*): server/monitor/monitorConfig.ts. */
  monitor: MonitorConfig;
  /** Object storage (BLOB_STORE_URL, TARGET_DOWNLOADS, PUBLISH_TO, ...): server/objectStore/storageConfig.ts. */
  storage: StorageConfig;
  /** How other processes' publications are followed (DATABASE_LISTEN, DATABASE_LISTEN_URL, PUBLICATION_POLL_MS): server/db/publicationFeed.ts. */
  publicationFeed: FeedSettings;
}

function pkcs11Config(env: Env, root: string, keysFromEnv: boolean): Config['pkcs11'] {
  if (!env.PKCS11_MODULE) return null;
  if (keysFromEnv) throw new Error('configuration: set PKCS11_MODULE or TUF_SNAPSHOT_KEY/TUF_TIMESTAMP_KEY, not both');
  if (!env.PKCS11_TOKEN_LABEL)
    throw new Error('configuration: PKCS11_MODULE needs PKCS11_TOKEN_LABEL (the label of the token holding the keys)');
  if (!env.PKCS11_PIN === !env.PKCS11_PIN_FILE)
    throw new Error('configuration: PKCS11_MODULE needs exactly one of PKCS11_PIN and PKCS11_PIN_FILE');
  const keyType = env.PKCS11_KEY_TYPE ?? 'auto';
  if (keyType !== 'ed25519' && keyType !== 'ecdsa' && keyType !== 'auto')
    throw new Error(`configuration: PKCS11_KEY_TYPE must be ed25519, ecdsa or auto, got ${JSON.stringify(keyType)}`);
  return {
    modulePath: env.PKCS11_MODULE,
    tokenLabel: env.PKCS11_TOKEN_LABEL,
    pin: env.PKCS11_PIN || null,
    pinFile: env.PKCS11_PIN_FILE ? path.resolve(root, env.PKCS11_PIN_FILE) : null,
    keyType,
  };
}

type Env = Record<string, string | undefined>;

function int(env: Env, name: string, fallback: number, min = 0): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  if (!/^\d+$/.test(raw) || Number(raw) < min)
    throw new Error(`configuration: ${name} must be an integer >= ${min}, got ${JSON.stringify(raw)}`);
  return Number(raw);
}

function port16(env: Env, name: string): number {
  const port = int(env, name, 0);
  if (port > 65535) throw new Error(`configuration: ${name} must be a TCP port (0 to 65535), got ${port}`);
  return port;
}

/** RESERVED_PROJECT_NAMES: names separated by commas or spaces, each a valid project name. */
function reservedNames(raw: string | undefined): string[] {
  const names = (raw ?? '').split(/[\s,]+/).filter((n) => n !== '');
  for (const name of names) {
    const problem = roleNameProblem(name);
    if (problem) throw new Error(`configuration: RESERVED_PROJECT_NAMES: ${JSON.stringify(name)} ${problem}`);
  }
  return names;
}

/** `--workers N` (or `--workers=N`) before WEB_CONCURRENCY; default one process per core. */
function workerCount(env: Env, argv: string[]): number {
  const i = argv.findIndex((a) => a === '--workers' || a.startsWith('--workers='));
  const given = i < 0 ? undefined : argv[i]!.includes('=') ? argv[i]!.slice('--workers='.length) : (argv[i + 1] ?? '');
  const raw = given ?? env.WEB_CONCURRENCY ?? '';
  const name = given !== undefined ? '--workers' : 'WEB_CONCURRENCY';
  if (given === undefined && raw === '') return os.availableParallelism();
  if (!/^\d+$/.test(raw) || Number(raw) < 1 || Number(raw) > 256)
    throw new Error(`configuration: ${name} must be a number of processes from 1 to 256, got ${JSON.stringify(raw)}`);
  return Number(raw);
}

export function loadConfig(env: Env = process.env, argv: string[] = []): Config {
  const production = env.NODE_ENV === 'production' || argv.includes('--production');
  const root = path.resolve(env.TUF_HOME ?? process.cwd());
  const port = int(env, 'PORT', 8080);
  const host = env.HOST ?? (production ? '0.0.0.0' : '127.0.0.1');
  const timestampExpirySeconds = int(env, 'TIMESTAMP_EXPIRY_SECONDS', 86_400, 60);
  const snapshot = env.TUF_SNAPSHOT_KEY;
  const timestamp = env.TUF_TIMESTAMP_KEY;
  if ((snapshot === undefined) !== (timestamp === undefined)) {
    throw new Error('configuration: set both TUF_SNAPSHOT_KEY and TUF_TIMESTAMP_KEY, or neither');
  }
  const databaseUrl = env.DATABASE_URL || null;
  if (production && !databaseUrl) throw new Error('configuration: production mode requires DATABASE_URL');
  const dataDir = path.resolve(root, env.DATA_DIR ?? '.data');
  const onlineKeysFromEnv = snapshot !== undefined && timestamp !== undefined ? { snapshot, timestamp } : null;
  const onlineKeysLocation = resolveOnlineKeysDir({
    explicit: env.ONLINE_KEYS_DIR,
    home: root,
    dataDir,
    probe: onlineKeysFromEnv === null,
  });
  const maxTargetBytes = int(env, 'MAX_TARGET_BYTES', 100 * 1024 * 1024, 1);
  const workers = workerCount(env, argv);
  const fraction = Number(env.RESIGN_REMAINING_FRACTION ?? '0.5');
  if (!(fraction > 0 && fraction < 1)) throw new Error('configuration: RESIGN_REMAINING_FRACTION must be between 0 and 1');
  return {
    production,
    host,
    port,
    publicUrl: env.PUBLIC_URL ?? `http://localhost:${port}`,
    databaseUrl,
    dataDir,
    embeddedPgPort: port16(env, 'EMBEDDED_PG_PORT'),
    devDir: path.resolve(root, env.DEV_DIR ?? '.dev'),
    onlineKeysDir: onlineKeysLocation.dir,
    onlineKeysLocation,
    warnings: onlineKeysLocation.warning ? [onlineKeysLocation.warning] : [],
    onlineKeysFromEnv,
    timestampExpirySeconds,
    snapshotExpirySeconds: int(env, 'SNAPSHOT_EXPIRY_SECONDS', 7 * 86_400, 60),
    snapshotVersionOnly: env.SNAPSHOT_VERSION_ONLY !== 'false',
    snapshotMerkleTrees: env.SNAPSHOT_MERKLE_TREES !== 'false',
    snapshotCheckpointVersions: int(env, 'SNAPSHOT_CHECKPOINT_VERSIONS', 64, 1),
    snapshotTreesKept: int(env, 'SNAPSHOT_TREES_KEPT', 64, 1),
    resignRemainingFraction: fraction,
    resignCheckIntervalSeconds: int(env, 'RESIGN_CHECK_INTERVAL_SECONDS', 60, 1),
    readyMinTimestampRemainingSeconds: int(env, 'READY_MIN_TIMESTAMP_REMAINING_SECONDS', Math.floor(timestampExpirySeconds / 4)),
    cacheReloadIntervalSeconds: int(env, 'CACHE_RELOAD_INTERVAL_SECONDS', 30, 1),
    metadataCacheBytes: int(env, 'METADATA_CACHE_BYTES', 256 * 1024 * 1024, 1024),
    parsedBinsCached: int(env, 'PARSED_BINS_CACHED', 1024, 1),
    timestampMaxAgeSeconds: int(env, 'TIMESTAMP_MAX_AGE_SECONDS', 30),
    maxRegistrationBytes: int(env, 'MAX_REGISTRATION_BYTES', 32 * 1024, 1024),
    maxProjectMetadataBytes: int(env, 'MAX_PROJECT_METADATA_BYTES', 2 * 1024 * 1024, 1024),
    maxAdminMetadataBytes: int(env, 'MAX_ADMIN_METADATA_BYTES', int(env, 'MAX_METADATA_BYTES', 10 * 1024 * 1024, 1024), 1024),
    maxTargetBytes,
    maxTargetsPerProjectRole: int(env, 'MAX_TARGETS_PER_PROJECT_ROLE', 1000, 1),
    parseOffThreadBytes: int(env, 'PARSE_OFF_THREAD_BYTES', 64 * 1024, 0),
    maxBufferedBodyBytes: int(env, 'MAX_BUFFERED_BODY_BYTES', 64 * 1024 * 1024, 1024),
    bodyTimeoutSeconds: int(env, 'BODY_TIMEOUT_SECONDS', 30, 1),
    maxConcurrentFileUploads: int(env, 'MAX_CONCURRENT_FILE_UPLOADS', 8, 1),
    uploadStagingDir: path.resolve(root, env.UPLOAD_STAGING_DIR ?? path.join(env.DATA_DIR ?? '.data', 'staging')),
    headersTimeoutSeconds: int(env, 'HEADERS_TIMEOUT_SECONDS', 20, 1),
    requestTimeoutSeconds: int(env, 'REQUEST_TIMEOUT_SECONDS', 3600, 1),
    logLevel: env.LOG_LEVEL ?? 'info',
    sigstoreTrustedRootFile: env.SIGSTORE_TRUSTED_ROOT ? path.resolve(root, env.SIGSTORE_TRUSTED_ROOT) : null,
    sigstoreFulcioUrl: env.SIGSTORE_FULCIO_URL ?? 'https://fulcio.sigstore.dev',
    sigstoreRekorUrl: env.SIGSTORE_REKOR_URL ?? 'https://rekor.sigstore.dev',
    devSigstore: !production && env.DEV_SIGSTORE !== 'false',
    devBinCount: int(env, 'DEV_BINS', 1024),
    projectMaxExpirySeconds: int(env, 'PROJECT_MAX_EXPIRY_SECONDS', 366 * 86_400, 60),
    registrationMaxSkewSeconds: int(env, 'REGISTRATION_MAX_SKEW_SECONDS', 600, 1),
    expiryWarningSeconds: int(env, 'EXPIRY_WARNING_SECONDS', 30 * 86_400, 0),
    writeRateLimitPerMinute: int(env, 'WRITE_RATE_LIMIT_PER_MINUTE', 600, 0),
    // One core for each process's main thread, the rest shared out (at most 4 per process) for Sigstore verification.
    verifyWorkers: int(env, 'VERIFY_WORKERS', Math.min(4, Math.max(1, Math.round((os.availableParallelism() - 1) / workers))), 0),
    workers,
    maxPendingRegistrationsPerIdentity: int(env, 'MAX_PENDING_REGISTRATIONS_PER_IDENTITY', 10, 1),
    maxPendingRegistrationsPerProject: int(env, 'MAX_PENDING_REGISTRATIONS_PER_PROJECT', 5, 1),
    reservedProjectNames: reservedNames(env.RESERVED_PROJECT_NAMES),
    pendingVersionMaxAgeSeconds: int(env, 'PENDING_VERSION_MAX_AGE_SECONDS', 14 * 86_400, 1),
    rejectedRegistrationRetentionSeconds: int(env, 'REJECTED_REGISTRATION_RETENTION_SECONDS', 30 * 86_400, 0),
    pendingRegistrationMaxAgeSeconds: int(env, 'PENDING_REGISTRATION_MAX_AGE_SECONDS', 90 * 86_400, 1),
    blobGcGraceSeconds: int(env, 'BLOB_GC_GRACE_SECONDS', 86_400, 0),
    gcIntervalSeconds: int(env, 'GC_INTERVAL_SECONDS', 3600, 0),
    supersededTargetGraceSeconds: int(env, 'SUPERSEDED_TARGET_GRACE_SECONDS', 86_400, 0),
    publishedMarkFile: path.resolve(root, env.PUBLISHED_MARK_FILE ?? path.join(dataDir, 'published-mark.json')),
    mirrorUrl: env.MIRROR_URL || null,
    mirrorTargetsUrl: env.MIRROR_TARGETS_URL || null,
    pkcs11: pkcs11Config(env, root, onlineKeysFromEnv !== null),
    monitor: loadMonitorConfig(env, production, !production && env.DEV_SIGSTORE !== 'false'),
    storage: loadStorageConfig(env),
    publicationFeed: loadFeedSettings(env),
  };
}
