// Bins between the offline ceremony and the server: read from a directory, fetched for the
// ceremony, and answers summarized (a bootstrap publishes a thousand roles).
import fs from 'node:fs';
import path from 'node:path';
import { binCountOfSigned, binNameOfFile, binOf, projectPlacement } from '../core/bins.ts';
import { isPlainObject, type JsonObject } from '../core/canonical.ts';
import { reach } from '../maintainer/api.ts';

/** The newest file of each bin in `dir`, keyed by bin name. */
export function readBins(dir: string): Record<string, unknown> {
  const out = new Map<string, JsonObject>();
  for (const entry of fs.readdirSync(dir).sort()) {
    const name = binNameOfFile(entry);
    if (!name) continue;
    const doc = JSON.parse(fs.readFileSync(path.join(dir, entry), 'utf8')) as unknown;
    if (!isPlainObject(doc) || !isPlainObject(doc.signed)) throw new Error(`${entry} is not TUF metadata`);
    const known = out.get(name);
    if (!known || Number((known.signed as JsonObject).version) < Number(doc.signed.version)) out.set(name, doc);
  }
  if (out.size === 0) throw new Error(`${dir} holds no bin files (bin-XXX.json)`);
  return Object.fromEntries(out);
}

export type CarryErrorCode =
  | 'unknown_bin' // pull --bin NAME: top-level targets delegates no bin of that name
  | 'no_bins'; // pull --bin in a repository without bins (the flat layout)

/** tuf-carry's own refusals, printed with their code. */
export class CarryError extends Error {
  override readonly name = 'CarryError';
  constructor(
    readonly code: CarryErrorCode,
    message: string,
  ) {
    super(message);
  }
}

/** Which bins to fetch: those of the pending registrations, every bin, or the named ones. */
export type BinSelection = { kind: 'registrations' } | { kind: 'all' } | { kind: 'named'; names: string[] };

/**
 * Fetches the current version of the bins the ceremony needs into `out/bins`: those the projects
 * of pending registrations fall in, every bin, or exactly the named ones (a revocation or a
 * maintainer change: the project's bin). Returns the files written; none in the flat layout. Names top-level
 * targets does not delegate are refused before anything is fetched.
 */
export async function pullBins(
  server: string,
  out: string,
  targetsVersion: number | undefined,
  registrations: { registrations: { project: string }[] },
  selection: BinSelection,
): Promise<string[]> {
  const named = selection.kind === 'named' ? selection.names : null;
  if (!targetsVersion) {
    if (named) throw new CarryError('no_bins', 'the repository is not bootstrapped: it has no bins to pull');
    return [];
  }
  const base = server.replace(/\/$/, '');
  const targets = JSON.parse(fs.readFileSync(path.join(out, `${targetsVersion}.targets.json`), 'utf8')) as { signed: JsonObject };
  const count = binCountOfSigned(targets.signed);
  if (count === null) {
    if (named)
      throw new CarryError(
        'no_bins',
        `--bin ${named.join(', ')}: top-level targets v${targetsVersion} delegates no bins (the flat layout): every project is in ${targetsVersion}.targets.json`,
      );
    return [];
  }
  const names = new Set<string>();
  const bins = (targets.signed.delegations as { roles: { name: string }[] }).roles
    .map((r) => r.name)
    .filter((name) => binNameOfFile(`${name}.json`) !== null);
  if (named) {
    const unknown = named.filter((name) => !bins.includes(name));
    if (unknown.length > 0)
      throw new CarryError(
        'unknown_bin',
        `--bin ${unknown.join(', ')}: top-level targets v${targetsVersion} delegates no bin of ${unknown.length === 1 ? 'that name' : 'those names'}; ` +
          `its ${bins.length} bins are named ${bins[0]} … ${bins.at(-1)} (a project's bin is named in the tuf-offline refusal ` +
          'that asks for it, and in `tuf-client` errors)',
      );
    for (const name of named) names.add(name);
  } else if (selection.kind === 'all') {
    for (const name of bins) names.add(name);
  } else {
    for (const r of registrations.registrations) {
      const placement = projectPlacement(targets.signed, r.project);
      names.add(placement.role === 'targets' ? binOf(r.project, count).name : placement.role);
    }
  }
  const timestamp = (await (await reach(`${base}/metadata/timestamp.json`)).json()) as {
    signed: { meta: Record<string, { version: number }> };
  };
  const snapshotVersion = timestamp.signed.meta['snapshot.json']!.version;
  const snapshot = (await (await reach(`${base}/metadata/${snapshotVersion}.snapshot.json`)).json()) as {
    signed: { meta: Record<string, { version: number }> };
  };
  fs.mkdirSync(path.join(out, 'bins'), { recursive: true });
  const written: string[] = [];
  for (const name of names) {
    const entry = Object.prototype.hasOwnProperty.call(snapshot.signed.meta, `${name}.json`)
      ? snapshot.signed.meta[`${name}.json`]
      : undefined;
    if (!entry) throw new Error(`snapshot v${snapshotVersion} lists no ${name}`);
    const res = await reach(`${base}/metadata/${entry.version}.${name}.json`);
    if (!res.ok) throw new Error(`GET ${entry.version}.${name}.json: ${res.status}`);
    const file = path.join(out, 'bins', `${entry.version}.${name}.json`);
    fs.writeFileSync(file, `${JSON.stringify(await res.json(), null, 2)}\n`);
    written.push(file);
  }
  return written;
}

/** The server's answer, with long lists of published roles counted instead of listed. */
export function summary(result: unknown): unknown {
  if (!isPlainObject(result) || !Array.isArray(result.published) || result.published.length <= 12) return result;
  const published = result.published as { role: string; version: number }[];
  const bins = published.filter((p) => binNameOfFile(`${p.role}.json`) !== null);
  return { ...result, published: [...published.filter((p) => !bins.includes(p)), { bins: bins.length }] };
}
