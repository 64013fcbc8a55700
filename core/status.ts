// What the offline tool reports about a metadata file: who signed, which thresholds are met, and
// what changed since the previous version. Pure; the tool prints it.
import type { Root } from '@tufjs/models';
import { canonicalBytes, isPlainObject, type JsonObject } from './canonical.ts';
import { TufError } from './errors.ts';
import { parseMetadata, type Envelope, type ParsedMetadata, type SignatureJson } from './metadata.ts';
import { rootKeys, rootRole } from './updates.ts';
import { TOP_LEVEL_ROLES } from './names.ts';
import { delegationIn } from './delegate.ts';
import { delegationChanges } from './delegationDiff.ts';
import { checkThreshold, type ThresholdResult } from './verify.ts';

/** Adds or replaces one signature; every other signature is kept. */
export function withSignature(envelope: Envelope, signature: SignatureJson): Envelope {
  const others = envelope.signatures.filter((s) => s.keyid !== signature.keyid);
  return { signed: envelope.signed, signatures: [...others, signature] };
}

/** Combines signatures from copies of one document that admins signed on their own machines. */
export function mergeSignatures(envelopes: Envelope[]): Envelope {
  const [first, ...rest] = envelopes;
  if (!first) throw new TufError('malformed', 'nothing to merge');
  const bytes = canonicalBytes(first.signed);
  let merged: Envelope = { signed: first.signed, signatures: [...first.signatures] };
  for (const [i, env] of rest.entries()) {
    if (!canonicalBytes(env.signed).equals(bytes)) {
      throw new TufError('signed_mismatch', `file ${i + 2} signs different content than file 1; sign the same file`);
    }
    for (const sig of env.signatures) {
      if (!merged.signatures.some((s) => s.keyid === sig.keyid)) merged = withSignature(merged, sig);
    }
  }
  return merged;
}

export interface ThresholdReport {
  label: string;
  result: ThresholdResult;
}

export interface StatusReport {
  type: 'root' | 'targets';
  version: number;
  expires: string;
  signatures: string[];
  thresholds: ThresholdReport[];
  changes: string[];
  allMet: boolean;
}

function describeRole(root: Root, name: 'root' | 'targets' | 'snapshot' | 'timestamp'): string {
  const r = rootRole(root, name);
  return `${r.threshold} of [${r.keyids.map((k) => k.slice(0, 8)).join(', ')}]`;
}

function rootChanges(current: Root, previous: Root): string[] {
  const out: string[] = [];
  for (const name of TOP_LEVEL_ROLES) {
    const before = describeRole(previous, name);
    const after = describeRole(current, name);
    if (before !== after) out.push(`${name}: ${before} -> ${after}`);
  }
  if (current.expires !== previous.expires) out.push(`expires: ${previous.expires} -> ${current.expires}`);
  return out;
}

function targetsChanges(current: JsonObject, previous: JsonObject): string[] {
  const out: string[] = [];
  const now = (isPlainObject(current.targets) ? current.targets : {}) as JsonObject;
  const before = (isPlainObject(previous.targets) ? previous.targets : {}) as JsonObject;
  for (const path of Object.keys(now)) {
    if (!Object.hasOwn(before, path)) out.push(`+ target ${path}`);
    else if (!canonicalBytes(now[path]).equals(canonicalBytes(before[path]))) out.push(`~ target ${path}`);
  }
  for (const path of Object.keys(before)) if (!Object.hasOwn(now, path)) out.push(`- target ${path}`);
  out.push(...delegationChanges(current, previous));
  if (current.expires !== previous.expires) out.push(`expires: ${String(previous.expires)} -> ${String(current.expires)}`);
  return out;
}

/**
 * For root: its own threshold, and the previous root's if given. For targets: the threshold of
 * the targets role in the given root.
 */
export function metadataStatus(
  value: unknown,
  opts: { root?: unknown; previous?: unknown; delegator?: { name: string; targets: unknown } } = {},
): StatusReport {
  const type = isPlainObject(value) && isPlainObject(value.signed) && value.signed._type === 'targets' ? 'targets' : 'root';
  const doc: ParsedMetadata<'root' | 'targets'> = parseMetadata(value, type);
  const thresholds: ThresholdReport[] = [];
  let changes: string[] = [];
  const sigs = doc.envelope.signatures;
  if (doc.type === 'root') {
    const model = (doc as ParsedMetadata<'root'>).model;
    thresholds.push({
      label: `root v${doc.version} (its own root role)`,
      result: checkThreshold(sigs, doc.signedBytes, rootKeys(model), rootRole(model, 'root')),
    });
    if (opts.previous !== undefined) {
      const prev = parseMetadata(opts.previous, 'root', 'previous root');
      thresholds.push({
        label: `previous root v${prev.version}'s root role`,
        result: checkThreshold(sigs, doc.signedBytes, rootKeys(prev.model), rootRole(prev.model, 'root')),
      });
      changes = rootChanges(model, prev.model);
      if (doc.version !== prev.version + 1) changes.unshift(`! version ${doc.version} does not follow ${prev.version}`);
    }
  } else {
    if (opts.root !== undefined) {
      const root = parseMetadata(opts.root, 'root', 'root');
      thresholds.push({
        label: `targets role of root v${root.version}`,
        result: checkThreshold(sigs, doc.signedBytes, rootKeys(root.model), rootRole(root.model, 'targets')),
      });
    }
    if (opts.delegator !== undefined) {
      // A delegated role (a bin): the threshold of its delegation in top-level targets.
      const top = parseMetadata(opts.delegator.targets, 'targets', 'delegating targets');
      const delegation = delegationIn('targets', top.model, opts.delegator.name);
      if (!delegation) throw new TufError('not_delegated', `targets v${top.version} does not delegate ${opts.delegator.name}`);
      thresholds.push({
        label: `${opts.delegator.name}'s delegation in targets v${top.version}`,
        result: checkThreshold(sigs, doc.signedBytes, delegation.keys, delegation.role),
      });
    }
    if (opts.previous !== undefined) {
      const prev = parseMetadata(opts.previous, 'targets', 'previous targets');
      changes = targetsChanges(doc.envelope.signed, prev.envelope.signed);
      if (doc.version !== prev.version + 1) changes.unshift(`! version ${doc.version} does not follow ${prev.version}`);
    }
  }
  return {
    type: doc.type,
    version: doc.version,
    expires: String(doc.envelope.signed.expires),
    signatures: sigs.map((s) => s.keyid),
    thresholds,
    changes,
    allMet: thresholds.length > 0 && thresholds.every((t) => t.result.met),
  };
}
