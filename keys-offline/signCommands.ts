// Signatures: `sign` (one key over one or many files), `merge` (copies signed by different
// admins) and `status` (who signed, which thresholds are met, what changed).
import { canonicalBytes, isPlainObject } from '../core/canonical.ts';
import { TOP_LEVEL_ROLES } from '../core/names.ts';
import { parseMetadata } from '../core/metadata.ts';
import { privateKeySigner } from '../core/signer.ts';
import { mergeSignatures, metadataStatus, withSignature } from '../core/status.ts';
import type { ThresholdResult } from '../core/verify.ts';
import { binNameOfFile } from './bins.ts';
import { loadPrivateKey, readEnvelopeFile, readJson, writeJson } from './files.ts';
import { fail, say, usage, type CommandContext } from './options.ts';
import { EXIT, printJson } from '../platform/cli.ts';

/**
 * A root's roles and the keys each names (keyids in full, key types), so an admin can find the
 * KEYID that `edit-root --remove-*-key` and the online key files need (drill finding).
 */
function rootRoles(doc: unknown): { role: string; threshold: number; keys: { keyid: string; keytype: string }[] }[] {
  const signed = isPlainObject(doc) && isPlainObject(doc.signed) ? doc.signed : {};
  const roles = isPlainObject(signed.roles) ? signed.roles : {};
  const keys = isPlainObject(signed.keys) ? signed.keys : {};
  return TOP_LEVEL_ROLES.map((role) => {
    const r = Object.hasOwn(roles, role) && isPlainObject(roles[role]) ? roles[role] : {};
    const keyids = Array.isArray(r.keyids) ? r.keyids.map(String) : [];
    return {
      role,
      threshold: Number(r.threshold),
      keys: keyids.map((keyid) => {
        const key = Object.hasOwn(keys, keyid) && isPlainObject(keys[keyid]) ? keys[keyid] : {};
        return { keyid, keytype: String(key.keytype ?? 'unknown') };
      }),
    };
  });
}

function printStatus(file: string, opts: { root?: string; previous?: string; delegator?: string; json?: boolean }): boolean {
  const bin = binNameOfFile(file);
  if (opts.delegator && !bin) usage(`--delegator: ${file} is not named after a bin (bin-XXX.json)`);
  const doc = readJson(file);
  const report = metadataStatus(doc, {
    ...(opts.root ? { root: readJson(opts.root) } : {}),
    ...(opts.delegator && bin ? { delegator: { name: bin, targets: readJson(opts.delegator) } } : {}),
    ...(opts.previous ? { previous: readJson(opts.previous) } : {}),
  });
  if (opts.json) {
    printJson({
      file,
      type: report.type,
      bin,
      version: report.version,
      expires: report.expires,
      signatures: report.signatures,
      thresholds: report.thresholds.map((t) => ({
        label: t.label,
        met: t.result.met,
        signed: t.result.validKeyids.length,
        keys: t.result.roleKeys,
        threshold: t.result.threshold,
        verdicts: t.result.verdicts.map((v) =>
          v.valid ? { keyid: v.keyid, valid: true } : { keyid: v.keyid, valid: false, reason: v.reason },
        ),
      })),
      ...(report.type === 'root' ? { roles: rootRoles(doc) } : {}),
      changes: opts.previous ? report.changes : null,
      allMet: report.allMet,
    });
    return report.allMet;
  }
  const out: string[] = [];
  out.push(`${bin ? `${bin} (a bin, targets metadata)` : report.type} v${report.version}, expires ${report.expires}`);
  out.push(`signatures: ${report.signatures.length === 0 ? 'none' : ''}`);
  for (const keyid of report.signatures) out.push(`  ${keyid}`);
  if (report.thresholds.length === 0) out.push('thresholds: give --root ROOT to check a targets file, --delegator TARGETS for a bin');
  for (const t of report.thresholds) {
    out.push(`${t.label}: ${thresholdLine(t.result)}`);
    for (const v of t.result.verdicts) out.push(`  ${v.keyid.slice(0, 16)}  ${v.valid ? 'valid' : v.reason.replace(/_/g, ' ')}`);
  }
  if (report.type === 'root') {
    out.push('roles (keyids in full: edit-root --remove-*-key takes 8 or more characters of one):');
    for (const r of rootRoles(doc))
      out.push(`  ${r.role}: threshold ${r.threshold} of ${r.keys.map((k) => `${k.keyid} (${k.keytype})`).join(', ')}`);
  }
  if (opts.previous) {
    out.push(`changes: ${report.changes.length === 0 ? 'none' : ''}`);
    for (const c of report.changes) out.push(`  ${c}`);
  }
  say(...out);
  return report.allMet;
}

/** Adds `key`'s signature to `file` (written to `out` or in place). Signs only what clients can read. */
async function signFile(file: string, key: Awaited<ReturnType<typeof loadPrivateKey>>, out?: string): Promise<void> {
  const envelope = readEnvelopeFile(file);
  const type = envelope.signed._type;
  if (type !== 'root' && type !== 'targets')
    fail(`${file}: only root and targets (bins are targets) are signed offline (got ${String(type)})`);
  parseMetadata(envelope, type, file); // refuse to sign anything clients could not read
  const signer = privateKeySigner(key.privateKey);
  const sig = await signer.sign(canonicalBytes(envelope.signed));
  const signedEnvelope = withSignature(envelope, { keyid: signer.keyid, sig });
  writeJson(out ?? file, signedEnvelope);
  const what = binNameOfFile(file) ?? type;
  say(`signed ${what} v${String(envelope.signed.version)} with ${key.name} (${signer.keyid.slice(0, 16)})`);
  if (type === 'root') {
    const report = metadataStatus(signedEnvelope);
    if (!report.thresholds[0]?.result.verdicts.some((v) => v.keyid === signer.keyid && v.valid)) {
      say(`note: ${key.name} is not a root key of this file itself (fine if it is a key of the previous root)`);
    }
  }
}

export async function sign({ values, positionals }: CommandContext): Promise<number> {
  if (positionals.length === 0) usage('sign needs a FILE');
  if (positionals.length > 1 && values.out) usage('--out goes with a single FILE');
  const key = await loadPrivateKey(values.key ?? usage('sign needs --key KEYFILE'));
  for (const file of positionals) await signFile(file, key, values.out);
  return 0;
}

export function merge({ values, positionals }: CommandContext): number {
  const out = values.out ?? usage('merge needs --out');
  if (positionals.length < 2) usage('merge needs at least two files');
  writeJson(out, mergeSignatures(positionals.map(readEnvelopeFile)));
  say(`merged ${positionals.length} files into ${out}`);
  return 0;
}

export function status({ values, positionals }: CommandContext): number {
  const file = positionals[0] ?? usage('status needs a FILE');
  const met = printStatus(file, {
    ...(values.root ? { root: values.root } : {}),
    ...(values.previous ? { previous: values.previous } : {}),
    ...(values.delegator ? { delegator: values.delegator } : {}),
    json: values.json === true,
  });
  return met ? EXIT.ok : EXIT.refused;
}

/** `2 of 3 keys signed, threshold 2: MET`: who signed, how many could, and how many must. */
export function thresholdLine(r: ThresholdResult): string {
  return `${r.validKeyids.length} of ${r.roleKeys} key${r.roleKeys === 1 ? '' : 's'} signed, threshold ${r.threshold}: ${r.met ? 'MET' : 'NOT MET'}`;
}
