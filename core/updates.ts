// Verification of metadata the offline admins submit (root, top-level targets). Pure: the trusted
// state and the time are arguments; storing and fetching happen elsewhere. Checks run in a fixed
// order and each is tagged with the step of the TUF client workflow it mirrors.
import type { Root } from '@tufjs/models';
import { TufError } from './errors.ts';
import { provenanceRequirementOf } from './provenance.ts';
import { isPlainObject } from './canonical.ts';
import type { TufKey } from './keys.ts';
import { keyidOf } from './keys.ts';
import type { ParsedMetadata } from './metadata.ts';
import { assertDelegatedRoleName, assertTargetPath, TOP_LEVEL_ROLES, type TopLevelRole } from './names.ts';
import type { RoleSpec, SignatureVerifier } from './verify.ts';
import { verifyDelegate } from './delegate.ts';

export function rootKeys(root: Root): Record<string, TufKey> {
  const keys: Record<string, TufKey> = Object.create(null);
  for (const [keyid, key] of Object.entries(root.keys)) keys[keyid] = key.toJSON() as unknown as TufKey;
  return keys;
}

export function rootRole(root: Root, name: TopLevelRole): RoleSpec {
  const role = root.roles[name];
  if (!role) throw new TufError('malformed', `root has no "${name}" role`);
  return { keyids: role.keyIDs, threshold: role.threshold };
}

function checkRootStructure(root: Root): void {
  for (const name of TOP_LEVEL_ROLES) {
    const role = rootRole(root, name);
    const known = role.keyids.filter((k) => Object.prototype.hasOwnProperty.call(root.keys, k));
    if (known.length !== role.keyids.length) throw new TufError('malformed', `root: role "${name}" names a keyid missing from "keys"`);
    if (new Set(role.keyids).size !== role.keyids.length) throw new TufError('malformed', `root: role "${name}" lists a keyid twice`);
    if (!Number.isInteger(role.threshold) || role.threshold < 1 || role.threshold > role.keyids.length) {
      throw new TufError('malformed', `root: role "${name}" threshold ${role.threshold} cannot be met by its ${role.keyids.length} key(s)`);
    }
  }
}

/**
 * A new root: version 1 at bootstrap (trusted = null), else trusted.version + 1, signed by the
 * threshold of the trusted root and of itself.
 */
export function verifyRootUpdate(
  candidate: ParsedMetadata<'root'>,
  trusted: ParsedMetadata<'root'> | null,
  now: Date,
  verifier?: SignatureVerifier,
): void {
  const { model } = candidate;
  checkRootStructure(model);
  // TUF 5.3.4: signed by a threshold of the trusted root's keys and of its own;
  // TUF 5.3.5: exactly trusted + 1 (no rollback, no skip); TUF 5.3.10: not expired.
  verifyDelegate({
    name: 'root',
    candidate,
    authorities: [
      ...(trusted
        ? [
            {
              label: `root v${candidate.version} by root v${trusted.version}'s keys`,
              keys: rootKeys(trusted.model),
              role: rootRole(trusted.model, 'root'),
            },
          ]
        : []),
      { label: `root v${candidate.version} by its own keys`, keys: rootKeys(model), role: rootRole(model, 'root') },
    ],
    currentVersion: trusted ? trusted.version : null,
    now,
    ...(verifier ? { verifier } : {}),
  });
  // Repository policy: the server only publishes in the consistent-snapshot layout.
  if (model.consistentSnapshot !== true) {
    throw new TufError('consistent_snapshot_required', 'root must set consistent_snapshot to true');
  }
}

/** The online keys the server holds for each role (after a rotation, more than one). */
export interface OnlineKeys {
  snapshot: TufKey[];
  timestamp: TufKey[];
}

function sameKey(a: { keyType: string; scheme: string; keyVal: Record<string, string> }, b: TufKey): boolean {
  return a.keyType === b.keytype && a.scheme === b.scheme && a.keyVal.public === b.keyval.public;
}

/**
 * Root must delegate snapshot and timestamp, threshold 1, to a key the server holds: otherwise
 * the server could not sign them, or would sign with a key clients no longer trust.
 */
export function checkOnlineKeys(root: Root, held: OnlineKeys): void {
  for (const name of ['snapshot', 'timestamp'] as const) {
    const role = rootRole(root, name);
    const match = role.keyids.some((keyid) => {
      const key = Object.hasOwn(root.keys, keyid) ? root.keys[keyid] : undefined;
      return key !== undefined && held[name].some((h) => sameKey(key, h));
    });
    if (!match) {
      throw new TufError(
        'online_keys_mismatch',
        `root's ${name} role lists no key the server holds (it holds ${held[name].map((k) => keyidOf(k).slice(0, 16)).join(', ') || 'none'})`,
        {
          role: name,
          held: held[name].map((k) => keyidOf(k)),
        },
      );
    }
    if (role.threshold !== 1) {
      throw new TufError('online_keys_mismatch', `root's ${name} threshold must be 1: the server signs ${name} with one online key`);
    }
  }
}

/** Whether two roots delegate `name` identically (same keyids and threshold). */
export function sameRoleDelegation(a: Root, b: Root, name: TopLevelRole): boolean {
  const x = rootRole(a, name);
  const y = rootRole(b, name);
  return x.threshold === y.threshold && x.keyids.length === y.keyids.length && x.keyids.every((k) => y.keyids.includes(k));
}

export function checkTargetEntries(targets: Pick<ParsedMetadata<'targets'>, 'envelope'>): void {
  const entries = targets.envelope.signed.targets;
  if (!isPlainObject(entries)) throw new TufError('malformed', 'targets: "targets" must be an object');
  for (const [path, entry] of Object.entries(entries)) {
    assertTargetPath(path);
    if (!isPlainObject(entry)) throw new TufError('malformed', `target ${path}: entry must be an object`);
    const { length, hashes } = entry;
    if (typeof length !== 'number' || !Number.isSafeInteger(length) || length < 0) {
      throw new TufError('malformed', `target ${path}: length must be a non-negative integer`);
    }
    if (!isPlainObject(hashes) || typeof hashes.sha256 !== 'string' || !/^[0-9a-f]{64}$/.test(hashes.sha256)) {
      throw new TufError('malformed', `target ${path}: hashes must include a lowercase hex sha256`);
    }
    if (typeof hashes.sha512 === 'string' && !/^[0-9a-f]{128}$/.test(hashes.sha512)) {
      throw new TufError('malformed', `target ${path}: sha512 must be 128 lowercase hex characters`);
    }
    // Clients build target URLs from the first hash listed; canonical JSON sorts keys.
    const first = Object.keys(hashes).sort()[0];
    if (first !== 'sha256') throw new TufError('malformed', `target ${path}: hash "${first}" would sort before sha256`);
  }
}

/**
 * Delegated role names clients can use as file names; no succinct delegations; a build-provenance
 * requirement (core/provenance.ts) only in the form clients read (they refuse the document otherwise).
 */
export function checkDelegationNames(targets: ParsedMetadata<'targets'>): void {
  const delegations = targets.model.delegations;
  if (!delegations) return;
  if (delegations.succinctRoles) throw new TufError('malformed', 'targets: succinct delegations are not supported');
  for (const [name, role] of Object.entries(delegations.roles ?? {})) {
    assertDelegatedRoleName(name);
    provenanceRequirementOf(role.unrecognizedFields, name);
  }
}

/** Top-level targets: signed by root's targets threshold, version current + 1, not expired. */
export function verifyTargetsUpdate(
  candidate: ParsedMetadata<'targets'>,
  trustedRoot: ParsedMetadata<'root'>,
  currentVersion: number | null,
  now: Date,
  verifier?: SignatureVerifier,
): void {
  // Structure before cryptography.
  checkTargetEntries(candidate);
  checkDelegationNames(candidate);
  // TUF 5.6.3: signed by a threshold of root's targets keys; TUF 5.6.4 (rollback): the
  // repository accepts only the next version; TUF 5.6.5 (freeze): not expired.
  verifyDelegate({
    name: 'targets',
    candidate,
    authorities: [
      { label: `targets v${candidate.version}`, keys: rootKeys(trustedRoot.model), role: rootRole(trustedRoot.model, 'targets') },
    ],
    currentVersion,
    now,
    ...(verifier ? { verifier } : {}),
  });
}
