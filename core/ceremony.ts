// What a key ceremony produces, as pure functions shared by the offline tool and the dev ceremony.
import { isPlainObject, type JsonObject } from './canonical.ts';
import { TufError } from './errors.ts';
import type { TufKey } from './keys.ts';
import { buildRootSigned, buildTargetsSigned, expiresAfter, type RoleType, type TargetEntry } from './metadata.ts';
import { assertTargetPath } from './names.ts';

export const DAY_SECONDS = 86_400;
export const DEFAULT_ROOT_EXPIRY_SECONDS = 365 * DAY_SECONDS;
export const DEFAULT_TARGETS_EXPIRY_SECONDS = 365 * DAY_SECONDS;

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

/** Root N+1 with the same keys and thresholds and a new expiry (the simplest rotation step). */
export function bumpedRootSigned(current: JsonObject, now: Date, expirySeconds = DEFAULT_ROOT_EXPIRY_SECONDS): JsonObject {
  if (current._type !== 'root' || typeof current.version !== 'number') throw new TufError('wrong_type', 'not a root');
  return { ...structuredClone(current), version: current.version + 1, expires: expiresAfter(now, expirySeconds) };
}

export function initialTargetsSigned(now: Date, targets: Record<string, TargetEntry> = {}, expirySeconds = DEFAULT_TARGETS_EXPIRY_SECONDS): JsonObject {
  for (const path of Object.keys(targets)) assertTargetPath(path);
  return buildTargetsSigned({ version: 1, expires: expiresAfter(now, expirySeconds), targets });
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
  const targets = structuredClone(current.targets) as Record<string, JsonObject>;
  for (const path of edit.remove ?? []) {
    if (!(path in targets)) throw new TufError('bad_target_path', `cannot remove ${path}: not listed`);
    delete targets[path];
  }
  for (const [path, entry] of Object.entries(edit.add ?? {})) {
    assertTargetPath(path);
    targets[path] = entry as unknown as JsonObject;
  }
  return {
    ...structuredClone(current),
    version: current.version + 1,
    expires: expiresAfter(now, edit.expirySeconds ?? DEFAULT_TARGETS_EXPIRY_SECONDS),
    targets,
  };
}
