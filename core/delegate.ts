// One check for every new version of a role against whoever delegates it: root against itself and
// the trusted root, top-level targets against root, a project role against the targets role that
// delegates it (python-tuf's `verify_delegate` plus the repository's rollback and freeze rules).
// Pure: trusted metadata and time are arguments. Refuses in a fixed order.
import type { Targets } from '@tufjs/models';
import { TufError } from './errors.ts';
import type { TufKey } from './keys.ts';
import type { ParsedMetadata } from './metadata.ts';
import { PathPattern, targetPathHash } from './pathPatterns.ts';
import { provenanceRequirementOf, type BuilderIdentity } from './provenance.ts';
import { checkThreshold, type RoleSpec, type SignatureVerifier, type ThresholdResult } from './verify.ts';

/** A set of keys and a threshold that must sign: one per delegator (root needs two). */
export interface SigningAuthority {
  /** How messages name it, e.g. "root v3 by its own keys". */
  label: string;
  keys: Record<string, TufKey>;
  role: RoleSpec;
}

export interface DelegateCheck {
  /** How messages name the candidate, e.g. "targets" or a project name. */
  name: string;
  candidate: ParsedMetadata;
  authorities: SigningAuthority[];
  /** The stored version; null before the first one. */
  currentVersion: number | null;
  now: Date;
  verifier?: SignatureVerifier;
  /**
   * 'pending': a version signed by some but not all of the threshold is returned (met = false)
   * rather than refused, so that co-signatures can be collected. It still needs one valid one.
   */
  belowThreshold?: 'refuse' | 'pending';
}

/**
 * TUF 5.3.4 / 5.6.3: a threshold of each authority's keys signed; TUF 5.3.5 / 5.6.4 (rollback):
 * exactly the next version; TUF 5.3.10 / 5.6.5 (freeze): not expired. Returns the threshold
 * result of the last authority.
 */
export function verifyDelegate(check: DelegateCheck): ThresholdResult {
  const { candidate, name } = check;
  let result: ThresholdResult | null = null;
  for (const authority of check.authorities) {
    result = checkThreshold(candidate.envelope.signatures, candidate.signedBytes, authority.keys, authority.role, check.verifier);
    if (result.met) continue;
    if (check.belowThreshold === 'pending' && result.validKeyids.length > 0) continue;
    const message =
      check.belowThreshold === 'pending'
        ? `${name} v${candidate.version}: no valid signature by ${authority.label}`
        : `${authority.label}: ${result.validKeyids.length} valid signature(s) of ${result.threshold} required`;
    throw new TufError('threshold_not_met', message, { verdicts: result.verdicts });
  }
  if (!result) throw new Error('verifyDelegate needs at least one signing authority');
  const expected = (check.currentVersion ?? 0) + 1;
  if (candidate.version !== expected) {
    throw new TufError('version_not_next', `${name} version ${candidate.version} is not the next version ${expected}`);
  }
  if (candidate.expires.getTime() <= check.now.getTime()) {
    throw new TufError('expired', `${name} v${candidate.version} expired at ${String(candidate.envelope.signed.expires)}`);
  }
  return result;
}

/** A delegated role as its delegator describes it. */
export interface Delegation {
  name: string;
  /** The role that delegates it: "targets" or another delegated targets role. */
  delegator: string;
  keys: Record<string, TufKey>;
  role: RoleSpec;
  paths: string[];
  /** Set instead of `paths` for a role delegated by target path hash (TUF path_hash_prefixes). */
  pathHashPrefixes: string[];
  /** tuf-js's path matching semantics (compiled once), so the server and clients agree on what is delegated. */
  isDelegatedPath(path: string): boolean;
  /** The builder whose build-provenance attestation every file must carry (core/provenance.ts), or null. */
  provenance: BuilderIdentity | null;
}

type DelegatedRoleLike = { paths?: string[]; pathHashPrefixes?: string[] };
/** `segments`, when given, is `path` split on "/": a caller testing one path against many roles splits it once. */
type PathMatcher = (path: string, segments?: readonly string[]) => boolean;
const compiledRoles = new WeakMap<DelegatedRoleLike, PathMatcher>();

/**
 * `DelegatedRole.isDelegatedPath` with its patterns compiled once per parsed role: tuf-js builds a
 * Minimatch for every pattern on every call, which made finding a project's bin among 1,024 bins
 * (4,096 patterns) cost about 20 ms per upload. Same semantics (core/pathPatterns.ts).
 */
export function delegatedPathMatcher(role: DelegatedRoleLike): PathMatcher {
  let matcher = compiledRoles.get(role);
  if (!matcher) {
    if (role.paths) {
      const patterns = role.paths.map((p) => new PathPattern(p));
      matcher = (path, segments = path.split('/')) => {
        for (const pattern of patterns) if (pattern.matchesSegments(segments)) return true;
        return false;
      };
    } else if (role.pathHashPrefixes) {
      const prefixes = role.pathHashPrefixes;
      matcher = (path) => {
        const hash = targetPathHash(path);
        return prefixes.some((p) => hash.startsWith(p));
      };
    } else {
      matcher = () => false;
    }
    compiledRoles.set(role, matcher);
  }
  return matcher;
}

/** The delegation of `name` listed directly by `delegator` (a parsed targets role), or null. */
export function delegationIn(delegatorName: string, delegator: Targets, name: string): Delegation | null {
  const roles = delegator.delegations?.roles;
  if (!roles || !Object.prototype.hasOwnProperty.call(roles, name)) return null;
  const role = roles[name]!;
  const keys: Record<string, TufKey> = Object.create(null);
  for (const keyid of role.keyIDs) {
    const key = Object.prototype.hasOwnProperty.call(delegator.delegations!.keys, keyid) ? delegator.delegations!.keys[keyid] : undefined;
    if (key) keys[keyid] = key.toJSON() as unknown as TufKey;
  }
  return {
    name,
    delegator: delegatorName,
    keys,
    role: { keyids: role.keyIDs, threshold: role.threshold },
    paths: role.paths ?? [],
    pathHashPrefixes: role.pathHashPrefixes ?? [],
    isDelegatedPath: delegatedPathMatcher(role),
    provenance: provenanceRequirementOf(role.unrecognizedFields, name),
  };
}

/**
 * Finds who delegates `name`, walking delegations depth-first from top-level targets in listed
 * order (TUF 5.6.7's order): each delegator's own list is checked first, then the delegated roles
 * that delegate one of `probes` (target paths the role would be trusted for) are descended into.
 * `load` returns a delegated targets role that may delegate further, or null for roles that do not
 * (or are not stored yet); each role is visited once, and at most `maxRoles` are loaded.
 */
export async function locateDelegation(
  name: string,
  top: Targets,
  probes: string[],
  load: (role: string) => Promise<Targets | null> | Targets | null,
  maxRoles = 64,
): Promise<Delegation | null> {
  const probed = probes.map((path) => ({ path, segments: path.split('/') }));
  const visited = new Set<string>(['targets']);
  const stack: [string, Targets][] = [['targets', top]];
  let loaded = 0;
  while (stack.length > 0) {
    const [delegatorName, delegator] = stack.pop()!;
    const found = delegationIn(delegatorName, delegator, name);
    if (found) return found;
    const roles = delegator.delegations?.roles ?? {};
    const children: [string, Targets][] = [];
    for (const child of Object.keys(roles)) {
      if (visited.has(child)) continue;
      const delegates = delegatedPathMatcher(roles[child]!);
      let delegated = false;
      for (const probe of probed) if ((delegated = delegates(probe.path, probe.segments))) break;
      if (!delegated) continue;
      visited.add(child);
      if (++loaded > maxRoles) return null;
      const doc = await load(child);
      if (doc?.delegations) children.push([child, doc]);
    }
    stack.push(...children.reverse());
  }
  return null;
}
