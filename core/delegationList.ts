// The delegations a published delegating role (top-level targets or a bin) makes, read from its
// JSON without building a model: for views over every project (the console's list, the
// transparency monitor's watch list), which must not parse a thousand bins through tuf-js.
import { isPlainObject } from './canonical.ts';
import { IDENTITY_KEYTYPE } from './identity.ts';

export interface ListedDelegation {
  /** The delegated role: a project, or a bin. */
  name: string;
  threshold: number;
  paths: string[];
  /** Its identity keys (TAP 18); empty for a role signed with ordinary keys (a bin). */
  maintainers: { identity: string; issuer: string; keyid: string }[];
}

export function listDelegations(doc: unknown): ListedDelegation[] {
  const delegations = isPlainObject(doc) && isPlainObject(doc.signed) ? doc.signed.delegations : undefined;
  if (!isPlainObject(delegations) || !isPlainObject(delegations.keys) || !Array.isArray(delegations.roles)) return [];
  const keys = delegations.keys;
  const out: ListedDelegation[] = [];
  for (const role of delegations.roles) {
    if (!isPlainObject(role) || typeof role.name !== 'string' || !Array.isArray(role.keyids)) continue;
    const maintainers: ListedDelegation['maintainers'] = [];
    for (const keyid of role.keyids) {
      const key = typeof keyid === 'string' && Object.hasOwn(keys, keyid) ? keys[keyid] : undefined;
      if (!isPlainObject(key) || key.keytype !== IDENTITY_KEYTYPE || !isPlainObject(key.keyval)) continue;
      const { identity, issuer } = key.keyval;
      if (typeof identity === 'string' && typeof issuer === 'string') maintainers.push({ identity, issuer, keyid: keyid as string });
    }
    out.push({
      name: role.name,
      threshold: typeof role.threshold === 'number' ? role.threshold : 1,
      paths: Array.isArray(role.paths) ? role.paths.filter((p): p is string => typeof p === 'string') : [],
      maintainers,
    });
  }
  return out;
}
