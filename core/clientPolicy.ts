// A user's own rules on top of what a repository's delegations allow (`tuf-client fetch --policy`):
//
//   {"pins": [{"paths": ["mylib/*"],
//              "identities": [{"identity": "alice@example.com", "issuer": "https://accounts.google.com"}],
//              "threshold": 1,
//              "provenance": {"identity": "https://github.com/acme/mylib/.github/workflows/release.yml@refs/tags/v1.2.0",
//                             "issuer": "https://token.actions.githubusercontent.com"}}]}
//
// A pin can only narrow: a file must still meet everything the repository requires, and the role
// that lists it must also carry valid signatures by `threshold` distinct pinned identities, and,
// when `provenance` is named, an attestation by that builder (core/provenance.ts). Every pin whose
// paths match applies. The file is read strictly: a field this client does not know, a typo
// included, refuses the whole policy rather than silently pinning less. Pure.
import { isPlainObject } from './canonical.ts';
import { GlobPattern, globsMatch } from './globPattern.ts';
import { parseBuilderIdentity, type BuilderIdentity } from './provenance.ts';

export interface Pin {
  /** Its place in the file, for messages ("pin 2"). */
  index: number;
  paths: readonly GlobPattern[];
  identities: readonly BuilderIdentity[];
  /** Distinct pinned identities that must have signed; 0 when no identities are pinned. */
  threshold: number;
  provenance: BuilderIdentity | null;
}

export class PolicyError extends Error {
  override readonly name = 'PolicyError';
  readonly code = 'bad_policy';
}

const PIN_FIELDS = new Set(['paths', 'identities', 'threshold', 'provenance']);

function parsePin(value: unknown, index: number): Pin {
  const where = `pin ${index + 1}`;
  if (!isPlainObject(value)) throw new PolicyError(`${where}: must be an object`);
  const extra = Object.keys(value).filter((k) => !PIN_FIELDS.has(k));
  if (extra.length > 0) throw new PolicyError(`${where}: unknown field(s) ${extra.join(', ')} (a pin has ${[...PIN_FIELDS].join(', ')})`);
  const { paths, identities, threshold, provenance } = value;
  if (!Array.isArray(paths) || paths.length === 0 || !paths.every((p) => typeof p === 'string' && p.length > 0))
    throw new PolicyError(`${where}: "paths" must be a non-empty list of patterns`);
  let ids: BuilderIdentity[] = [];
  try {
    if (identities !== undefined) {
      if (!Array.isArray(identities) || identities.length === 0)
        throw new PolicyError(`${where}: "identities" must be a non-empty list (or left out)`);
      ids = identities.map((v, i) => parseBuilderIdentity(v, `${where} identities[${i}]`));
    }
    const builder = provenance === undefined ? null : parseBuilderIdentity(provenance, `${where} provenance`);
    if (ids.length === 0 && !builder) throw new PolicyError(`${where}: pins nothing: give "identities", "provenance", or both`);
    const distinct = new Set(ids.map((i) => `${i.identity}\n${i.issuer}`)).size;
    if (ids.length === 0 && threshold !== undefined) throw new PolicyError(`${where}: "threshold" goes with "identities"`);
    const n = threshold === undefined ? Math.min(1, distinct) : threshold;
    if (ids.length > 0 && (typeof n !== 'number' || !Number.isInteger(n) || n < 1 || n > distinct))
      throw new PolicyError(`${where}: "threshold" must be an integer from 1 to ${distinct} (the distinct identities pinned)`);
    return {
      index: index + 1,
      paths: (paths as string[]).map((p) => new GlobPattern(p)),
      identities: ids,
      threshold: n as number,
      provenance: builder,
    };
  } catch (err) {
    if (err instanceof PolicyError) throw err;
    throw new PolicyError((err as Error).message);
  }
}

/** `{"pins": [...]}` and nothing else. */
export function parsePolicy(value: unknown): Pin[] {
  if (!isPlainObject(value)) throw new PolicyError('a policy is {"pins": [...]}');
  const extra = Object.keys(value).filter((k) => k !== 'pins');
  if (extra.length > 0) throw new PolicyError(`unknown field(s) ${extra.join(', ')} (a policy has "pins")`);
  if (!Array.isArray(value.pins)) throw new PolicyError('"pins" must be a list');
  return value.pins.map(parsePin);
}

/** The pins that apply to a target (by its path in the repository, or its project path in the bin layout). */
export function pinsFor(pins: readonly Pin[], targetPath: string): Pin[] {
  return pins.filter((p) => globsMatch(p.paths, targetPath));
}

export function describePin(pin: Pin): string {
  const who = pin.identities.map((i) => `${i.identity} (issuer ${i.issuer})`).join(', ');
  const parts = [`paths ${pin.paths.map((p) => p.pattern).join(', ')}`];
  if (pin.identities.length > 0) parts.push(`${pin.threshold} of ${who}`);
  if (pin.provenance) parts.push(`built by ${pin.provenance.identity} (issuer ${pin.provenance.issuer})`);
  return `pin ${pin.index} (${parts.join('; ')})`;
}
