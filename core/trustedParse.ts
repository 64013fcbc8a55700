// Parsing plain JSON metadata into the trusted set's model (core/trustedModel.ts), and the length
// and hash checks of METAFILES entries. Linear in the size of the document: one pass over each map,
// into a Map, instead of @tufjs/models' object spread per entry. Pure: no I/O.
import { createHash } from 'node:crypto';
import { canonicalBytes, isPlainObject, type JsonObject } from './canonical.ts';
import type { TufKey } from './keys.ts';
import type { SignatureJson } from './metadata.ts';
import { PathPattern } from './pathPatterns.ts';
import { provenanceRequirementOf, type BuilderIdentity } from './provenance.ts';
import {
  Delegations,
  TOP_LEVEL_ROLE_NAMES,
  TrustError,
  type DelegatedRole,
  type MetaInfo,
  type RoleKeys,
  type SuccinctRoles,
  type TargetInfo,
  type TrustedRoot,
  type TrustedSnapshot,
  type TrustedTargets,
  type TrustedTimestamp,
  type Common,
} from './trustedModel.ts';

function malformed(where: string, what: string): TrustError {
  return new TrustError('malformed', `${where}: ${what}`);
}

function hasOwn(obj: object, key: string): boolean {
  return Object.prototype.hasOwnProperty.call(obj, key);
}

function positiveInteger(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 1;
}

function nonNegativeInteger(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
}

function stringArray(value: unknown): value is string[] {
  return Array.isArray(value) && value.every((v) => typeof v === 'string');
}

const EXPIRES = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/;

export interface Envelope {
  signed: JsonObject;
  signatures: SignatureJson[];
  /** Canonical JSON of `signed`: what every signature is over. */
  signedBytes: Buffer;
  version: number;
  expires: Date;
}

/** JSON, envelope shape, `_type`, spec_version, version and expires: what every role has. */
export function parseEnvelope(bytes: Uint8Array, type: string, where: string): Envelope {
  let doc: unknown;
  try {
    doc = JSON.parse(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8'));
  } catch (err) {
    throw malformed(where, `not valid JSON (${(err as Error).message})`);
  }
  if (!isPlainObject(doc)) throw malformed(where, 'metadata must be a JSON object');
  const { signed, signatures } = doc;
  if (!isPlainObject(signed)) throw malformed(where, '"signed" must be an object');
  if (!Array.isArray(signatures)) throw malformed(where, '"signatures" must be an array');
  const seen = new Set<string>();
  for (const [i, sig] of signatures.entries()) {
    if (!isPlainObject(sig) || typeof sig.keyid !== 'string' || typeof sig.sig !== 'string') {
      throw malformed(where, `signatures[${i}] needs string "keyid" and "sig"`);
    }
    // One signature per keyid (as tuf-js and python-tuf require), so each key counts once.
    if (seen.has(sig.keyid)) throw malformed(where, `multiple signatures found for keyid: ${sig.keyid}`);
    seen.add(sig.keyid);
  }
  if (signed._type !== type) {
    throw new TrustError('wrong_type', `${where}: expected '${type}', got ${JSON.stringify(signed._type)}`);
  }
  const spec = signed.spec_version;
  if (typeof spec !== 'string' || !/^1\.\d+(\.\d+)?$/.test(spec)) {
    throw new TrustError('unsupported_spec_version', `${where}: spec_version ${JSON.stringify(spec)} is not a supported 1.x version`);
  }
  if (!positiveInteger(signed.version)) throw malformed(where, 'version must be a positive integer');
  const expiresAt = typeof signed.expires === 'string' && EXPIRES.test(signed.expires) ? Date.parse(signed.expires) : NaN;
  if (Number.isNaN(expiresAt)) throw malformed(where, 'expires must be a UTC time such as 2030-01-01T00:00:00Z');
  let signedBytes: Buffer;
  try {
    signedBytes = canonicalBytes(signed);
  } catch (err) {
    throw malformed(where, (err as Error).message);
  }
  return {
    signed,
    signatures: signatures as unknown as SignatureJson[],
    signedBytes,
    version: signed.version,
    expires: new Date(expiresAt),
  };
}

function parseKey(value: unknown, where: string): TufKey {
  if (!isPlainObject(value)) throw malformed(where, 'a key must be an object');
  const { keytype, scheme, keyval } = value;
  if (typeof keytype !== 'string' || typeof scheme !== 'string' || !isPlainObject(keyval)) {
    throw malformed(where, 'a key needs string keytype and scheme and an object keyval');
  }
  for (const v of Object.values(keyval)) if (typeof v !== 'string') throw malformed(where, 'keyval values must be strings');
  return value as TufKey;
}

function parseKeys(value: unknown, where: string): Map<string, TufKey> {
  if (!isPlainObject(value)) throw malformed(where, 'keys must be an object');
  const keys = new Map<string, TufKey>();
  for (const [keyid, key] of Object.entries(value)) keys.set(keyid, parseKey(key, `${where} key ${keyid}`));
  return keys;
}

function parseRoleKeys(value: JsonObject, where: string): RoleKeys {
  const { keyids, threshold } = value;
  if (!stringArray(keyids)) throw malformed(where, 'keyids must be an array of strings');
  if (new Set(keyids).size !== keyids.length) throw malformed(where, 'duplicate key IDs found');
  // A threshold below 1 would let unsigned metadata through.
  if (!positiveInteger(threshold)) throw malformed(where, 'threshold must be a positive integer');
  return { keyids, threshold };
}

function parseHashes(value: unknown, where: string): [string, string][] {
  if (!isPlainObject(value)) throw malformed(where, 'hashes must be an object');
  const out: [string, string][] = [];
  for (const [alg, hex] of Object.entries(value)) {
    if (typeof hex !== 'string') throw malformed(where, 'hashes must be string keys and values');
    out.push([alg, hex]);
  }
  return out;
}

export function parseMetaInfo(value: unknown, where: string): MetaInfo {
  if (!isPlainObject(value)) throw malformed(where, 'a meta entry must be an object');
  const { version, length, hashes } = value;
  if (!positiveInteger(version)) throw malformed(where, 'version must be a positive integer');
  if (length !== undefined && !nonNegativeInteger(length)) throw malformed(where, 'length must be a non-negative integer');
  return { version, length: length ?? null, hashes: hashes === undefined ? [] : parseHashes(hashes, where) };
}

export function parseRoot(env: Envelope, where: string): TrustedRoot {
  const { consistent_snapshot: consistentSnapshot, keys, roles } = env.signed;
  if (typeof consistentSnapshot !== 'boolean') throw malformed(where, 'consistent_snapshot must be a boolean');
  if (!isPlainObject(roles)) throw malformed(where, 'roles must be an object');
  const roleMap = new Map<string, RoleKeys>();
  for (const [name, role] of Object.entries(roles)) {
    if (!isPlainObject(role)) throw malformed(where, `role ${name} must be an object`);
    roleMap.set(name, parseRoleKeys(role, `${where} role ${name}`));
  }
  for (const name of TOP_LEVEL_ROLE_NAMES) if (!roleMap.has(name)) throw malformed(where, `missing top-level role ${name}`);
  return { type: 'root', version: env.version, expires: env.expires, consistentSnapshot, keys: parseKeys(keys, where), roles: roleMap };
}

export function parseTimestamp(env: Envelope, where: string): TrustedTimestamp {
  const { meta } = env.signed;
  if (!isPlainObject(meta) || !hasOwn(meta, 'snapshot.json')) throw malformed(where, 'meta must name snapshot.json');
  const merkleRoot = env.signed.merkle_root;
  // TAP 16's optional field: when present, the hex SHA-256 root a proof must lead to.
  if (merkleRoot !== undefined && (typeof merkleRoot !== 'string' || !/^[0-9a-f]{64}$/.test(merkleRoot)))
    throw malformed(where, 'merkle_root must be 64 lowercase hex digits');
  return {
    type: 'timestamp',
    version: env.version,
    expires: env.expires,
    snapshotMeta: parseMetaInfo(meta['snapshot.json'], `${where} meta snapshot.json`),
    ...(merkleRoot !== undefined ? { merkleRoot } : {}),
  };
}

export function parseSnapshot(env: Envelope, where: string): TrustedSnapshot {
  const { meta } = env.signed;
  if (!isPlainObject(meta)) throw malformed(where, 'meta must be an object');
  const map = new Map<string, MetaInfo>();
  for (const name of Object.keys(meta)) map.set(name, parseMetaInfo(meta[name], `${where} meta ${name}`));
  return { type: 'snapshot', version: env.version, expires: env.expires, meta: map };
}

function parseTargetInfo(path: string, value: unknown, where: string): TargetInfo {
  if (!isPlainObject(value)) throw malformed(where, `target ${JSON.stringify(path)} must be an object`);
  const { length, hashes } = value;
  if (!nonNegativeInteger(length)) throw malformed(where, `target ${JSON.stringify(path)}: length must be a non-negative integer`);
  const list = parseHashes(hashes, `${where} target ${JSON.stringify(path)}`);
  // Without a hash a target cannot be verified (python-tuf refuses this too).
  if (list.length === 0) throw malformed(where, `target ${JSON.stringify(path)} lists no hashes`);
  return { path, length, hashes: list, fields: value };
}

function parseDelegatedRole(value: unknown, where: string): DelegatedRole {
  if (!isPlainObject(value)) throw malformed(where, 'a delegated role must be an object');
  const { name, terminating, paths, path_hash_prefixes: prefixes } = value;
  if (typeof name !== 'string' || name.length === 0) throw malformed(where, 'a delegated role needs a non-empty string name');
  if (TOP_LEVEL_ROLE_NAMES.includes(name))
    throw malformed(where, `delegated role name ${JSON.stringify(name)} conflicts with a top-level role name`);
  if (typeof terminating !== 'boolean') throw malformed(where, `role ${JSON.stringify(name)}: terminating must be a boolean`);
  if (paths !== undefined && !stringArray(paths)) throw malformed(where, `role ${JSON.stringify(name)}: paths must be an array of strings`);
  if (prefixes !== undefined && !stringArray(prefixes))
    throw malformed(where, `role ${JSON.stringify(name)}: path_hash_prefixes must be an array of strings`);
  if (paths !== undefined && prefixes !== undefined)
    throw malformed(where, `role ${JSON.stringify(name)}: paths and path_hash_prefixes are mutually exclusive`);
  let provenance: BuilderIdentity | null;
  try {
    // A requirement this client cannot read refuses the delegator: it must never be skipped.
    provenance = provenanceRequirementOf(value, name);
  } catch (err) {
    throw malformed(where, (err as Error).message);
  }
  return {
    ...parseRoleKeys(value, `${where} role ${JSON.stringify(name)}`),
    name,
    terminating,
    paths: paths === undefined ? null : paths.map((p) => new PathPattern(p)),
    pathHashPrefixes: prefixes ?? null,
    provenance,
  };
}

function parseDelegations(value: unknown, where: string): Delegations {
  if (!isPlainObject(value)) throw malformed(where, 'delegations must be an object');
  const { keys, roles, succinct_roles: succinct } = value;
  if (roles !== undefined && succinct !== undefined) throw malformed(where, 'roles and succinct_roles are mutually exclusive');
  let list: DelegatedRole[] | null = null;
  if (roles !== undefined) {
    if (!Array.isArray(roles)) throw malformed(where, 'delegations.roles must be an array');
    list = roles.map((r) => parseDelegatedRole(r, where));
    const names = new Set<string>();
    for (const r of list) {
      // A name listed twice would make "the" delegation of that role ambiguous.
      if (names.has(r.name)) throw malformed(where, `delegated role ${JSON.stringify(r.name)} is listed twice`);
      names.add(r.name);
    }
  }
  let succinctRoles: SuccinctRoles | null = null;
  if (succinct !== undefined) {
    if (!isPlainObject(succinct)) throw malformed(where, 'succinct_roles must be an object');
    const { bit_length: bitLength, name_prefix: namePrefix } = succinct;
    if (!positiveInteger(bitLength) || bitLength > 32) throw malformed(where, 'succinct_roles.bit_length must be between 1 and 32');
    if (typeof namePrefix !== 'string') throw malformed(where, 'succinct_roles.name_prefix must be a string');
    succinctRoles = {
      ...parseRoleKeys(succinct, `${where} succinct_roles`),
      bitLength,
      namePrefix,
      suffixLength: (2 ** bitLength - 1).toString(16).length,
    };
  }
  return new Delegations(parseKeys(keys, `${where} delegations`), list, succinctRoles);
}

export function parseTargets(env: Envelope, name: string, where: string): TrustedTargets {
  const { targets, delegations } = env.signed;
  if (!isPlainObject(targets)) throw malformed(where, 'targets must be an object');
  const map = new Map<string, TargetInfo>();
  for (const path of Object.keys(targets)) map.set(path, parseTargetInfo(path, targets[path], where));
  return {
    type: 'targets',
    name,
    version: env.version,
    expires: env.expires,
    targets: map,
    delegations: delegations === undefined ? null : parseDelegations(delegations, where),
    signatures: env.signatures,
    signedBytes: env.signedBytes,
  };
}

/** Length and every listed hash of `bytes` against a METAFILES entry (or a target's). */
export function verifyLengthAndHashes(
  expected: { length: number | null; hashes: readonly (readonly [string, string])[] },
  bytes: Uint8Array,
  what: string,
): void {
  if (expected.length !== null && bytes.length !== expected.length) {
    throw new TrustError('length_or_hash_mismatch', `${what}: expected length ${expected.length} but got ${bytes.length}`);
  }
  for (const [alg, hex] of expected.hashes) {
    const observed = newHash(alg, what).update(bytes).digest('hex');
    if (observed !== hex) throw new TrustError('length_or_hash_mismatch', `${what}: expected ${alg} hash ${hex} but got ${observed}`);
  }
}

/** A hash for an algorithm named in metadata; one Node cannot compute refuses the file. */
export function newHash(alg: string, what: string) {
  try {
    return createHash(alg);
  } catch {
    throw new TrustError('length_or_hash_mismatch', `${what}: hash algorithm ${alg} not supported`);
  }
}

export function isExpired(md: Common, referenceTime: Date): boolean {
  return referenceTime.getTime() >= md.expires.getTime();
}
