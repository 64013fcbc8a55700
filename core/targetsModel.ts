// The tuf-js model of a targets document, built in linear time. tuf-js's own `Targets.fromJSON`
// grows its maps of targets, keys and delegated roles with `reduce` and object spread: quadratic
// in their size, and measured to slow from 30 ms to 900 ms per bin of 244 delegations once a
// process holds some hundreds of parsed bins (a million-project repository holds 4,096). Here
// tuf-js parses the document with those maps emptied and each entry through the library's own
// `fromJSON`, so validation stays the library's; callers still compare `toJSON()` with the signed
// bytes (tuf-js clients parse the same document the slow way and must read the same thing).
import { Key, Targets, TargetFile } from '@tufjs/models';
import { DelegatedRole } from '@tufjs/models/dist/role.js';
import { isPlainObject, type JsonObject } from './canonical.ts';

const TOP_LEVEL_ROLE_NAMES = ['root', 'targets', 'snapshot', 'timestamp'];

/**
 * An empty plain object in V8's dictionary mode (deleting a property that is not the last one
 * switches an object to it). A map keyed by thousands of distinct keyids in the default mode gets
 * a hidden class per key; hundreds of retained bins made every later parse and `toJSON` crawl.
 */
function record<V>(): Record<string, V> {
  const o: Record<string, unknown> = {};
  o.a = 0;
  o.b = 0;
  delete o.a;
  delete o.b;
  return o as Record<string, V>;
}

/** Sets an own, enumerable property, as an object literal's computed key does (`__proto__` included). */
function define<V>(target: Record<string, V>, key: string, value: V): void {
  Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
}

/** Throws what tuf-js throws (TypeError, ValueError) for a document it would refuse. */
export function targetsModel(signed: JsonObject): Targets {
  const shell = structuredClone(signed);
  let files: JsonObject | null = null;
  let keys: JsonObject | null = null;
  let roles: unknown[] | null = null;
  if (isPlainObject(shell.targets)) [files, shell.targets] = [shell.targets, {}];
  const delegations = shell.delegations;
  if (isPlainObject(delegations)) {
    if (isPlainObject(delegations.keys)) [keys, delegations.keys] = [delegations.keys, {}];
    if (Array.isArray(delegations.roles)) [roles, delegations.roles] = [delegations.roles, []];
  }
  const model = Targets.fromJSON(shell as never);
  if (files) (model as { targets: Record<string, TargetFile> }).targets = record();
  for (const [path, entry] of Object.entries(files ?? {})) define(model.targets, path, TargetFile.fromJSON(path, entry as never));
  const parsed = model.delegations;
  if (parsed && keys) (parsed as { keys: Record<string, Key> }).keys = record();
  if (parsed?.roles && roles) (parsed as { roles: Record<string, DelegatedRole> }).roles = record();
  for (const [keyid, key] of Object.entries(keys ?? {})) {
    if (!isPlainObject(key)) throw new TypeError('keys is malformed');
    define(parsed!.keys, keyid, Key.fromJSON(keyid, key as never));
  }
  for (const role of roles ?? []) {
    if (!isPlainObject(role)) throw new TypeError('roles is malformed');
    const delegated = DelegatedRole.fromJSON(role as never);
    if (TOP_LEVEL_ROLE_NAMES.includes(delegated.name)) throw new TypeError('Delegated role name conflicts with top-level role name');
    define(parsed!.roles!, delegated.name, delegated);
  }
  return model;
}
