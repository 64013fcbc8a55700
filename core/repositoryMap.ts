// TAP 4 (multiple repository consensus on entrusted targets): the map file and the decision one
// mapping reaches from what its repositories said. The search itself (which repositories are
// asked, in what order, and when it stops) is client/multiRepository.ts; each repository there is
// verified in full on its own. Pure.
//
//   {"repositories": {"public": ["https://tuf.example.org", "https://mirror.example.net"],
//                     "acme": ["https://tuf.acme.example"]},
//    "mapping": [{"paths": ["acme/*"], "repositories": ["acme"], "threshold": 1, "terminating": true},
//                {"paths": ["*"], "repositories": ["public"], "threshold": 1, "terminating": true}]}
//
// A repository's name is the folder of its state (TAP 4: "the name of the local directory ...
// where the root metadata file for a repository is located"), so it must be a plain folder name.
// Every URL is a root holding `metadata/` and `targets/`; several URLs are copies of one
// repository, tried in order for each file. The file is read strictly: a field this client does
// not know refuses it, since a misspelt "threshold" or "terminating" would change whom it trusts.
import { isPlainObject } from './canonical.ts';
import { GlobPattern, globsMatch } from './globPattern.ts';

export class MapError extends Error {
  override readonly name = 'MapError';
  readonly code = 'bad_map';
}

export interface Mapping {
  /** Its place in the file, for messages ("mapping 2"). */
  index: number;
  paths: readonly GlobPattern[];
  repositories: readonly string[];
  threshold: number;
  terminating: boolean;
}

export interface RepositoryMap {
  /** Name -> the URLs of its copies, in the order they are tried. */
  repositories: ReadonlyMap<string, readonly string[]>;
  mapping: readonly Mapping[];
}

const REPOSITORY_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
const MAPPING_FIELDS = ['paths', 'repositories', 'threshold', 'terminating'];

function parseUrl(value: unknown, where: string): string {
  if (typeof value !== 'string') throw new MapError(`${where}: a URL must be a string`);
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new MapError(`${where}: ${JSON.stringify(value)} is not a URL`);
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new MapError(`${where}: ${value} is not an http(s) URL`);
  if (url.search || url.hash || url.username || url.password)
    throw new MapError(`${where}: ${value}: a repository URL has no query, fragment or credentials`);
  return value.replace(/\/+$/, '');
}

function parseMapping(value: unknown, index: number, known: ReadonlyMap<string, unknown>): Mapping {
  const where = `mapping ${index + 1}`;
  if (!isPlainObject(value)) throw new MapError(`${where}: must be an object`);
  const keys = Object.keys(value);
  const extra = keys.filter((k) => !MAPPING_FIELDS.includes(k));
  if (extra.length > 0) throw new MapError(`${where}: unknown field(s) ${extra.join(', ')} (TAP 4 gives ${MAPPING_FIELDS.join(', ')})`);
  const missing = MAPPING_FIELDS.filter((k) => !keys.includes(k));
  if (missing.length > 0) throw new MapError(`${where}: missing ${missing.join(', ')} (TAP 4 gives every mapping all four)`);
  const { paths, repositories, threshold, terminating } = value;
  if (!Array.isArray(paths) || paths.length === 0 || !paths.every((p) => typeof p === 'string' && p.length > 0))
    throw new MapError(`${where}: "paths" must be a non-empty list of patterns`);
  if (!Array.isArray(repositories) || repositories.length === 0 || !repositories.every((r) => typeof r === 'string'))
    throw new MapError(`${where}: "repositories" must be a non-empty list of repository names`);
  const names = repositories as string[];
  const unknown = names.filter((r) => !known.has(r));
  if (unknown.length > 0) throw new MapError(`${where}: repositories ${unknown.join(', ')} are not in "repositories"`);
  if (new Set(names).size !== names.length) throw new MapError(`${where}: a repository is listed twice`);
  if (typeof threshold !== 'number' || !Number.isInteger(threshold) || threshold < 1 || threshold > names.length)
    throw new MapError(`${where}: "threshold" must be an integer from 1 to ${names.length} (its repositories)`);
  if (typeof terminating !== 'boolean') throw new MapError(`${where}: "terminating" must be true or false`);
  return { index: index + 1, paths: (paths as string[]).map((p) => new GlobPattern(p)), repositories: names, threshold, terminating };
}

export function parseRepositoryMap(value: unknown): RepositoryMap {
  if (!isPlainObject(value)) throw new MapError('a map file is {"repositories": {...}, "mapping": [...]}');
  const extra = Object.keys(value).filter((k) => k !== 'repositories' && k !== 'mapping');
  if (extra.length > 0) throw new MapError(`unknown field(s) ${extra.join(', ')} (TAP 4 gives "repositories" and "mapping")`);
  if (!isPlainObject(value.repositories)) throw new MapError('"repositories" must be an object: name -> [URL, ...]');
  const repositories = new Map<string, string[]>();
  for (const [name, urls] of Object.entries(value.repositories)) {
    if (!REPOSITORY_NAME.test(name) || name === '.' || name === '..')
      throw new MapError(`repository name ${JSON.stringify(name)}: it names a folder: letters, digits, ".", "_", "-", at most 64`);
    if (!Array.isArray(urls) || urls.length === 0) throw new MapError(`repository ${name}: give a non-empty list of URLs`);
    repositories.set(
      name,
      urls.map((u, i) => parseUrl(u, `repository ${name} URL ${i + 1}`)),
    );
  }
  if (!Array.isArray(value.mapping) || value.mapping.length === 0) throw new MapError('"mapping" must be a non-empty list');
  return { repositories, mapping: value.mapping.map((m, i) => parseMapping(m, i, repositories)) };
}

/** TAP 4 step 1: the mappings whose paths match the target, in the listed order. */
export function mappingsFor(map: RepositoryMap, targetPath: string): Mapping[] {
  return map.mapping.filter((m) => globsMatch(m.paths, targetPath));
}

/** What one repository said about the target, once verified in full. */
export type RepositoryAnswer =
  | { repository: string; kind: 'found'; length: number; hashes: readonly (readonly [string, string])[] }
  | { repository: string; kind: 'absent' }
  | { repository: string; kind: 'refused'; reason: string };

/** Length and hashes, custom metadata left out (TAP 4 exempts it); equal keys mean agreement. */
export function agreementKey(length: number, hashes: readonly (readonly [string, string])[]): string {
  const sorted = hashes.map(([alg, hex]) => `${alg}:${hex.toLowerCase()}`).sort();
  return JSON.stringify([length, sorted]);
}

/** The repositories that agree on one target and reach the mapping's threshold, in the order asked; null if none do yet. */
export function agreeingRepositories(mapping: Mapping, answers: readonly RepositoryAnswer[]): string[] | null {
  const groups = new Map<string, string[]>();
  for (const a of answers) {
    if (a.kind !== 'found') continue;
    const key = agreementKey(a.length, a.hashes);
    const group = groups.get(key) ?? [];
    group.push(a.repository);
    groups.set(key, group);
    if (group.length >= mapping.threshold) return group;
  }
  return null;
}

/** Why a mapping reached no agreement: `disagreement` when its repositories vouch for different files. */
export function mappingFailure(answers: readonly RepositoryAnswer[]): 'disagreement' | 'too_few' {
  const keys = new Set(answers.flatMap((a) => (a.kind === 'found' ? [agreementKey(a.length, a.hashes)] : [])));
  return keys.size > 1 ? 'disagreement' : 'too_few';
}

export function describeAnswer(a: RepositoryAnswer): string {
  if (a.kind === 'absent') return `${a.repository}: lists no such target`;
  if (a.kind === 'refused') return `${a.repository}: ${a.reason}`;
  const hashes = a.hashes.map(([alg, hex]) => `${alg} ${hex.slice(0, 16)}...`).join(', ');
  return `${a.repository}: ${a.length} bytes, ${hashes}`;
}

export function describeMapping(m: Mapping): string {
  return `mapping ${m.index} (paths ${m.paths.map((p) => p.pattern).join(', ')}; ${m.threshold} of ${m.repositories.join(', ')}${m.terminating ? '; terminating' : ''})`;
}
