// What a key ceremony produces, as pure functions shared by the offline tool and the dev ceremony.
import type { KeyObject } from 'node:crypto';
import { isPlainObject, type JsonObject } from './canonical.ts';
import { TufError } from './errors.ts';
import { generatePrivateKey, keyidOf, type TufKey } from './keys.ts';
import {
  buildRootSigned,
  buildTargetsSigned,
  expiresAfter,
  signEnvelope,
  type Envelope,
  type RoleType,
  type TargetEntry,
} from './metadata.ts';
import { privateKeySigner } from './signer.ts';
import { assertTargetPath } from './names.ts';
import { binDelegations, binsOf, type BinLayout } from './bins.ts';

export const DAY_SECONDS = 86_400;
export const DEFAULT_ROOT_EXPIRY_SECONDS = 365 * DAY_SECONDS;
export const DEFAULT_TARGETS_EXPIRY_SECONDS = 365 * DAY_SECONDS;
export const DEFAULT_BIN_EXPIRY_SECONDS = 365 * DAY_SECONDS;

export interface RootPlan {
  version: number;
  expires: string;
  rootKeys: TufKey[];
  rootThreshold: number;
  targetsKeys: TufKey[];
  targetsThreshold: number;
  snapshotKey: TufKey;
  timestampKey: TufKey;
}

export function rootSigned(plan: RootPlan): JsonObject {
  const roles: Record<RoleType, { keys: TufKey[]; threshold: number }> = {
    root: { keys: plan.rootKeys, threshold: plan.rootThreshold },
    targets: { keys: plan.targetsKeys, threshold: plan.targetsThreshold },
    snapshot: { keys: [plan.snapshotKey], threshold: 1 },
    timestamp: { keys: [plan.timestampKey], threshold: 1 },
  };
  return buildRootSigned({ version: plan.version, expires: plan.expires, roles });
}

/**
 * Root v1 of one fresh root key and one fresh targets key, each its role's only key, signed by the
 * root key: the development ceremony's root, and that of tests and benchmarks whose subject is not
 * the ceremony.
 */
export async function singleKeyRoot(
  online: { snapshot: TufKey; timestamp: TufKey },
  now: Date,
): Promise<{ root: Envelope; rootKey: KeyObject; targetsKey: KeyObject }> {
  const rootKey = generatePrivateKey('ed25519');
  const targetsKey = generatePrivateKey('ed25519');
  const root = await signEnvelope(
    rootSigned({
      version: 1,
      expires: expiresAfter(now, DEFAULT_ROOT_EXPIRY_SECONDS),
      rootKeys: [privateKeySigner(rootKey).publicKey],
      rootThreshold: 1,
      targetsKeys: [privateKeySigner(targetsKey).publicKey],
      targetsThreshold: 1,
      snapshotKey: online.snapshot,
      timestampKey: online.timestamp,
    }),
    [privateKeySigner(rootKey)],
  );
  return { root, rootKey, targetsKey };
}

/** Root N+1 with the same keys and thresholds and a new expiry (the simplest rotation step). */
export function bumpedRootSigned(current: JsonObject, now: Date, expirySeconds = DEFAULT_ROOT_EXPIRY_SECONDS): JsonObject {
  if (current._type !== 'root' || typeof current.version !== 'number') throw new TufError('wrong_type', 'not a root');
  return { ...structuredClone(current), version: current.version + 1, expires: expiresAfter(now, expirySeconds) };
}

/** Targets v1; with `bins`, delegating to that many bins (the layered layout) signed by the bins keys. */
export function initialTargetsSigned(
  now: Date,
  targets: Record<string, TargetEntry> = {},
  expirySeconds = DEFAULT_TARGETS_EXPIRY_SECONDS,
  bins?: BinLayout,
): JsonObject {
  for (const path of Object.keys(targets)) assertTargetPath(path);
  return buildTargetsSigned({
    version: 1,
    expires: expiresAfter(now, expirySeconds),
    targets,
    ...(bins ? { delegations: binDelegations(bins) } : {}),
  });
}

/** Version 1 of every bin of a layout with `count` bins: no targets, no delegations yet. */
export function initialBinsSigned(now: Date, count: number, expirySeconds = DEFAULT_BIN_EXPIRY_SECONDS): Map<string, JsonObject> {
  const expires = expiresAfter(now, expirySeconds);
  return new Map(binsOf(count).map((b) => [b.name, buildTargetsSigned({ version: 1, expires, targets: {} })]));
}

export interface TargetsEdit {
  add?: Record<string, TargetEntry>;
  remove?: string[];
  expirySeconds?: number;
}

/** Targets N+1 from N: entries added, replaced or removed, delegations kept, new expiry. */
export function editedTargetsSigned(current: JsonObject, edit: TargetsEdit, now: Date): JsonObject {
  if (current._type !== 'targets' || typeof current.version !== 'number' || !isPlainObject(current.targets)) {
    throw new TufError('wrong_type', 'not a targets document');
  }
  // A Map, not an object: a path like "__proto__" or "constructor" is a path like any other.
  const targets = new Map(Object.entries(structuredClone(current.targets)));
  for (const path of edit.remove ?? []) {
    if (!targets.delete(path)) throw new TufError('bad_target_path', `cannot remove ${path}: not listed`);
  }
  for (const [path, entry] of Object.entries(edit.add ?? {})) {
    assertTargetPath(path);
    targets.set(path, entry as unknown as JsonObject);
  }
  return {
    ...structuredClone(current),
    version: current.version + 1,
    expires: expiresAfter(now, edit.expirySeconds ?? DEFAULT_TARGETS_EXPIRY_SECONDS),
    targets: Object.fromEntries(targets) as JsonObject,
  };
}

export type OfflineRole = 'root' | 'targets';

export interface RootEdit {
  add?: { role: OfflineRole; key: TufKey }[];
  /** Keyids (or unique keyid prefixes of at least 8 characters) to remove from a role. */
  remove?: { role: OfflineRole; keyid: string }[];
  thresholds?: Partial<Record<OfflineRole, number>>;
  /** New online keys (from `tuf-server online-keys show`), replacing the current ones. */
  online?: { snapshot: TufKey; timestamp: TufKey };
  expirySeconds?: number;
}

/**
 * Root N+1 from N: keys added to or removed from root and targets, thresholds changed, online keys
 * replaced. Keys no role uses any more are dropped. The result still has to be signed by the
 * thresholds of N and of N+1.
 */
export function editedRootSigned(current: JsonObject, edit: RootEdit, now: Date): JsonObject {
  if (current._type !== 'root' || typeof current.version !== 'number') throw new TufError('wrong_type', 'not a root');
  const next = structuredClone(current) as JsonObject & {
    keys: Record<string, JsonObject>;
    roles: Record<string, { keyids: string[]; threshold: number }>;
  };
  const role = (name: string) => {
    const r = next.roles[name];
    if (!r) throw new TufError('malformed', `root has no ${name} role`);
    return r;
  };
  for (const { role: name, keyid } of edit.remove ?? []) {
    const r = role(name);
    const matches = r.keyids.filter((k) => k === keyid || (keyid.length >= 8 && k.startsWith(keyid)));
    if (matches.length !== 1)
      throw new TufError('unknown_key', `${name} has ${matches.length === 0 ? 'no' : 'several'} keys matching ${keyid}`);
    r.keyids = r.keyids.filter((k) => k !== matches[0]);
  }
  for (const { role: name, key } of edit.add ?? []) {
    const keyid = keyidOf(key);
    const r = role(name);
    if (!r.keyids.includes(keyid)) r.keyids.push(keyid);
    next.keys[keyid] = structuredClone(key) as JsonObject;
  }
  if (edit.online) {
    for (const name of ['snapshot', 'timestamp'] as const) {
      const key = edit.online[name];
      const keyid = keyidOf(key);
      role(name).keyids = [keyid];
      role(name).threshold = 1;
      next.keys[keyid] = structuredClone(key) as JsonObject;
    }
  }
  for (const [name, threshold] of Object.entries(edit.thresholds ?? {})) role(name).threshold = threshold;
  const used = new Set(Object.values(next.roles).flatMap((r) => r.keyids));
  for (const keyid of Object.keys(next.keys)) if (!used.has(keyid)) delete next.keys[keyid];
  for (const [name, r] of Object.entries(next.roles)) {
    if (!Number.isInteger(r.threshold) || r.threshold < 1 || r.threshold > r.keyids.length) {
      throw new TufError('malformed', `${name}: threshold ${r.threshold} cannot be met by ${r.keyids.length} key(s)`);
    }
  }
  next.version = current.version + 1;
  next.expires = expiresAfter(now, edit.expirySeconds ?? DEFAULT_ROOT_EXPIRY_SECONDS);
  return next;
}
