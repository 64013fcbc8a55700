// The offline side of the layered layout: bins created with top-level targets, a delegation
// change written into the one bin it concerns, every bin bumped before expiry, and a flat
// repository moved to bins. Bins are read from and written to a directory, one file per bin
// (`bin-000-003.json`; files pulled as `N.bin-000-003.json` are read too).
import fs from 'node:fs';
import path from 'node:path';
import {
  binNameOfFile,
  binsOf,
  DEFAULT_BIN_COUNT,
  migratedDelegations,
  projectNameProblem,
  projectPlacement,
  type BinLayout,
} from '../core/bins.ts';
import { delegationChanges } from '../core/delegationDiff.ts';
import { DEFAULT_BIN_EXPIRY_SECONDS, editedTargetsSigned, initialBinsSigned } from '../core/ceremony.ts';
import { isPlainObject, type JsonObject } from '../core/canonical.ts';
import { withDelegation, withoutDelegation, type Maintainer } from '../core/delegations.ts';
import type { BuilderIdentity } from '../core/provenance.ts';
import type { Envelope } from '../core/metadata.ts';
import type { Expiry } from './expiry.ts';
import { OfflineError } from './errors.ts';
import { readEnvelopeFile, writeJson } from './files.ts';

export { binNameOfFile };

/** The newest file of each bin in `dir` (by version inside), keyed by bin name. */
export function readBinDir(dir: string): Map<string, { file: string; envelope: Envelope }> {
  if (!fs.existsSync(dir))
    throw new Error(
      `no bins directory ${dir}: \`tuf-carry --server URL pull --out OUT\` writes the bins of the pending registrations to OUT/bins ` +
        '(`--bin NAME`, repeatable: those bins; `--all-bins`: every bin)',
    );
  const out = new Map<string, { file: string; envelope: Envelope }>();
  for (const entry of fs.readdirSync(dir).sort()) {
    const name = binNameOfFile(entry);
    if (!name) continue;
    const file = path.join(dir, entry);
    const envelope = readEnvelopeFile(file);
    const known = out.get(name);
    if (!known || Number(known.envelope.signed.version) < Number(envelope.signed.version)) out.set(name, { file, envelope });
  }
  return out;
}

export function parseBinCount(value: string | undefined): number {
  return value === undefined ? DEFAULT_BIN_COUNT : Number(value);
}

/** Writes v1 of every bin (unsigned) into `dir`; returns how many. */
export function writeInitialBins(dir: string, count: number, now: Date, expirySeconds = DEFAULT_BIN_EXPIRY_SECONDS): number {
  const bins = initialBinsSigned(now, count, expirySeconds);
  for (const [name, signed] of bins) writeJson(path.join(dir, `${name}.json`), { signed, signatures: [] });
  return bins.size;
}

export interface DelegationChange {
  project: string;
  /** Null: remove the project's delegation. */
  maintainers: Maintainer[] | null;
  threshold: number;
  /** The builder whose attestations files need; null drops it; absent keeps the current one. */
  provenance?: BuilderIdentity | null;
}

/** A bin version written (unsigned), for the output. */
export interface WrittenBin {
  name: string;
  file: string;
  version: number;
  expiry: Expiry;
  /** The delegation changes against the pulled version, as `tuf-offline status --previous` lists them. */
  changes: string[];
  /** The pulled version it was made from (what `status --previous` compares with). */
  previousFile: string;
}

/** The expiry of a bin's next version, from its current version. */
export type ExpiryOf = (current: JsonObject) => Expiry;

/** Bin N+1 from N with `delegations` (N's when not given) and the expiry `expiryOf` chooses. */
function nextBin(current: JsonObject, delegations: unknown, now: Date, expiryOf: ExpiryOf): { signed: JsonObject; expiry: Expiry } {
  const expiry = expiryOf(current);
  const bumped = editedTargetsSigned(current, {}, now);
  return { signed: { ...bumped, expires: expiry.expires, delegations: (delegations ?? bumped.delegations) as JsonObject }, expiry };
}

/**
 * Applies delegation changes to the bins they fall in, each bin once however many of its projects
 * change, and writes bin N+1 (unsigned) into `outDir`. Returns the bins written.
 */
export function delegateInBins(
  topSigned: JsonObject,
  binDir: string,
  outDir: string,
  changes: DelegationChange[],
  now: Date,
  expiryOf: ExpiryOf,
): WrittenBin[] {
  const current = fs.existsSync(binDir) ? readBinDir(binDir) : new Map<string, { file: string; envelope: Envelope }>();
  for (const change of changes) {
    const problem = projectNameProblem(change.project);
    if (problem) throw new Error(`project ${change.project} ${problem}`);
  }
  const placements = changes.map((change) => ({ change, placement: projectPlacement(topSigned, change.project) }));
  const missing = [...new Set(placements.map((p) => p.placement.role).filter((bin) => !current.has(bin)))];
  if (missing.length > 0) throw new OfflineError('bin_not_pulled', binsNotPulled(placements, missing, binDir));
  const next = new Map<string, JsonObject>();
  for (const { change, placement } of placements) {
    const base = next.get(placement.role) ?? current.get(placement.role)!.envelope.signed;
    next.set(
      placement.role,
      change.maintainers === null
        ? withoutDelegation(base, change.project)
        : withDelegation(base, change.project, change.maintainers, change.threshold, placement.paths, change.provenance),
    );
  }
  const bins = [...next].map(([name, signed]) => ({
    name,
    ...nextBin(current.get(name)!.envelope.signed, signed.delegations, now, expiryOf),
  }));
  return bins.map(({ name, signed, expiry }) => {
    const file = path.join(outDir, `${name}.json`);
    writeJson(file, { signed, signatures: [] });
    const previous = current.get(name)!;
    return {
      name,
      file,
      version: Number(signed.version),
      expiry,
      changes: delegationChanges(signed, previous.envelope.signed),
      previousFile: previous.file,
    };
  });
}

/** Which projects fall in bins `binDir` lacks, and the command that fetches exactly those bins. */
function binsNotPulled(placements: { change: DelegationChange; placement: { role: string } }[], missing: string[], binDir: string): string {
  const which = missing
    .map(
      (bin) =>
        `${placements
          .filter((p) => p.placement.role === bin)
          .map((p) => p.change.project)
          .join(', ')} in ${bin}`,
    )
    .join('; ');
  // tuf-carry pull writes the bins to OUT/bins: pull into the folder that holds binDir.
  const out = path.basename(path.resolve(binDir)) === 'bins' ? path.dirname(binDir) : null;
  const pull = `tuf-carry --server URL pull --out ${out ?? 'OUT'} ${missing.map((b) => `--bin ${b}`).join(' ')}`;
  return (
    `${missing.length === 1 ? 'a bin' : 'bins'} not in ${binDir}: ${which}. Pull ${missing.length === 1 ? 'it' : 'them'} first, on the connected machine: ` +
    `\`${pull}\`${out === null ? ` (it writes OUT/bins/; then give --bins OUT/bins)` : ''}`
  );
}

/** The delegation of `project` in the bins of `binDir` (or in `topSigned`, flat): its identities, or null. */
export function delegatedIdentities(
  topSigned: JsonObject,
  bins: ReturnType<typeof readBinDir> | null,
  project: string,
): Maintainer[] | null {
  const placement = projectPlacement(topSigned, project);
  const delegator = placement.role === 'targets' ? topSigned : bins?.get(placement.role)?.envelope.signed;
  const d = delegator?.delegations;
  if (!isPlainObject(d) || !Array.isArray(d.roles)) return null;
  const role = d.roles.find((r) => isPlainObject(r) && r.name === project) as { keyids?: unknown } | undefined;
  if (!role) return null;
  const keys = isPlainObject(d.keys) ? d.keys : {};
  return (Array.isArray(role.keyids) ? role.keyids : []).flatMap((keyid) => {
    const key = typeof keyid === 'string' && Object.hasOwn(keys, keyid) ? keys[keyid] : undefined;
    const keyval = isPlainObject(key) && isPlainObject(key.keyval) ? key.keyval : null;
    return keyval ? [{ identity: String(keyval.identity), issuer: String(keyval.issuer) }] : [];
  });
}

/** Bin N+1 of every bin in `binDir`, same content, new expiry (re-signing before expiry). */
export function bumpAllBins(binDir: string, outDir: string, now: Date, expiryOf: ExpiryOf): WrittenBin[] {
  const written: WrittenBin[] = [];
  for (const [name, { envelope, file: previousFile }] of readBinDir(binDir)) {
    const file = path.join(outDir, `${name}.json`);
    const { signed, expiry } = nextBin(envelope.signed, undefined, now, expiryOf);
    writeJson(file, { signed, signatures: [] });
    written.push({ name, file, version: Number(signed.version), expiry, changes: [], previousFile });
  }
  return written;
}

/**
 * Targets N+1 of a flat repository delegating to bins instead, and v1 of every bin holding the
 * moved delegations, written (unsigned) as `outDir/N+1.targets.json` and `outDir/bins/`.
 */
export function migrateToBins(
  topSigned: JsonObject,
  layout: BinLayout,
  outDir: string,
  now: Date,
  expiry: { targets: Expiry; bins: Expiry },
): { targets: string; version: number; bins: number; moved: number } {
  const { top, bins } = migratedDelegations(topSigned, layout);
  const edited = editedTargetsSigned(topSigned, {}, now);
  const targetsFile = path.join(outDir, `${String(edited.version)}.targets.json`);
  writeJson(targetsFile, { signed: { ...edited, expires: expiry.targets.expires, delegations: top }, signatures: [] });
  const initial = initialBinsSigned(now, layout.count);
  let moved = 0;
  for (const b of binsOf(layout.count)) {
    const delegations = bins.get(b.name);
    const signed = { ...initial.get(b.name)!, expires: expiry.bins.expires, ...(delegations ? { delegations } : {}) };
    if (delegations) moved += (delegations.roles as unknown[]).length;
    writeJson(path.join(outDir, 'bins', `${b.name}.json`), { signed, signatures: [] });
  }
  return { targets: targetsFile, version: Number(edited.version), bins: layout.count, moved };
}
