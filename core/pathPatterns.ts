// Delegation path patterns with exactly tuf-js's semantics (`DelegatedRole.isDelegatedPath` in
// @tufjs/models): target and pattern are split on "/", must have as many segments, and each target
// segment must match its pattern segment under minimatch's default options (so `*` does not match a
// leading "."). The minimatch instance is the one @tufjs/models itself loads, so the two cannot
// drift apart; segments without any glob syntax are compared as strings without calling it, and a
// compiled pattern is kept with its delegation, so a walk over 10,000 delegations costs one string
// comparison for most of them. Pure: no I/O.
import { createHash } from 'node:crypto';
import { createRequire } from 'node:module';

interface MinimatchLike {
  match(path: string): boolean;
}
interface MinimatchModule {
  Minimatch: new (pattern: string, options?: object) => MinimatchLike;
  minimatch(path: string, pattern: string, options?: object): boolean;
}

const requireHere = createRequire(import.meta.url);
// The minimatch that @tufjs/models resolves (it is its dependency, not ours).
const mm = createRequire(requireHere.resolve('@tufjs/models'))('minimatch') as MinimatchModule;

type SegmentMatcher = (segment: string) => boolean;

/** Characters that never carry glob meaning for minimatch; "." and ".." are left to minimatch. */
const LITERAL_SEGMENT = /^[A-Za-z0-9_.~=%,:-]+$/;

function segmentMatcher(patternSegment: string): SegmentMatcher {
  if (LITERAL_SEGMENT.test(patternSegment) && patternSegment !== '.' && patternSegment !== '..') {
    return (segment) => segment === patternSegment;
  }
  // `minimatch()` refuses comments ("#...") before compiling; the compiled form does the same.
  if (patternSegment.startsWith('#')) return () => false;
  let compiled: MinimatchLike | null = null;
  return (segment) => {
    compiled ??= new mm.Minimatch(patternSegment);
    return compiled.match(segment);
  };
}

/** One `paths` entry of a delegation, compiled on first use. */
export class PathPattern {
  private matchers: SegmentMatcher[] | null = null;
  private readonly segmentCount: number;

  constructor(readonly pattern: string) {
    this.segmentCount = pattern.split('/').length;
  }

  /** `segments` is the target path split on "/" (split once per lookup by the caller). */
  matchesSegments(segments: readonly string[]): boolean {
    if (segments.length !== this.segmentCount) return false;
    this.matchers ??= this.pattern.split('/').map(segmentMatcher);
    for (let i = 0; i < segments.length; i++) {
      if (!this.matchers[i]!(segments[i]!)) return false;
    }
    return true;
  }

  matches(targetPath: string): boolean {
    return this.matchesSegments(targetPath.split('/'));
  }
}

/** tuf-js's `isTargetInPathPattern`, uncompiled (tests compare against it). */
export function isTargetInPathPattern(targetPath: string, pattern: string): boolean {
  return new PathPattern(pattern).matches(targetPath);
}

/** Lowercase hex SHA-256 of the target path: what `path_hash_prefixes` and TAP 15 bins hash. */
export function targetPathHash(targetPath: string): string {
  return createHash('sha256').update(targetPath).digest('hex');
}
