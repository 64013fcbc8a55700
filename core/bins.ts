// The layered delegation layout: top-level targets delegates to a fixed set of bin roles (signed
// offline with the bins keys), and each bin delegates the projects that fall in it to their
// identities. A project must land in exactly one bin whatever its file names, and TAP 15 succinct
// bins hash the whole target path, so the project's directory carries a short hash of its name
// instead: `<prefix>/<project>/<file>`, prefix = the first three hex digits of sha256(project).
// Every bin is delegated the prefixes it covers with plain path patterns (`3fa/*/*`), which stock
// tuf-js and python-tuf match the same way (one pattern segment per path segment). Pure.
import { createHash } from 'node:crypto';
import type { Targets } from '@tufjs/models';
import { isPlainObject, type JsonObject } from './canonical.ts';
import { TufError } from './errors.ts';
import { keyidOf, type TufKey } from './keys.ts';

/** Hex digits of sha256(project name) in a project's directory: 4,096 possible prefixes. */
export const PREFIX_DIGITS = 3;
const PREFIXES = 16 ** PREFIX_DIGITS;
export const DEFAULT_BIN_COUNT = 1024;
const BIN_NAME = /^bin-([0-9a-f]{3})(?:-([0-9a-f]{3}))?$/;

export function isBinName(name: string): boolean {
  return BIN_NAME.test(name);
}

const BIN_FILE = /(?:^|\/)(?:[1-9][0-9]*\.)?(bin-[0-9a-f]{3}(?:-[0-9a-f]{3})?)\.json$/;

/** The bin a metadata file holds, from its name (`bin-000-003.json`, `7.bin-000-003.json`); null for other files. */
export function binNameOfFile(file: string): string | null {
  return BIN_FILE.exec(file)?.[1] ?? null;
}

/** The directory prefix of a project in the bin layout. */
export function projectPrefix(project: string): string {
  return createHash('sha256').update(project, 'utf8').digest('hex').slice(0, PREFIX_DIGITS);
}

/** Where a project's files live in the bin layout: `<prefix>/<project>`. */
export function binnedProjectDirectory(project: string): string {
  return `${projectPrefix(project)}/${project}`;
}

function hex(n: number): string {
  return n.toString(16).padStart(PREFIX_DIGITS, '0');
}

export interface Bin {
  name: string;
  /** The prefixes it covers, first to last. */
  prefixes: string[];
  /** Its path patterns in top-level targets: one `<prefix>/*\/*` per prefix. */
  paths: string[];
}

export function checkBinCount(count: number): void {
  if (!Number.isInteger(count) || count < 1 || count > PREFIXES || (count & (count - 1)) !== 0) {
    throw new TufError('malformed', `the number of bins must be a power of two from 1 to ${PREFIXES}, got ${count}`);
  }
}

const layouts = new Map<number, readonly Bin[]>();

/** The bins of a layout with `count` bins, in order; each covers an equal run of prefixes. Built once per count. */
export function binsOf(count: number): readonly Bin[] {
  checkBinCount(count);
  const known = layouts.get(count);
  if (known) return known;
  const per = PREFIXES / count;
  const bins: Bin[] = [];
  for (let i = 0; i < count; i++) {
    const prefixes = Array.from({ length: per }, (_, j) => hex(i * per + j));
    const name = per === 1 ? `bin-${prefixes[0]}` : `bin-${prefixes[0]}-${prefixes.at(-1)}`;
    bins.push(
      Object.freeze({
        name,
        prefixes: Object.freeze(prefixes) as string[],
        paths: Object.freeze(prefixes.map((p) => `${p}/*/*`)) as string[],
      }),
    );
  }
  const frozen = Object.freeze(bins);
  layouts.set(count, frozen);
  return frozen;
}

/** The bin of `project` in a layout of `count` bins. */
export function binOf(project: string, count: number): Bin {
  checkBinCount(count);
  const index = Math.floor((parseInt(projectPrefix(project), 16) * count) / PREFIXES);
  return binsOf(count)[index]!;
}

export interface BinLayout {
  count: number;
  keys: TufKey[];
  threshold: number;
}

/**
 * The `delegations` of a top-level targets that delegates to `count` bins, signed by `keys`
 * (threshold `threshold`). Bins are terminating: a target under a bin's prefixes is searched for
 * nowhere else.
 */
export function binDelegations(layout: BinLayout): JsonObject {
  const keyids = [...new Set(layout.keys.map(keyidOf))];
  if (!Number.isInteger(layout.threshold) || layout.threshold < 1 || layout.threshold > keyids.length) {
    throw new TufError('malformed', `bins threshold ${layout.threshold} needs between 1 and ${keyids.length} distinct keys`);
  }
  const keys: JsonObject = {};
  for (const key of layout.keys) keys[keyidOf(key)] = structuredClone(key) as unknown as JsonObject;
  const roles = binsOf(layout.count).map((b) => ({
    name: b.name,
    keyids,
    threshold: layout.threshold,
    paths: [...b.paths],
    terminating: true,
  }));
  return { keys, roles: roles as unknown as JsonObject[] } as unknown as JsonObject;
}

/**
 * The bin layout a top-level targets document (as JSON) delegates to, or null when it delegates
 * no bins (the flat layout: projects directly in top-level targets).
 */
export function binLayoutOfSigned(targetsSigned: JsonObject): { count: number; names: Set<string> } | null {
  const delegations = targetsSigned.delegations;
  if (!isPlainObject(delegations) || !Array.isArray(delegations.roles)) return null;
  const names = new Set<string>();
  for (const r of delegations.roles) if (isPlainObject(r) && typeof r.name === 'string' && isBinName(r.name)) names.add(r.name);
  if (names.size === 0) return null;
  checkBinCount(names.size);
  return { count: names.size, names };
}

/** The same, from a parsed top-level targets. */
export function binCountOf(targets: Targets): number | null {
  const roles = targets.delegations?.roles;
  if (!roles) return null;
  const count = Object.keys(roles).filter(isBinName).length;
  return count === 0 ? null : count;
}

/** Why `name` cannot be a project: bin role names are the repository's own. */
export function projectNameProblem(name: string): string | null {
  return isBinName(name) ? 'is the name of a bin role of the repository' : null;
}

/**
 * Target paths a project role would be trusted for, in either layout: `<project>/…` (flat, and
 * projects migrated from it) and `<prefix>/<project>/…` (bins). Used to find its delegator.
 */
export function projectProbePaths(project: string): string[] {
  return [`${project}/probe`, `${binnedProjectDirectory(project)}/probe`];
}

/** Where a project's delegation goes, and the paths it is delegated. */
export interface Placement {
  /** "targets" in the flat layout, else the project's bin. */
  role: string;
  paths: string[];
}

type RoleJson = { name?: unknown; paths?: unknown; keyids?: unknown; threshold?: unknown; terminating?: unknown };

function rolesOf(signed: JsonObject): RoleJson[] {
  const d = signed.delegations;
  return isPlainObject(d) && Array.isArray(d.roles) ? (d.roles as RoleJson[]).filter(isPlainObject) : [];
}

/**
 * The placement of `project` under a top-level targets document: its bin and hashed directory in
 * the layered layout, unless the project was migrated from the flat layout (its bin is then also
 * delegated `<project>/*` and the project keeps that directory); top-level targets otherwise.
 */
export function projectPlacement(topSigned: JsonObject, project: string): Placement {
  const layout = binLayoutOfSigned(topSigned);
  if (!layout) return { role: 'targets', paths: [`${project}/*`] };
  const legacy = `${project}/*`;
  const migrated = rolesOf(topSigned).find(
    (r) => typeof r.name === 'string' && isBinName(r.name) && Array.isArray(r.paths) && r.paths.includes(legacy),
  );
  if (migrated) return { role: String(migrated.name), paths: [legacy] };
  return { role: binOf(project, layout.count).name, paths: [`${binnedProjectDirectory(project)}/*`] };
}

/**
 * Moves a flat repository to bins: every delegation of top-level targets goes, unchanged (keys,
 * threshold, paths), into the bin its name falls in, and that bin is also delegated the project's
 * own paths, so published target paths keep verifying and maintainers keep publishing as before.
 * Returns the `delegations` of the next top-level targets and the `delegations` of each bin's v1.
 */
export function migratedDelegations(topSigned: JsonObject, layout: BinLayout): { top: JsonObject; bins: Map<string, JsonObject> } {
  if (binLayoutOfSigned(topSigned)) throw new TufError('malformed', 'targets already delegates to bins');
  const d = topSigned.delegations;
  const flatKeys = (isPlainObject(d) && isPlainObject(d.keys) ? d.keys : {}) as Record<string, JsonObject>;
  const top = binDelegations(layout) as unknown as { keys: JsonObject; roles: (RoleJson & { paths: string[] })[] };
  const topRoles = new Map(top.roles.map((r) => [String(r.name), r]));
  const bins = new Map<string, { keys: Record<string, JsonObject>; roles: RoleJson[] }>();
  for (const role of rolesOf(topSigned)) {
    const name = String(role.name);
    if (!Array.isArray(role.paths)) throw new TufError('malformed', `${name}: only delegations by paths can move into bins`);
    const bin = binOf(name, layout.count);
    const entry = bins.get(bin.name) ?? { keys: Object.create(null) as Record<string, JsonObject>, roles: [] };
    for (const keyid of Array.isArray(role.keyids) ? role.keyids.map(String) : []) {
      if (Object.prototype.hasOwnProperty.call(flatKeys, keyid)) entry.keys[keyid] = structuredClone(flatKeys[keyid]!);
    }
    entry.roles.push(structuredClone(role));
    bins.set(bin.name, entry);
    topRoles.get(bin.name)!.paths.push(...(role.paths as string[]));
  }
  const out = new Map<string, JsonObject>();
  for (const [name, entry] of bins) out.set(name, { keys: { ...entry.keys }, roles: entry.roles } as unknown as JsonObject);
  return { top: top as unknown as JsonObject, bins: out };
}

/** The number of bins a top-level targets document (as JSON) delegates to; null in the flat layout. */
export function binCountOfSigned(targetsSigned: JsonObject): number | null {
  return binLayoutOfSigned(targetsSigned)?.count ?? null;
}

/**
 * Refuses a top-level targets whose bin layout differs from the current one's: bins dropped (back
 * to flat, or a bin file pushed as top-level targets by mistake), added or removed. A project's bin
 * is fixed by its name and the count, so a different count moves every project and every client's
 * path; there is no supported way to do that. Moving a flat repository to bins is allowed.
 */
export function checkBinLayoutKept(currentSigned: JsonObject | null, nextSigned: JsonObject): void {
  const before = currentSigned ? binLayoutOfSigned(currentSigned) : null;
  if (!before) return;
  const after = binLayoutOfSigned(nextSigned);
  if (!after) {
    throw new TufError(
      'bin_layout_changed',
      `this top-level targets delegates no bins, but the current one delegates ${before.count}: it would drop every project's delegation (a bin file sent as top-level targets?)`,
    );
  }
  const missing = [...before.names].filter((n) => !after.names.has(n));
  if (after.count !== before.count || missing.length > 0) {
    throw new TufError(
      'bin_layout_changed',
      `this top-level targets delegates ${after.count} bins where the current one delegates ${before.count}${missing.length > 0 ? ` (missing ${missing.slice(0, 3).join(', ')}${missing.length > 3 ? ', …' : ''})` : ''}: the number and names of bins cannot change`,
    );
  }
}
