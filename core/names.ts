// Role names become file names (`N.<role>.json`) and target paths become URL paths and file names on
// clients, so both are held to a conservative grammar. Everything outside it is refused.
import { TufError } from './errors.ts';

export const TOP_LEVEL_ROLES = ['root', 'targets', 'snapshot', 'timestamp'] as const;
export type TopLevelRole = (typeof TOP_LEVEL_ROLES)[number];

const ROLE_NAME = /^[a-z0-9](?:[a-z0-9._-]*[a-z0-9])?$/;

export function roleNameProblem(name: string): string | null {
  if (name.length === 0 || name.length > 64) return 'must be 1 to 64 characters';
  if (!ROLE_NAME.test(name) || /[._-]{2}/.test(name)) {
    return 'may hold only lowercase letters and digits, with single ".", "_" or "-" between them';
  }
  // Delegations.fromJSON reorders roles whose names look like integers, which breaks signatures.
  if (/^[0-9]+$/.test(name) || /^[0-9]+\.[0-9]+$/.test(name)) return 'must not look like a number';
  if ((TOP_LEVEL_ROLES as readonly string[]).includes(name)) return 'is a top-level role name';
  return null;
}

export function assertDelegatedRoleName(name: string): void {
  const problem = roleNameProblem(name);
  if (problem) throw new TufError('bad_role_name', `role name ${JSON.stringify(name)} ${problem}`);
}

const SEGMENT = /^[A-Za-z0-9_+~@=-](?:[A-Za-z0-9._+~@=-]*[A-Za-z0-9_+~@=-])?$/;

export function targetPathProblem(path: string): string | null {
  if (path.length === 0 || path.length > 1024) return 'must be 1 to 1024 characters';
  const segments = path.split('/');
  for (const seg of segments) {
    if (seg === '') return 'must be relative, with no empty segment';
    if (seg === '.' || seg === '..') return 'must not contain "." or ".." segments';
    if (seg.length > 255) return 'has a segment longer than 255 characters';
    if (!SEGMENT.test(seg)) return 'may hold only ASCII letters, digits and . _ + ~ @ = - (not at a segment\'s ends for ".")';
  }
  return null;
}

export function assertTargetPath(path: string): void {
  const problem = targetPathProblem(path);
  if (problem) throw new TufError('bad_target_path', `target path ${JSON.stringify(path)} ${problem}`);
}
