// What changed in the delegations of a targets document (top-level targets or a bin) since its
// previous version, as lines a person reads before signing: every delegation added or removed
// with who may sign it, and for every delegation kept, each signer added or removed (identity and
// issuer for TAP 18 keys, key type and keyid for others), a key whose content changed under the
// same keyid, the threshold, the paths or hash prefixes, `terminating`, and any other field.
// Read from the JSON as signed, not from a parsed model: what is reported is what is signed.
import { canonicalBytes, isPlainObject, type JsonObject } from './canonical.ts';
import { IDENTITY_KEYTYPE } from './identity.ts';
import { PROVENANCE_FIELD } from './provenance.ts';

interface RoleView {
  role: JsonObject;
  /** keyid -> the key, for the keyids the role lists (null when the document has no such key). */
  keys: Map<string, JsonObject | null>;
}

function rolesOf(signed: JsonObject): Map<string, RoleView> {
  const out = new Map<string, RoleView>();
  const delegations = isPlainObject(signed.delegations) ? signed.delegations : null;
  if (!delegations || !Array.isArray(delegations.roles)) return out;
  const keys = isPlainObject(delegations.keys) ? delegations.keys : {};
  for (const role of delegations.roles) {
    if (!isPlainObject(role) || typeof role.name !== 'string') continue;
    const keyids = Array.isArray(role.keyids) ? role.keyids.filter((k): k is string => typeof k === 'string') : [];
    const view = new Map<string, JsonObject | null>();
    for (const keyid of keyids) {
      const key = Object.hasOwn(keys, keyid) ? keys[keyid] : undefined;
      view.set(keyid, isPlainObject(key) ? key : null);
    }
    out.set(role.name, { role, keys: view });
  }
  return out;
}

/** `alice@example.com at https://issuer` for an identity, `ed25519 key 1a2b3c4d` otherwise. */
export function describeSigner(keyid: string, key: JsonObject | null): string {
  if (!key) return `key ${keyid.slice(0, 8)} (not in the document's keys)`;
  const keyval = isPlainObject(key.keyval) ? key.keyval : {};
  if (key.keytype === IDENTITY_KEYTYPE && typeof keyval.identity === 'string') return `${keyval.identity} at ${String(keyval.issuer)}`;
  return `${String(key.keytype)} key ${keyid.slice(0, 8)}`;
}

function signers(view: RoleView): Map<string, string> {
  return new Map([...view.keys].map(([keyid, key]) => [keyid, describeSigner(keyid, key)]));
}

const show = (value: unknown): string => (value === undefined ? 'none' : JSON.stringify(value));

function summary(view: RoleView): string {
  const who = [...signers(view).values()].join(', ') || 'no keys';
  const where =
    view.role.paths !== undefined ? `paths ${show(view.role.paths)}` : `path_hash_prefixes ${show(view.role.path_hash_prefixes)}`;
  const built = isPlainObject(view.role[PROVENANCE_FIELD]) ? view.role[PROVENANCE_FIELD] : null;
  const provenance = built ? `; build provenance by ${String(built.identity)} at ${String(built.issuer)}` : '';
  return `${who}; threshold ${show(view.role.threshold)}; ${where}${provenance}`;
}

const REPORTED_FIELDS = new Set(['name', 'keyids', 'threshold', 'paths', 'path_hash_prefixes', 'terminating']);

function roleChanges(name: string, now: RoleView, before: RoleView): string[] {
  const out: string[] = [];
  const at = `~ delegation ${name}:`;
  const signersNow = signers(now);
  const signersBefore = signers(before);
  for (const [keyid, who] of signersBefore) if (!signersNow.has(keyid)) out.push(`${at} signer removed: ${who}`);
  for (const [keyid, who] of signersNow) if (!signersBefore.has(keyid)) out.push(`${at} signer added: ${who}`);
  for (const [keyid, key] of now.keys) {
    const old = before.keys.get(keyid);
    if (old !== undefined && !canonicalBytes(key).equals(canonicalBytes(old))) {
      out.push(`${at} key ${keyid.slice(0, 8)} changed: ${describeSigner(keyid, old)} -> ${describeSigner(keyid, key)}`);
    }
  }
  for (const field of ['threshold', 'paths', 'path_hash_prefixes', 'terminating']) {
    const a = before.role[field];
    const b = now.role[field];
    if (show(a) !== show(b)) out.push(`${at} ${field} ${show(a)} -> ${show(b)}`);
  }
  const others = new Set([...Object.keys(now.role), ...Object.keys(before.role)].filter((f) => !REPORTED_FIELDS.has(f)));
  for (const field of [...others].sort()) {
    if (show(before.role[field]) !== show(now.role[field]))
      out.push(`${at} ${field} ${show(before.role[field])} -> ${show(now.role[field])}`);
  }
  return out;
}

/** One line per change, in the order of the new document's delegations, removals last. */
export function delegationChanges(current: JsonObject, previous: JsonObject): string[] {
  const now = rolesOf(current);
  const before = rolesOf(previous);
  const out: string[] = [];
  for (const [name, view] of now) {
    const old = before.get(name);
    if (!old) out.push(`+ delegation ${name}: ${summary(view)}`);
    else out.push(...roleChanges(name, view, old));
  }
  for (const [name, view] of before) if (!now.has(name)) out.push(`- delegation ${name}: was ${summary(view)}`);
  // Clients search delegations in order (TUF 5.6.7): a new order can change who is trusted for a path.
  const keptNow = [...now.keys()].filter((n) => before.has(n));
  const keptBefore = [...before.keys()].filter((n) => now.has(n));
  const first = keptNow.findIndex((n, i) => n !== keptBefore[i]);
  if (first >= 0) {
    out.push(`~ delegation order changed: ${keptNow[first]} now comes before ${keptBefore[first]} (clients search delegations in order)`);
  }
  return out;
}
