// The order in which a publication's files reach the bucket, so that a client reading the bucket
// at any moment finds everything the files it can reach name: a file is written only after every
// file it names. timestamp.json names a snapshot version; a snapshot names every targets role's
// version; top-level targets and the bins name delegated roles; every targets role names its
// target files; root names the keys that sign timestamp and snapshot. Hence, per batch:
//   1. target files, 2. delegated roles (bins and project roles), 3. top-level targets and root,
//   4. versioned snapshots, 5. timestamp.json, last and alone.
// Every name but timestamp.json is written once and never changes, so nothing a client already
// found is ever replaced; only timestamp.json moves, and never backwards.
// One window no order can close: when root replaces the timestamp key, a client that reads the new
// root before the new timestamp.json lands (a few milliseconds) refuses the old timestamp and
// tries again later, as it would with any mirror.

export type CopyPhase = 'target' | 'delegated' | 'top-level' | 'snapshot' | 'timestamp';

export const PHASES: readonly CopyPhase[] = ['target', 'delegated', 'top-level', 'snapshot', 'timestamp'];

/** The phase of a metadata file of `role`. */
export function phaseOfRole(role: string): Exclude<CopyPhase, 'target'> {
  if (role === 'timestamp') return 'timestamp';
  if (role === 'snapshot') return 'snapshot';
  if (role === 'root' || role === 'targets') return 'top-level';
  return 'delegated';
}

/** The object name of a metadata file, as the server serves it under /metadata/. */
export function metadataName(role: string, version: number): string {
  return role === 'timestamp' ? 'metadata/timestamp.json' : `metadata/${version}.${role}.json`;
}

/** The object name of a target file, as the server serves it (consistent snapshots): targets/DIR/SHA256.NAME. */
export function targetName(path: string, sha256: string): string {
  const slash = path.lastIndexOf('/');
  const dir = slash >= 0 ? `${path.slice(0, slash)}/` : '';
  return `targets/${dir}${sha256}.${path.slice(slash + 1)}`;
}

export interface RoleVersion {
  role: string;
  version: number;
}

/**
 * The metadata files of a batch of publications, grouped by phase in order: each phase's files
 * once, in ascending version per role; of the timestamps only the newest (older ones would be
 * replaced at once, and must never be written after it).
 */
export function planMetadata(published: readonly RoleVersion[]): Map<Exclude<CopyPhase, 'target'>, RoleVersion[]> {
  const seen = new Set<string>();
  const plan = new Map<Exclude<CopyPhase, 'target'>, RoleVersion[]>(
    PHASES.filter((p): p is Exclude<CopyPhase, 'target'> => p !== 'target').map((p) => [p, []]),
  );
  for (const p of published) {
    const key = `${p.version}.${p.role}`;
    if (seen.has(key)) continue;
    seen.add(key);
    plan.get(phaseOfRole(p.role))!.push({ role: p.role, version: p.version });
  }
  for (const list of plan.values()) list.sort((a, b) => (a.role === b.role ? a.version - b.version : a.role < b.role ? -1 : 1));
  const timestamps = plan.get('timestamp')!;
  if (timestamps.length > 1) plan.set('timestamp', [timestamps.reduce((a, b) => (b.version > a.version ? b : a))]);
  return plan;
}
