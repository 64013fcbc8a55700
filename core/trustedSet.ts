// The client's trusted metadata, in the style of python-tuf's TrustedMetadataSet: pure state and
// verification for the "Detailed client workflow" of the TUF specification (section 5), with no
// file or network I/O. The caller (client/identityUpdater.ts) decides what to fetch and persist and
// hands bytes in; this module decides whether they may be trusted. Each check is tagged with the
// specification step it implements.
//
// Loading order is root -> timestamp -> snapshot -> targets -> delegated targets. Metadata may be
// loaded "intermediate" (an expired timestamp or snapshot, a snapshot whose version differs from
// timestamp's): it is kept for rollback protection of the next version, raises, and blocks loading
// the next kind of metadata until a final version replaces it.
//
// Everything is parsed from plain JSON into Maps and arrays, linearly: unlike @tufjs/models, which
// builds snapshot meta and delegations with an object spread per entry (quadratic), and unlike plain
// `{}` lookups, where names from the metadata such as `constructor` or `__proto__` would find
// Object.prototype's members. Parsing is in trustedParse.ts, the parsed model in trustedModel.ts.
import type { TufKey } from './keys.ts';
import type { BuilderIdentity } from './provenance.ts';
import { verifySnapshotProof } from './snapshotMerkle.ts';
import {
  isExpired,
  parseEnvelope,
  parseRoot,
  parseSnapshot,
  parseTargets,
  parseTimestamp,
  verifyLengthAndHashes,
  type Envelope,
} from './trustedParse.ts';
import {
  TrustError,
  type MetaInfo,
  type RoleKeys,
  type TargetInfo,
  type TrustedRoot,
  type TrustedSnapshot,
  type TrustedTargets,
  type TrustedTimestamp,
} from './trustedModel.ts';
import { checkThreshold, classicKeyVerifier, type SignatureVerifier } from './verify.ts';

export * from './trustedModel.ts';
export { newHash, verifyLengthAndHashes } from './trustedParse.ts';

export interface TrustedSetOptions {
  /** TUF 5.1: the fixed update start time; now by default. */
  referenceTime?: Date;
  /** Verifies one signature by one key (ed25519, ECDSA P-256, sigstore-oidc identities). */
  verifier?: SignatureVerifier;
}

export interface RoleToLoad {
  role: string;
  delegator: string;
}

export interface TargetFound {
  role: string;
  /** The role that delegates `role` ("root" for top-level targets). */
  delegator: string;
  target: TargetInfo;
  /**
   * Builders named by the delegations on the path from top-level targets to `role` (each one's
   * attestation is required: core/provenance.ts); empty when none asks for build provenance.
   */
  provenance: readonly BuilderIdentity[];
}

/** A role the search visits, with the build-provenance requirements of the delegations that led to it. */
interface Visit extends RoleToLoad {
  provenance: readonly BuilderIdentity[];
}

export const DEFAULT_MAX_DELEGATIONS = 32;

export class TrustedSet {
  readonly referenceTime: Date;
  private readonly verifier: SignatureVerifier;
  private trustedRoot: TrustedRoot;
  private trustedTimestamp: TrustedTimestamp | null = null;
  private trustedSnapshot: TrustedSnapshot | null = null;
  /** Top-level targets under "targets", and every delegated role loaded, by name. */
  private readonly roles = new Map<string, TrustedTargets>();
  /** TAP 16: snapshot entries established by proofs instead of snapshot.json, by file name. */
  private readonly proven = new Map<string, MetaInfo>();

  constructor(rootBytes: Uint8Array, opts: TrustedSetOptions = {}) {
    // TUF 5.1: record the fixed update start time; every expiry is judged against it.
    this.referenceTime = opts.referenceTime ?? new Date();
    this.verifier = opts.verifier ?? classicKeyVerifier;
    // TUF 5.2: load the trusted root, verified by itself. An expired trusted root is still the
    // start of the chain (TUF 5.3.10 judges the final root's expiry, not this one's).
    const env = parseEnvelope(rootBytes, 'root', 'root');
    const root = parseRoot(env, 'root');
    this.verifyWith('root', root.keys, root.roles.get('root')!, env);
    this.trustedRoot = root;
  }

  get root(): TrustedRoot {
    return this.trustedRoot;
  }
  get timestamp(): TrustedTimestamp | null {
    return this.trustedTimestamp;
  }
  get snapshot(): TrustedSnapshot | null {
    return this.trustedSnapshot;
  }
  get targets(): TrustedTargets | null {
    return this.roles.get('targets') ?? null;
  }
  /** A trusted targets role (top-level "targets" or delegated), or null if not loaded. */
  getRole(name: string): TrustedTargets | null {
    return this.roles.get(name) ?? null;
  }

  /** Verifies `env` against a threshold of `role`'s keys, counting distinct keyids. */
  private verifyWith(roleName: string, keys: ReadonlyMap<string, TufKey>, role: RoleKeys, env: Envelope): void {
    // Only the role's own keys, in an object without a prototype for checkThreshold's lookups.
    const roleKeys: Record<string, TufKey> = Object.create(null) as Record<string, TufKey>;
    for (const keyid of role.keyids) {
      const key = keys.get(keyid);
      if (key) roleKeys[keyid] = key;
    }
    const result = checkThreshold(env.signatures, env.signedBytes, roleKeys, role, this.verifier);
    if (!result.met) {
      throw new TrustError('threshold_not_met', `${roleName} was signed by ${result.validKeyids.length}/${role.threshold} keys`);
    }
  }

  /** TUF 5.3.4 - 5.3.7: the next root, `bytes` as downloaded. */
  updateRoot(bytes: Uint8Array): TrustedRoot {
    if (this.trustedTimestamp) throw new TrustError('wrong_order', 'Cannot update root after timestamp');
    const env = parseEnvelope(bytes, 'root', 'root');
    const newRoot = parseRoot(env, 'root');
    const current = this.trustedRoot;
    // TUF 5.3.4: signed by a threshold of the keys of the trusted root (version N) ...
    this.verifyWith('root', current.keys, current.roles.get('root')!, env);
    // TUF 5.3.5: rollback attack: exactly version N+1.
    if (newRoot.version !== current.version + 1) {
      throw new TrustError('bad_version', `Expected root version ${current.version + 1}, got ${newRoot.version}`);
    }
    // TUF 5.3.4: ... and by a threshold of its own keys (version N+1).
    this.verifyWith('root', newRoot.keys, newRoot.roles.get('root')!, env);
    // TUF 5.3.6: an intermediate root's expiry does not matter. TUF 5.3.7: trust it.
    this.trustedRoot = newRoot;
    return newRoot;
  }

  /** TUF 5.3.10, 5.4.2 - 5.4.4. Throws `equal_version` when the trusted timestamp is as new. */
  updateTimestamp(bytes: Uint8Array): TrustedTimestamp {
    if (this.trustedSnapshot) throw new TrustError('wrong_order', 'Cannot update timestamp after snapshot');
    // TUF 5.3.10: freeze attack on root: the final root must not have expired.
    if (isExpired(this.trustedRoot, this.referenceTime)) throw new TrustError('expired', 'Final root.json is expired');
    // TUF 5.3.11 (fast-forward recovery): a timestamp kept from before a rotation of the timestamp
    // keys fails the signature check below, so it is never trusted and cannot block a lower version.
    const env = parseEnvelope(bytes, 'timestamp', 'timestamp');
    // TUF 5.4.2: arbitrary software attack: signed by a threshold of root's timestamp keys.
    this.verifyWith('timestamp', this.trustedRoot.keys, this.trustedRoot.roles.get('timestamp')!, env);
    const newTimestamp = parseTimestamp(env, 'timestamp');
    const current = this.trustedTimestamp;
    if (current) {
      // TUF 5.4.3.1: rollback attack: never an older timestamp ...
      if (newTimestamp.version < current.version) {
        throw new TrustError(
          'bad_version',
          `New timestamp version ${newTimestamp.version} is less than current version ${current.version}`,
        );
      }
      // ... and the same version is discarded in favour of the trusted one.
      if (newTimestamp.version === current.version) {
        throw new TrustError(
          'equal_version',
          `New timestamp version ${newTimestamp.version} is equal to current version ${current.version}`,
        );
      }
      // TUF 5.4.3.2: rollback attack: never an older snapshot.
      if (newTimestamp.snapshotMeta.version < current.snapshotMeta.version) {
        throw new TrustError(
          'bad_version',
          `New snapshot version ${newTimestamp.snapshotMeta.version} is less than current version ${current.snapshotMeta.version}`,
        );
      }
    }
    // Kept even if expired, as intermediate metadata for rollback protection of the next one.
    this.trustedTimestamp = newTimestamp;
    // TUF 5.4.4: freeze attack.
    this.checkFinalTimestamp();
    return newTimestamp;
  }

  private checkFinalTimestamp(): TrustedTimestamp {
    const ts = this.trustedTimestamp;
    if (!ts) throw new TrustError('wrong_order', 'No trusted timestamp metadata');
    // TUF 5.4.4: freeze attack: the timestamp must not have expired.
    if (isExpired(ts, this.referenceTime)) throw new TrustError('expired', 'Final timestamp.json is expired');
    return ts;
  }

  /**
   * TUF 5.5.2 - 5.5.6. `trusted` is for a snapshot read back from local storage: it was checked
   * against timestamp's hashes when it was downloaded (TUF 5.5.2 is skipped, nothing else).
   */
  updateSnapshot(bytes: Uint8Array, opts: { trusted?: boolean } = {}): TrustedSnapshot {
    if (!this.trustedTimestamp) throw new TrustError('wrong_order', 'Cannot update snapshot before timestamp');
    if (this.roles.has('targets')) throw new TrustError('wrong_order', 'Cannot update snapshot after targets');
    if (this.proven.size > 0) throw new TrustError('wrong_order', 'Cannot update snapshot after snapshot Merkle proofs');
    // A snapshot cannot be loaded under an expired timestamp (TUF 5.4.4).
    const ts = this.checkFinalTimestamp();
    // TUF 5.5.2: length and hashes named by timestamp, when it names them.
    if (!opts.trusted) verifyLengthAndHashes(ts.snapshotMeta, bytes, 'snapshot.json');
    const env = parseEnvelope(bytes, 'snapshot', 'snapshot');
    // TUF 5.5.3: arbitrary software attack: signed by a threshold of root's snapshot keys.
    this.verifyWith('snapshot', this.trustedRoot.keys, this.trustedRoot.roles.get('snapshot')!, env);
    const newSnapshot = parseSnapshot(env, 'snapshot');
    // TUF 5.5.4 (version equal to timestamp's) is checked below as "final", after the snapshot is
    // kept: an older trusted snapshot still protects the next one against rollback.
    const current = this.trustedSnapshot;
    if (current) {
      // TUF 5.5.5: rollback attack: every role the trusted snapshot lists stays listed, at the
      // same or a higher version.
      for (const [name, info] of current.meta) {
        const next = newSnapshot.meta.get(name);
        if (!next) throw new TrustError('missing_meta', `Missing file ${name} in new snapshot`);
        if (next.version < info.version) {
          throw new TrustError('bad_version', `New version ${next.version} of ${name} is less than current version ${info.version}`);
        }
      }
    }
    this.trustedSnapshot = newSnapshot;
    this.checkFinalSnapshot();
    return newSnapshot;
  }

  private checkFinalSnapshot(): TrustedSnapshot {
    const snapshot = this.trustedSnapshot;
    if (!snapshot) throw new TrustError('wrong_order', 'No trusted snapshot metadata');
    const ts = this.checkFinalTimestamp();
    // TUF 5.5.6: freeze attack.
    if (isExpired(snapshot, this.referenceTime)) throw new TrustError('expired', 'snapshot.json is expired');
    // TUF 5.5.4: the version timestamp names (mix-and-match).
    if (snapshot.version !== ts.snapshotMeta.version) {
      throw new TrustError('bad_version', `Snapshot version ${snapshot.version} doesn't match timestamp's ${ts.snapshotMeta.version}`);
    }
    return snapshot;
  }

  /**
   * TAP 16 "Merkle tree verification" for one role, in place of snapshot.json: the role's entry
   * from a proof that leads to the trusted timestamp's `merkle_root`. `floor` is the version of the
   * role this client trusted before (the metadata it keeps): the proof may not name a lower one.
   */
  updateSnapshotProof(roleName: string, proofBytes: Uint8Array, floor?: number): MetaInfo {
    if (!this.trustedTimestamp) throw new TrustError('wrong_order', 'Cannot load a snapshot Merkle proof before timestamp');
    if (this.trustedSnapshot) throw new TrustError('wrong_order', 'Cannot load a snapshot Merkle proof after snapshot');
    // A proof cannot be used under an expired timestamp (TUF 5.4.4).
    const ts = this.checkFinalTimestamp();
    if (ts.merkleRoot === undefined) throw new TrustError('missing_meta', 'timestamp.json names no snapshot Merkle tree (merkle_root)');
    let doc: unknown;
    try {
      doc = JSON.parse(Buffer.from(proofBytes).toString('utf8'));
    } catch {
      throw new TrustError('merkle_proof_malformed', `snapshot Merkle proof of ${roleName}.json is not JSON`);
    }
    // TAP 16: the leaf is this role's entry and its path leads to the timestamp's root.
    const info = verifySnapshotProof(doc, roleName, ts.merkleRoot);
    // TUF 5.5.5, for this role: rollback attack: never below the version trusted before.
    if (floor !== undefined && info.version < floor) {
      throw new TrustError('bad_version', `New version ${info.version} of ${roleName}.json is less than current version ${floor}`);
    }
    this.proven.set(`${roleName}.json`, info);
    return info;
  }

  /** The snapshot entry of a targets role: from snapshot.json, or from its TAP 16 proof. */
  roleMeta(roleName: string): MetaInfo {
    return this.metaFor(roleName);
  }

  private metaFor(roleName: string): MetaInfo {
    if (this.trustedSnapshot) {
      // Targets cannot be loaded under an expired snapshot, or one timestamp does not name.
      const meta = this.checkFinalSnapshot().meta.get(`${roleName}.json`);
      if (!meta) throw new TrustError('missing_meta', `Missing ${roleName}.json in snapshot`);
      return meta;
    }
    this.checkFinalTimestamp();
    const meta = this.proven.get(`${roleName}.json`);
    if (!meta) throw new TrustError('missing_meta', `No snapshot Merkle proof of ${roleName}.json was loaded`);
    return meta;
  }

  /** TUF 5.6.2 - 5.6.5 for top-level targets (delegated by root). */
  updateTargets(bytes: Uint8Array): TrustedTargets {
    return this.updateDelegatedTargets(bytes, 'targets', 'root');
  }

  /** TUF 5.6.2 - 5.6.5 for `roleName`, delegated by `delegatorName` (already trusted). */
  updateDelegatedTargets(bytes: Uint8Array, roleName: string, delegatorName: string): TrustedTargets {
    if (!this.trustedSnapshot && this.proven.size === 0) throw new TrustError('wrong_order', 'Cannot load targets before snapshot');
    if (this.roles.has(roleName)) throw new TrustError('wrong_order', `${roleName} is already trusted`);
    let keys: ReadonlyMap<string, TufKey>;
    let role: RoleKeys | null;
    if (delegatorName === 'root') {
      if (roleName !== 'targets') throw new TrustError('not_delegated', `root delegates no targets role ${roleName}`);
      keys = this.trustedRoot.keys;
      role = this.trustedRoot.roles.get('targets')!;
    } else {
      if (roleName === 'targets') throw new TrustError('not_delegated', 'top-level targets is delegated by root only');
      const delegator = this.roles.get(delegatorName);
      if (!delegator) throw new TrustError('wrong_order', `No trusted ${delegatorName} metadata`);
      if (!delegator.delegations) throw new TrustError('not_delegated', `${delegatorName} has no delegations (looking for ${roleName})`);
      keys = delegator.delegations.keys;
      role = delegator.delegations.roleFor(roleName);
      if (!role) throw new TrustError('not_delegated', `no delegation found for ${roleName} in ${delegatorName}`);
    }
    const meta = this.metaFor(roleName);
    // TUF 5.6.2: length and hashes named by snapshot, when it names them.
    verifyLengthAndHashes(meta, bytes, `${roleName}.json`);
    const env = parseEnvelope(bytes, 'targets', roleName);
    // TUF 5.6.3: arbitrary software attack: signed by a threshold of the delegated keys.
    this.verifyWith(roleName, keys, role, env);
    // TUF 5.6.4: the version snapshot names (rollback, mix-and-match).
    if (env.version !== meta.version) {
      throw new TrustError('bad_version', `Version ${env.version} of ${roleName} does not match snapshot version ${meta.version}`);
    }
    // TUF 5.6.5: freeze attack.
    if (isExpired(env, this.referenceTime)) throw new TrustError('expired', `${roleName}.json is expired`);
    const targets = parseTargets(env, roleName, roleName);
    this.roles.set(roleName, targets);
    return targets;
  }

  /**
   * TUF 5.6.7: preorder depth-first search of the delegation graph for `targetPath`. A generator:
   * it yields each role it needs that is not trusted yet, and the caller loads that role (through
   * `updateDelegatedTargets`, from storage or the network) before resuming it. Returns the target
   * from the most trusted role that lists it, or null.
   */
  *searchTarget(targetPath: string, maxDelegations: number = DEFAULT_MAX_DELEGATIONS): Generator<RoleToLoad, TargetFound | null, void> {
    const toVisit: Visit[] = [{ role: 'targets', delegator: 'root', provenance: [] }];
    const visited = new Set<string>();
    // TUF 5.6.7.1: at most maxDelegations roles are visited (tuf-js's bound, counted the same way).
    while (visited.size <= maxDelegations && toVisit.length > 0) {
      const next = toVisit.pop()!;
      // TUF 5.6.7.1: a role visited before is skipped, so cycles end.
      if (visited.has(next.role)) continue;
      let role = this.roles.get(next.role);
      if (!role) {
        yield { role: next.role, delegator: next.delegator };
        role = this.roles.get(next.role);
        if (!role) throw new TrustError('wrong_order', `${next.role} was not loaded`);
      }
      // TUF 5.6.7.1: this role has metadata about the target: done.
      const target = role.targets.get(targetPath);
      if (target) return { role: next.role, delegator: next.delegator, target, provenance: next.provenance };
      visited.add(next.role);
      if (!role.delegations) continue;
      // TUF 5.6.7.2: the delegations covering the target, in order of appearance.
      const children: Visit[] = [];
      for (const child of role.delegations.rolesForTarget(targetPath)) {
        // A requirement holds for everything found through the delegation that states it.
        const required = role.delegations.delegatedRole(child.name)?.provenance;
        const provenance = required ? [...next.provenance, required] : next.provenance;
        children.push({ role: child.name, delegator: next.role, provenance });
        // TUF 5.6.7.2.1: a terminating delegation ends the search after its subtree: nothing
        // still waiting to be visited (and no later sibling) is looked at.
        if (child.terminating) {
          toVisit.length = 0;
          break;
        }
      }
      // TUF 5.6.7.2.2: non-terminating ones in order, depth first (the first child is visited
      // next); the search stops at the first role that lists the target.
      for (let i = children.length - 1; i >= 0; i--) toVisit.push(children[i]!);
    }
    // TUF 5.7.2: no role within reach lists the target. (TUF 5.6.7: a role that cannot be
    // downloaded or verified also ends the search: the caller's error propagates from `yield`.)
    return null;
  }
}
