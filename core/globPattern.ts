// The patterns of files a user writes for the client (a TAP 4 map's `paths`, a policy's pins).
// TAP 4 calls them glob patterns and its example maps "every other target" with "*", as its
// reference implementation (Python's fnmatch) reads it: `*` matches any characters, "/" included;
// `?` one character; `[abc]`, `[a-z]` and `[!abc]` one character of (or not of) a set. Delegation
// paths inside a repository keep the TUF specification's semantics (core/pathPatterns.ts).
// Patterns are compiled once into an anchored regular expression. Pure.
import { projectPrefix } from './bins.ts';

const SPECIAL = /[\\^$.|+(){}]/;

function compile(pattern: string): RegExp {
  let out = '';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!;
    if (c === '*') out += '.*';
    else if (c === '?') out += '.';
    else if (c === '[') {
      const close = pattern.indexOf(']', i + 2);
      if (close < 0) {
        out += '\\[';
        continue;
      }
      let body = pattern.slice(i + 1, close);
      const negate = body.startsWith('!');
      if (negate) body = body.slice(1);
      out += `[${negate ? '^' : ''}${body.replace(/[\\\]^]/g, (m) => `\\${m}`)}]`;
      i = close;
    } else out += SPECIAL.test(c) || c === '[' || c === ']' ? `\\${c}` : c;
  }
  return new RegExp(`^${out}$`, 's');
}

export class GlobPattern {
  private readonly re: RegExp;
  constructor(readonly pattern: string) {
    this.re = compile(pattern);
  }
  matches(name: string): boolean {
    return this.re.test(name);
  }
}

/**
 * The names a requested target goes by: as given, and, when it lies in a project's directory of
 * the bin layout (`<prefix>/<project>/<file>`, prefix = the hash of that very project name), also
 * without the prefix, so `demo/*` covers `2a8/demo/demo-1.0.tgz` whichever form was asked for.
 */
export function namesOf(targetPath: string): string[] {
  const parts = targetPath.split('/');
  if (parts.length >= 3 && parts[1] !== '' && projectPrefix(parts[1]!) === parts[0]) return [targetPath, parts.slice(1).join('/')];
  return [targetPath];
}

/** Whether any of `patterns` matches the target under any of its names. */
export function globsMatch(patterns: readonly GlobPattern[], targetPath: string): boolean {
  const names = namesOf(targetPath);
  return patterns.some((p) => names.some((n) => p.matches(n)));
}
