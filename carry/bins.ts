// Bins between the offline ceremony and the server: read from a directory, fetched for the
// ceremony, and answers summarized (a bootstrap publishes a thousand roles).
import fs from 'node:fs';
import path from 'node:path';
import { binCountOfSigned, binNameOfFile, binOf, projectPlacement } from '../core/bins.ts';
import { isPlainObject, type JsonObject } from '../core/canonical.ts';

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

/**
 * Fetches the current version of the bins the ceremony needs into `out/bins`: those the projects
 * of pending registrations fall in, or every bin. Returns how many; 0 in the flat layout.
 */
export async function pullBins(
  server: string,
  out: string,
  targetsVersion: number | undefined,
  registrations: { registrations: { project: string }[] },
  all: boolean,
): Promise<number> {
  if (!targetsVersion) return 0;
  const base = server.replace(/\/$/, '');
  const targets = JSON.parse(fs.readFileSync(path.join(out, `${targetsVersion}.targets.json`), 'utf8')) as { signed: JsonObject };
  const count = binCountOfSigned(targets.signed);
  if (count === null) return 0;
  const names = new Set<string>();
  if (all) {
    const roles = (targets.signed.delegations as { roles: { name: string }[] }).roles;
    for (const r of roles) if (binNameOfFile(`${r.name}.json`)) names.add(r.name);
  } else {
    for (const r of registrations.registrations) {
      const placement = projectPlacement(targets.signed, r.project);
      names.add(placement.role === 'targets' ? binOf(r.project, count).name : placement.role);
    }
  }
  const timestamp = (await (await fetch(`${base}/metadata/timestamp.json`)).json()) as {
    signed: { meta: Record<string, { version: number }> };
  };
  const snapshotVersion = timestamp.signed.meta['snapshot.json']!.version;
  const snapshot = (await (await fetch(`${base}/metadata/${snapshotVersion}.snapshot.json`)).json()) as {
    signed: { meta: Record<string, { version: number }> };
  };
  fs.mkdirSync(path.join(out, 'bins'), { recursive: true });
  for (const name of names) {
    const entry = Object.prototype.hasOwnProperty.call(snapshot.signed.meta, `${name}.json`)
      ? snapshot.signed.meta[`${name}.json`]
      : undefined;
    if (!entry) throw new Error(`snapshot v${snapshotVersion} lists no ${name}`);
    const res = await fetch(`${base}/metadata/${entry.version}.${name}.json`);
    if (!res.ok) throw new Error(`GET ${entry.version}.${name}.json: ${res.status}`);
    fs.writeFileSync(path.join(out, 'bins', `${entry.version}.${name}.json`), `${JSON.stringify(await res.json(), null, 2)}\n`);
  }
  return names.size;
}

/** The server's answer, with long lists of published roles counted instead of listed. */
export function summary(result: unknown): unknown {
  if (!isPlainObject(result) || !Array.isArray(result.published) || result.published.length <= 12) return result;
  const published = result.published as { role: string; version: number }[];
  const bins = published.filter((p) => binNameOfFile(`${p.role}.json`) !== null);
  return { ...result, published: [...published.filter((p) => !bins.includes(p)), { bins: bins.length }] };
}
