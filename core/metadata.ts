// TUF metadata documents: parsing what we are given, building what we write, and the exact bytes we serve.
import { Metadata, MetadataKind, Root, Targets, TargetFile } from '@tufjs/models';
import { canonicalBytes, isPlainObject, sha256Hex, sha512Hex, type JsonObject } from './canonical.ts';
import { TufError } from './errors.ts';
import { keyidOf, type TufKey } from './keys.ts';
import type { Signer } from './signer.ts';
import { targetsModel } from './targetsModel.ts';

export const SPEC_VERSION = '1.0.31';
export type RoleType = 'root' | 'targets' | 'snapshot' | 'timestamp';

export interface SignatureJson {
  keyid: string;
  sig: string;
  [extra: string]: unknown; // e.g. a Sigstore `bundle` (TAP 18)
}

export interface Envelope {
  signed: JsonObject;
  signatures: SignatureJson[];
}

type ModelFor<T extends RoleType> = T extends 'root' ? Root : T extends 'targets' ? Targets : never;

/** A metadata document that passed structural checks, with the bytes its signatures cover. */
export interface ParsedMetadata<T extends RoleType = RoleType> {
  type: T;
  envelope: Envelope;
  /** Canonical JSON of `signed`: what every signature is over. */
  signedBytes: Buffer;
  version: number;
  expires: Date;
  model: ModelFor<T>;
}

const DATE_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/;

/** TUF's date-time form, `2030-01-01T00:00:00Z` (no fractions), and a real date. */
export function isTufDateTime(value: unknown): value is string {
  if (typeof value !== 'string' || !DATE_TIME.test(value)) return false;
  // Date.parse rolls impossible dates over (02-30 to March 2, 24:00 to the next day): refuse those.
  const parsed = new Date(value);
  return !Number.isNaN(parsed.getTime()) && formatExpires(parsed) === value;
}

/** TUF writes expiry without milliseconds. */
export function formatExpires(date: Date): string {
  return date.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

export function expiresAfter(now: Date, seconds: number): string {
  return formatExpires(new Date(now.getTime() + seconds * 1000));
}

export function parseJsonBytes(bytes: Uint8Array, where: string): unknown {
  try {
    return JSON.parse(Buffer.from(bytes).toString('utf8'));
  } catch (err) {
    throw new TufError('malformed', `${where}: not valid JSON (${(err as Error).message})`);
  }
}

function readEnvelopeShape(value: unknown, where: string): Envelope {
  if (!isPlainObject(value)) throw new TufError('malformed', `${where}: metadata must be a JSON object`);
  const { signed, signatures } = value;
  if (!isPlainObject(signed)) throw new TufError('malformed', `${where}: "signed" must be an object`);
  if (!Array.isArray(signatures)) throw new TufError('malformed', `${where}: "signatures" must be an array`);
  const seen = new Set<string>();
  for (const [i, sig] of signatures.entries()) {
    if (!isPlainObject(sig) || typeof sig.keyid !== 'string' || typeof sig.sig !== 'string') {
      throw new TufError('malformed', `${where}: signatures[${i}] needs string "keyid" and "sig"`);
    }
    // Clients keep one signature per keyid; two would let us and them count different ones.
    if (seen.has(sig.keyid)) throw new TufError('duplicate_signature', `${where}: two signatures for keyid ${sig.keyid}`);
    seen.add(sig.keyid);
  }
  for (const key of Object.keys(value)) {
    if (key !== 'signed' && key !== 'signatures') throw new TufError('malformed', `${where}: unexpected top-level field "${key}"`);
  }
  return value as unknown as Envelope;
}

/** What `parseMetadata` checks and computes before it builds tuf-js's model: everything but the model. */
export type SignedDocument<T extends RoleType = RoleType> = Omit<ParsedMetadata<T>, 'model'>;

/**
 * Shape, type, spec version, version, expiry and the canonical signed bytes, without tuf-js: cheap
 * enough to run on anything a stranger sends, before any signature is checked (tuf-js builds its
 * maps in quadratic time: a role with 7,000 targets takes about 30 s).
 */
export function readSignedDocument<T extends 'root' | 'targets'>(value: unknown, type: T, where: string = type): SignedDocument<T> {
  const envelope = readEnvelopeShape(value, where);
  const signed = envelope.signed;
  if (signed._type !== type) {
    throw new TufError('wrong_type', `${where}: expected _type "${type}", got ${JSON.stringify(signed._type)}`);
  }
  const spec = signed.spec_version;
  if (typeof spec !== 'string' || !/^1\.\d+(\.\d+)?$/.test(spec)) {
    throw new TufError('unsupported_spec_version', `${where}: spec_version ${JSON.stringify(spec)} is not a supported 1.x version`);
  }
  const version = signed.version;
  if (typeof version !== 'number' || !Number.isSafeInteger(version) || version < 1) {
    throw new TufError('malformed', `${where}: version must be a positive integer`);
  }
  if (!isTufDateTime(signed.expires)) {
    throw new TufError('malformed', `${where}: expires must look like 2030-01-01T00:00:00Z`);
  }
  const delegations = signed.delegations;
  if (isPlainObject(delegations) && Array.isArray(delegations.roles)) {
    const names = new Set<string>();
    for (const r of delegations.roles) {
      const name = isPlainObject(r) ? r.name : undefined;
      if (typeof name === 'string' && names.has(name))
        throw new TufError('malformed', `${where}: delegated role ${JSON.stringify(name)} is listed twice`);
      if (typeof name === 'string') names.add(name);
    }
  }
  const signedBytes = canonicalBytes(signed);
  return { type, envelope, signedBytes, version, expires: new Date(signed.expires as string) };
}

/**
 * Checks shape, type, spec version and that tuf-js reads the document back to the same signed
 * bytes: if its model reorders or drops anything, clients would verify other bytes than we did.
 * Targets models are built in linear time (core/targetsModel.ts); the check itself calls tuf-js's
 * quadratic `toJSON`. `roundTripChecked`: these very bytes passed that check already (on a worker
 * thread, or before they were stored), so it is skipped.
 */
export function parseMetadata<T extends 'root' | 'targets'>(
  value: unknown,
  type: T,
  where: string = type,
  opts: { roundTripChecked?: boolean } = {},
): ParsedMetadata<T> {
  const head = readSignedDocument(value, type, where);
  const { envelope, signedBytes } = head;
  const signed = envelope.signed;
  let model: Root | Targets;
  try {
    model = type === 'root' ? Metadata.fromJSON(MetadataKind.Root, structuredClone(value) as never).signed : targetsModel(signed);
  } catch (err) {
    throw new TufError('malformed', `${where}: ${(err as Error).message}`);
  }
  if (!opts.roundTripChecked && !canonicalBytes(model.toJSON()).equals(signedBytes)) {
    throw new TufError('malformed', `${where}: TUF clients would not read this document back to the same signed bytes`);
  }
  return { ...head, model: model as ModelFor<T> };
}

/**
 * The exact bytes the repository serves for a document: compact JSON of the parsed object, so no
 * duplicate key or formatting trick of the upload survives. Not canonical JSON: that form leaves
 * control characters (the newlines of a PEM key) unescaped and is not valid JSON to a client.
 */
export function servedBytes(envelope: Envelope): Buffer {
  return Buffer.from(JSON.stringify(envelope), 'utf8');
}

export async function signEnvelope(signed: JsonObject, signers: Signer[]): Promise<Envelope> {
  const bytes = canonicalBytes(signed);
  const signatures: SignatureJson[] = [];
  for (const signer of signers) signatures.push({ keyid: signer.keyid, sig: await signer.sign(bytes) });
  return { signed, signatures };
}

export interface RoleKeys {
  keys: TufKey[];
  threshold: number;
}

export interface RootSpec {
  version: number;
  expires: string;
  roles: Record<RoleType, RoleKeys>;
}

/** Builds `signed` of a root with consistent snapshots on; keyids computed by our rule. */
export function buildRootSigned(spec: RootSpec): JsonObject {
  const keys: JsonObject = {};
  const roles: JsonObject = {};
  for (const [name, { keys: roleKeys, threshold }] of Object.entries(spec.roles)) {
    if (!Number.isInteger(threshold) || threshold < 1) throw new TufError('malformed', `${name}: threshold must be a positive integer`);
    const keyids = [...new Set(roleKeys.map(keyidOf))];
    if (keyids.length < threshold) {
      throw new TufError('malformed', `${name}: threshold ${threshold} exceeds its ${keyids.length} distinct keys`);
    }
    for (const key of roleKeys) keys[keyidOf(key)] = structuredClone(key) as JsonObject;
    roles[name] = { keyids, threshold };
  }
  const signed: JsonObject = {
    _type: 'root',
    spec_version: SPEC_VERSION,
    version: spec.version,
    expires: spec.expires,
    consistent_snapshot: true,
    keys,
    roles,
  };
  // Round-trip through tuf-js's model: what it cannot read, we do not write.
  return Root.fromJSON(structuredClone(signed)).toJSON() as JsonObject;
}

export interface TargetEntry {
  length: number;
  hashes: Record<string, string>;
  custom?: JsonObject;
}

/** Hashes and length of a target file; sha256 first, as clients use the first hash in URLs. */
export function describeTarget(bytes: Uint8Array, custom?: JsonObject): TargetEntry {
  const entry: TargetEntry = { length: bytes.length, hashes: { sha256: sha256Hex(bytes), sha512: sha512Hex(bytes) } };
  if (custom) entry.custom = custom;
  return entry;
}

export function buildTargetsSigned(opts: {
  version: number;
  expires: string;
  targets: Record<string, TargetEntry>;
  delegations?: JsonObject;
}): JsonObject {
  // Null prototype: a path like "__proto__" is stored as a path, not as the object's prototype.
  const targets: Record<string, TargetFile> = Object.create(null);
  for (const [path, entry] of Object.entries(opts.targets)) {
    const data: JsonObject = { length: entry.length, hashes: entry.hashes };
    if (entry.custom) data.custom = entry.custom;
    targets[path] = TargetFile.fromJSON(path, data as never);
  }
  const signed = new Targets({ version: opts.version, specVersion: SPEC_VERSION, expires: opts.expires, targets }).toJSON() as JsonObject;
  if (opts.delegations) signed.delegations = opts.delegations;
  return signed;
}

export interface MetaEntry {
  version: number;
  length: number;
  hashes: { sha256: string };
}

/**
 * A snapshot entry: version, length and hash, or the version alone (TUF METAFILES: length and
 * hashes are optional; clients then rely on the version and on the role's own signatures).
 */
export type SnapshotMetaEntry = MetaEntry | { version: number };

export function metaEntryFor(version: number, bytes: Uint8Array): MetaEntry {
  return { version, length: bytes.length, hashes: { sha256: sha256Hex(bytes) } };
}

/**
 * Snapshot and timestamp are built as plain objects: snapshot grows with the number of roles and
 * goes through no model on the hot path. Tests check tuf-js reads them back unchanged.
 */
export function buildSnapshotSigned(version: number, expires: string, meta: Record<string, SnapshotMetaEntry>): JsonObject {
  return { _type: 'snapshot', spec_version: SPEC_VERSION, version, expires, meta: meta as unknown as JsonObject };
}

/**
 * `merkleRoot`: the root of the TAP 16 snapshot Merkle tree over the snapshot's entries (hex), in
 * TAP 16's optional `merkle_root` field. Clients that do not know it keep it as an unrecognized
 * field and verify the signature over it like any other.
 */
export function buildTimestampSigned(version: number, expires: string, snapshot: MetaEntry, merkleRoot?: string): JsonObject {
  return {
    _type: 'timestamp',
    spec_version: SPEC_VERSION,
    version,
    expires,
    meta: { 'snapshot.json': snapshot as unknown as JsonObject },
    ...(merkleRoot !== undefined ? { merkle_root: merkleRoot } : {}),
  };
}

/** `N.role.json`, or `timestamp.json` (never versioned in the consistent-snapshot layout). */
export function metadataFileName(role: string, version: number): string {
  return role === 'timestamp' ? 'timestamp.json' : `${version}.${role}.json`;
}
