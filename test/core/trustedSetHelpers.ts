// Builders for small (and very large) TUF repositories in memory, signed with ordinary keys, for
// the trusted-set and client tests. No database, no network.
import type { KeyObject } from 'node:crypto';
import { canonicalBytes, sha256Hex, type JsonObject } from '../../core/canonical.ts';
import { generatePrivateKey, keyidOf, signWithPrivateKey, tufPublicKey, type KeyAlgorithm, type TufKey } from '../../core/keys.ts';
import type { SignatureJson } from '../../core/metadata.ts';
import { isTrustError, TrustedSet, type RoleToLoad, type TrustErrorCode } from '../../core/trustedSet.ts';

export interface TestKey {
  priv: KeyObject;
  pub: TufKey;
  keyid: string;
}

export function newKey(alg: KeyAlgorithm = 'ed25519', keyid?: string): TestKey {
  const priv = generatePrivateKey(alg);
  const pub = tufPublicKey(priv);
  return { priv, pub, keyid: keyid ?? keyidOf(pub) };
}

export const FUTURE = '2099-01-01T00:00:00Z';
export const PAST = '2001-01-01T00:00:00Z';

export function sign(signed: JsonObject, key: TestKey): SignatureJson {
  return { keyid: key.keyid, sig: signWithPrivateKey(key.priv, canonicalBytes(signed)) };
}

/** The served bytes of {signed, signatures}, signed by each key (plus any given signatures). */
export function envelope(signed: JsonObject, signers: TestKey[], extra: SignatureJson[] = []): Buffer {
  return Buffer.from(JSON.stringify({ signed, signatures: [...signers.map((k) => sign(signed, k)), ...extra] }));
}

export interface RootRoles {
  root: TestKey[];
  timestamp: TestKey[];
  snapshot: TestKey[];
  targets: TestKey[];
}

export function rootSigned(
  version: number,
  roles: RootRoles,
  opts: { expires?: string; thresholds?: Partial<Record<keyof RootRoles, number>>; consistent?: boolean } = {},
): JsonObject {
  const keys = dict<JsonObject>();
  const roleJson: JsonObject = {};
  for (const [name, list] of Object.entries(roles) as [keyof RootRoles, TestKey[]][]) {
    for (const k of list) keys[k.keyid] = k.pub as unknown as JsonObject;
    roleJson[name] = { keyids: list.map((k) => k.keyid), threshold: opts.thresholds?.[name] ?? 1 };
  }
  return {
    _type: 'root',
    spec_version: '1.0.31',
    version,
    expires: opts.expires ?? FUTURE,
    consistent_snapshot: opts.consistent ?? true,
    keys,
    roles: roleJson,
  };
}

export interface MetaJson {
  version: number;
  length?: number;
  hashes?: Record<string, string>;
}

/** A METAFILES entry for `bytes`; `bare` leaves out length and hashes (only version is required). */
export function metaFor(version: number, bytes: Uint8Array, bare = false): MetaJson {
  return bare ? { version } : { version, length: bytes.length, hashes: { sha256: sha256Hex(bytes) } };
}

export function timestampSigned(version: number, snapshot: MetaJson, expires = FUTURE): JsonObject {
  return { _type: 'timestamp', spec_version: '1.0.31', version, expires, meta: { 'snapshot.json': snapshot as unknown as JsonObject } };
}

export function snapshotSigned(version: number, meta: Record<string, MetaJson>, expires = FUTURE): JsonObject {
  return { _type: 'snapshot', spec_version: '1.0.31', version, expires, meta: meta as unknown as JsonObject };
}

export function targetEntry(bytes: Uint8Array): JsonObject {
  return { length: bytes.length, hashes: { sha256: sha256Hex(bytes) } };
}

export interface DelegationJson {
  name: string;
  keys: TestKey[] | TufKey[];
  keyids?: string[];
  threshold?: number;
  paths?: string[];
  path_hash_prefixes?: string[];
  terminating?: boolean;
}

/** A map for names from metadata: `{}` would turn an assignment to "__proto__" into a prototype change. */
export function dict<T>(): Record<string, T> {
  return Object.create(null) as Record<string, T>;
}

export function delegations(roles: DelegationJson[]): JsonObject {
  const keys = dict<JsonObject>();
  const out: JsonObject[] = [];
  for (const r of roles) {
    const keyids: string[] = [];
    for (const k of r.keys) {
      const [keyid, pub]: [string, TufKey] = 'priv' in k ? [(k as TestKey).keyid, (k as TestKey).pub] : [keyidOf(k as TufKey), k as TufKey];
      keys[keyid] = pub as unknown as JsonObject;
      keyids.push(keyid);
    }
    const role: JsonObject = { name: r.name, keyids: r.keyids ?? keyids, threshold: r.threshold ?? 1, terminating: r.terminating ?? false };
    if (r.paths) role.paths = r.paths;
    if (r.path_hash_prefixes) role.path_hash_prefixes = r.path_hash_prefixes;
    out.push(role);
  }
  return { keys, roles: out };
}

export function targetsSigned(
  version: number,
  targets: Record<string, JsonObject>,
  opts: { expires?: string; delegations?: JsonObject } = {},
): JsonObject {
  const signed: JsonObject = { _type: 'targets', spec_version: '1.0.31', version, expires: opts.expires ?? FUTURE, targets };
  if (opts.delegations) signed.delegations = opts.delegations;
  return signed;
}

/**
 * A whole repository held as served files: `metadata` by file name (N.ROLE.json, timestamp.json),
 * `targets` by URL path (HASH.NAME). Roles are set one by one; `publish` writes snapshot and
 * timestamp over the current roles.
 */
export class MemoryRepo {
  readonly keys = { root: newKey(), timestamp: newKey(), snapshot: newKey(), targets: newKey('ecdsa') };
  readonly metadata = new Map<string, Buffer>();
  readonly targetFiles = new Map<string, Buffer>();
  /** Current version and bytes of targets and each delegated role. */
  readonly roles = new Map<string, { version: number; bytes: Buffer }>();
  rootVersion = 0;
  snapshotVersion = 0;
  timestampVersion = 0;
  bareMeta = false;

  constructor() {
    this.setRoot(rootSigned(1, this.rootRoles()), [this.keys.root]);
  }

  rootRoles(): RootRoles {
    return { root: [this.keys.root], timestamp: [this.keys.timestamp], snapshot: [this.keys.snapshot], targets: [this.keys.targets] };
  }

  setRoot(signed: JsonObject, signers: TestKey[]): Buffer {
    const bytes = envelope(signed, signers);
    this.rootVersion = signed.version as number;
    this.metadata.set(`${this.rootVersion}.root.json`, bytes);
    return bytes;
  }

  /** Stores a role's bytes (signed by `signers`, or given whole) at its consistent-snapshot name. */
  setRole(name: string, signed: JsonObject, signers: TestKey[] | Buffer): Buffer {
    const bytes = Buffer.isBuffer(signers) ? signers : envelope(signed, signers);
    const version = signed.version as number;
    this.roles.set(name, { version, bytes });
    this.metadata.set(`${version}.${encodeURIComponent(name)}.json`, bytes);
    return bytes;
  }

  addTarget(path: string, bytes: Buffer): JsonObject {
    const entry = targetEntry(bytes);
    const slash = path.lastIndexOf('/');
    const name = `${(entry.hashes as Record<string, string>).sha256}.${path.slice(slash + 1)}`;
    this.targetFiles.set(slash >= 0 ? `${path.slice(0, slash)}/${name}` : name, bytes);
    return entry;
  }

  publish(opts: { snapshotExpires?: string; timestampExpires?: string } = {}): void {
    const meta = dict<MetaJson>();
    for (const [name, r] of this.roles) meta[`${name}.json`] = metaFor(r.version, r.bytes, this.bareMeta);
    const snapshot = envelope(snapshotSigned(++this.snapshotVersion, meta, opts.snapshotExpires), [this.keys.snapshot]);
    this.metadata.set(`${this.snapshotVersion}.snapshot.json`, snapshot);
    const ts = envelope(
      timestampSigned(++this.timestampVersion, metaFor(this.snapshotVersion, snapshot, this.bareMeta), opts.timestampExpires),
      [this.keys.timestamp],
    );
    this.metadata.set('timestamp.json', ts);
  }

  get root1(): Buffer {
    return this.metadata.get('1.root.json')!;
  }
}

// --- Driving a trusted set -----------------------------------------------------------------------

export const code = (c: TrustErrorCode) => (err: unknown) => isTrustError(err, c);

export interface Fixture {
  k: { root: TestKey; timestamp: TestKey; snapshot: TestKey; targets: TestKey };
  roles: RootRoles;
  root: Buffer;
}

export function fixture(): Fixture {
  const k = { root: newKey(), timestamp: newKey(), snapshot: newKey('ecdsa'), targets: newKey() };
  const roles = { root: [k.root], timestamp: [k.timestamp], snapshot: [k.snapshot], targets: [k.targets] };
  return { k, roles, root: envelope(rootSigned(1, roles), [k.root]) };
}

/** timestamp + snapshot listing `roles` (name -> bytes), each role at version 1 unless given. */
export function chain(
  f: Fixture,
  roles: Record<string, { bytes: Buffer; version?: number }>,
  opts: { ts?: number; snap?: number; bare?: boolean; tsExpires?: string; snapExpires?: string } = {},
) {
  const meta = dict<ReturnType<typeof metaFor>>();
  for (const [name, r] of Object.entries(roles)) meta[`${name}.json`] = metaFor(r.version ?? 1, r.bytes, opts.bare);
  const snapshot = envelope(snapshotSigned(opts.snap ?? 1, meta, opts.snapExpires), [f.k.snapshot]);
  const timestamp = envelope(timestampSigned(opts.ts ?? 1, metaFor(opts.snap ?? 1, snapshot, opts.bare), opts.tsExpires), [f.k.timestamp]);
  return { snapshot, timestamp };
}

export function loaded(f: Fixture, targets: Buffer, extra: Record<string, Buffer> = {}): TrustedSet {
  const set = new TrustedSet(f.root);
  const { snapshot, timestamp } = chain(f, {
    targets: { bytes: targets },
    ...Object.fromEntries(Object.entries(extra).map(([n, b]) => [n, { bytes: b }])),
  });
  set.updateTimestamp(timestamp);
  set.updateSnapshot(snapshot);
  set.updateTargets(targets);
  return set;
}

/** Runs a target search, loading each role it asks for from `roles`; returns the roles asked for and the result. */
export function search(set: TrustedSet, roles: Record<string, Buffer>, path: string, max?: number) {
  const asked: string[] = [];
  const walk = set.searchTarget(path, max);
  let step = walk.next();
  while (!step.done) {
    const need: RoleToLoad = step.value;
    asked.push(need.role);
    set.updateDelegatedTargets(roles[need.role]!, need.role, need.delegator);
    step = walk.next();
  }
  return { asked, found: step.value };
}
