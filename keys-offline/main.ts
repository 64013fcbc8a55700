// tuf-offline: the key ceremony tool. Works on files only and opens no network connection; move
// files to and from the server with tuf-carry on a connected machine.
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import {
  bumpedRootSigned,
  DAY_SECONDS,
  DEFAULT_ROOT_EXPIRY_SECONDS,
  DEFAULT_TARGETS_EXPIRY_SECONDS,
  editedRootSigned,
  editedTargetsSigned,
  type RootEdit,
  initialTargetsSigned,
  rootSigned,
} from '../core/ceremony.ts';
import { isPlainObject } from '../core/canonical.ts';
import { encodePrivateKeyFile, publicKeyFileOf, readPublicKey } from '../core/keyFile.ts';
import { generatePrivateKey, type KeyAlgorithm, type TufKey } from '../core/keys.ts';
import { canonicalBytes } from '../core/canonical.ts';
import { describeTarget, expiresAfter, parseMetadata, type Envelope, type TargetEntry } from '../core/metadata.ts';
import { privateKeySigner } from '../core/signer.ts';
import { withDelegation, withoutDelegation, type Maintainer } from '../core/delegations.ts';
import { mergeSignatures, metadataStatus, withSignature } from '../core/status.ts';
import { loadPrivateKey, readEnvelopeFile, readJson, readPassphrase, writeJson } from './files.ts';

const HELP = `tuf-offline: offline key ceremony for a TUF repository (no network access)

Commands:
  keygen --name NAME [--type ed25519|ecdsa] [--out DIR]
      Create an admin key: DIR/NAME.key.json (private, encrypted with a passphrase) and
      DIR/NAME.pub.json (public, to share). Passphrase from TUF_KEY_PASSPHRASE or a prompt.
  init-root --out FILE --online-keys FILE
            --root-key PUB [--root-key PUB ...] [--root-threshold N]
            --targets-key PUB [--targets-key PUB ...] [--targets-threshold N]
            [--expires-days D] (365)
      Build root v1 (unsigned). --online-keys is the output of \`tuf-server online-keys show\`.
  bump-root --from ROOT --out FILE [--expires-days D]
      Root N+1 with the same keys and a new expiry, unsigned; sign with N's and N+1's keys.
  edit-root --from ROOT --out FILE [--add-root-key PUB ...] [--remove-root-key KEYID ...]
            [--root-threshold N] [--add-targets-key PUB ...] [--remove-targets-key KEYID ...]
            [--targets-threshold N] [--online-keys FILE] [--expires-days D]
      Root N+1 with keys rotated, thresholds changed, or new online keys (from
      \`tuf-server online-keys show\` after \`online-keys rotate\`). KEYID may be a prefix of
      8+ characters. Sign it with the threshold of N's root keys AND of N+1's.
      If the targets keys change, re-sign targets too (edit-targets, sign with the new keys) and
      push both: \`tuf-carry push N+1.root.json --with-targets T.json\`.
  init-targets --out FILE [--add PATH=LOCALFILE ...] [--expires-days D]
      Build targets v1 (unsigned).
  edit-targets --from TARGETS --out FILE [--add PATH=LOCALFILE ...] [--remove PATH ...]
               [--expires-days D]
      Targets N+1 from N with targets added, replaced or removed; unsigned.
  delegate --from TARGETS --out FILE --project NAME [--threshold N] [--expires-days D]
           (--identity ID --issuer URL) ... | --registrations FILE
      Targets N+1 delegating NAME/* to OIDC identities (TAP 18), replacing NAME's previous
      delegation. --registrations takes the pending requests that \`tuf-carry pull\` wrote, and
      delegates to every identity that asked for NAME (check them first!).
  undelegate --from TARGETS --out FILE --project NAME [--expires-days D]
      Targets N+1 without NAME's delegation.
  sign FILE --key KEYFILE [--out FILE]
      Add this key's signature (each admin signs on their own machine).
  merge --out FILE FILE1 FILE2 ...
      Combine the signatures of copies of the same document.
  status FILE [--root ROOT] [--previous PREVIOUS]
      Who signed, whether each threshold is met, what changed. Exits 2 unless every threshold is met.
`;

function fail(message: string): never {
  throw new Error(message);
}

function expirySeconds(days: string | undefined, fallback: number): number {
  if (days === undefined) return fallback;
  if (!/^\d+$/.test(days) || Number(days) < 1) fail('--expires-days must be a positive integer');
  return Number(days) * DAY_SECONDS;
}

function threshold(value: string | undefined, keys: number, role: string): number {
  const n = value === undefined ? 1 : Number(value);
  if (!Number.isInteger(n) || n < 1 || n > keys) fail(`--${role}-threshold must be between 1 and the number of --${role}-key options (${keys})`);
  return n;
}

function readKeys(files: string[] | undefined, option: string): TufKey[] {
  if (!files || files.length === 0) fail(`give at least one ${option}`);
  return files.map((f) => readPublicKey(readJson(f), f).public);
}

function parseAdds(adds: string[] | undefined): Record<string, TargetEntry> {
  const out: Record<string, TargetEntry> = {};
  for (const spec of adds ?? []) {
    const eq = spec.indexOf('=');
    if (eq <= 0) fail(`--add takes PATH=LOCALFILE, got ${spec}`);
    const targetPath = spec.slice(0, eq);
    const local = spec.slice(eq + 1);
    out[targetPath] = describeTarget(fs.readFileSync(local));
  }
  return out;
}

function maintainersFrom(values: { identity?: string[]; issuer?: string[]; registrations?: string }, project: string): Maintainer[] {
  if (values.registrations) {
    const file = readJson(values.registrations) as { registrations?: { project: string; identity: string; issuer: string; status: string }[] };
    const wanted = (file.registrations ?? []).filter((r) => r.project === project && r.status === 'pending');
    if (wanted.length === 0) fail(`${values.registrations} holds no pending registration for ${project}`);
    const unique = new Map(wanted.map((r) => [`${r.identity}\n${r.issuer}`, { identity: r.identity, issuer: r.issuer }]));
    return [...unique.values()];
  }
  const ids = values.identity ?? [];
  const issuers = values.issuer ?? [];
  if (ids.length === 0 || ids.length !== issuers.length) fail('give --identity and --issuer in pairs (or --registrations FILE)');
  return ids.map((identity, i) => ({ identity, issuer: issuers[i]! }));
}

function unsigned(signed: Envelope['signed']): Envelope {
  return { signed, signatures: [] };
}

function printStatus(file: string, opts: { root?: string; previous?: string }): boolean {
  const report = metadataStatus(readJson(file), {
    ...(opts.root ? { root: readJson(opts.root) } : {}),
    ...(opts.previous ? { previous: readJson(opts.previous) } : {}),
  });
  const out: string[] = [];
  out.push(`${report.type} v${report.version}, expires ${report.expires}`);
  out.push(`signatures: ${report.signatures.length === 0 ? 'none' : ''}`);
  for (const keyid of report.signatures) out.push(`  ${keyid}`);
  if (report.thresholds.length === 0) out.push('thresholds: give --root ROOT to check a targets file');
  for (const t of report.thresholds) {
    out.push(`${t.label}: ${t.result.validKeyids.length}/${t.result.threshold} ${t.result.met ? 'MET' : 'NOT MET'}`);
    for (const v of t.result.verdicts) out.push(`  ${v.keyid.slice(0, 16)}  ${v.valid ? 'valid' : v.reason.replace(/_/g, ' ')}`);
  }
  if (opts.previous) {
    out.push(`changes: ${report.changes.length === 0 ? 'none' : ''}`);
    for (const c of report.changes) out.push(`  ${c}`);
  }
  process.stdout.write(`${out.join('\n')}\n`);
  return report.allMet;
}

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (!command || command === '--help' || command === '-h' || command === 'help') {
    process.stdout.write(HELP);
    return 0;
  }
  const { values, positionals } = parseArgs({
    args: rest,
    allowPositionals: true,
    options: {
      name: { type: 'string' },
      type: { type: 'string' },
      out: { type: 'string' },
      from: { type: 'string' },
      key: { type: 'string' },
      root: { type: 'string' },
      previous: { type: 'string' },
      'online-keys': { type: 'string' },
      'root-key': { type: 'string', multiple: true },
      'root-threshold': { type: 'string' },
      'targets-key': { type: 'string', multiple: true },
      'targets-threshold': { type: 'string' },
      'add-root-key': { type: 'string', multiple: true },
      'remove-root-key': { type: 'string', multiple: true },
      'add-targets-key': { type: 'string', multiple: true },
      'remove-targets-key': { type: 'string', multiple: true },
      'expires-days': { type: 'string' },
      add: { type: 'string', multiple: true },
      remove: { type: 'string', multiple: true },
      project: { type: 'string' },
      identity: { type: 'string', multiple: true },
      issuer: { type: 'string', multiple: true },
      threshold: { type: 'string' },
      registrations: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    process.stdout.write(HELP);
    return 0;
  }
  const now = new Date();
  switch (command) {
    case 'keygen': {
      const name = values.name ?? fail('keygen needs --name');
      if (!/^[A-Za-z0-9._-]{1,64}$/.test(name)) fail('--name: 1 to 64 letters, digits, ".", "_" or "-"');
      const type = (values.type ?? 'ed25519') as KeyAlgorithm;
      if (type !== 'ed25519' && type !== 'ecdsa') fail('--type must be ed25519 or ecdsa');
      const dir = values.out ?? '.';
      const passphrase = await readPassphrase(`New passphrase for ${name}: `, true);
      const file = encodePrivateKeyFile(name, generatePrivateKey(type), passphrase);
      writeJson(path.join(dir, `${name}.key.json`), file, 0o600, false);
      writeJson(path.join(dir, `${name}.pub.json`), publicKeyFileOf(file), 0o644, false);
      process.stdout.write(`created ${name} (${type}), keyid ${file.keyid}\n  private: ${path.join(dir, `${name}.key.json`)}\n  public:  ${path.join(dir, `${name}.pub.json`)}\n`);
      return 0;
    }
    case 'init-root': {
      const out = values.out ?? fail('init-root needs --out');
      const online = readJson(values['online-keys'] ?? fail('init-root needs --online-keys (from `tuf-server online-keys show`)'));
      if (!isPlainObject(online)) fail('--online-keys: expected {"snapshot": key, "timestamp": key}');
      const rootKeys = readKeys(values['root-key'], '--root-key');
      const targetsKeys = readKeys(values['targets-key'], '--targets-key');
      const signed = rootSigned({
        version: 1,
        expires: expiresAfter(now, expirySeconds(values['expires-days'], DEFAULT_ROOT_EXPIRY_SECONDS)),
        rootKeys,
        rootThreshold: threshold(values['root-threshold'], rootKeys.length, 'root'),
        targetsKeys,
        targetsThreshold: threshold(values['targets-threshold'], targetsKeys.length, 'targets'),
        snapshotKey: readPublicKey(online.snapshot, 'online-keys snapshot').public,
        timestampKey: readPublicKey(online.timestamp, 'online-keys timestamp').public,
      });
      writeJson(out, unsigned(signed));
      process.stdout.write(`wrote unsigned root v1 to ${out}; now each root key holder runs: tuf-offline sign ${out} --key KEY\n`);
      return 0;
    }
    case 'bump-root': {
      const from = readEnvelopeFile(values.from ?? fail('bump-root needs --from'));
      const out = values.out ?? fail('bump-root needs --out');
      const signed = bumpedRootSigned(from.signed, now, expirySeconds(values['expires-days'], DEFAULT_ROOT_EXPIRY_SECONDS));
      writeJson(out, unsigned(signed));
      process.stdout.write(`wrote unsigned root v${String(signed.version)} to ${out}\n`);
      return 0;
    }
    case 'edit-root': {
      const from = readEnvelopeFile(values.from ?? fail('edit-root needs --from'));
      const out = values.out ?? fail('edit-root needs --out');
      const online = values['online-keys'] ? readJson(values['online-keys']) : undefined;
      if (online !== undefined && !isPlainObject(online)) fail('--online-keys: expected {"snapshot": key, "timestamp": key}');
      const thresholds: RootEdit['thresholds'] = {};
      if (values['root-threshold'] !== undefined) thresholds.root = Number(values['root-threshold']);
      if (values['targets-threshold'] !== undefined) thresholds.targets = Number(values['targets-threshold']);
      const signed = editedRootSigned(from.signed, {
        add: [
          ...(values['add-root-key'] ?? []).map((f) => ({ role: 'root' as const, key: readPublicKey(readJson(f), f).public })),
          ...(values['add-targets-key'] ?? []).map((f) => ({ role: 'targets' as const, key: readPublicKey(readJson(f), f).public })),
        ],
        remove: [
          ...(values['remove-root-key'] ?? []).map((keyid) => ({ role: 'root' as const, keyid })),
          ...(values['remove-targets-key'] ?? []).map((keyid) => ({ role: 'targets' as const, keyid })),
        ],
        thresholds,
        ...(online ? { online: { snapshot: readPublicKey(online.snapshot, 'online-keys snapshot').public, timestamp: readPublicKey(online.timestamp, 'online-keys timestamp').public } } : {}),
        expirySeconds: expirySeconds(values['expires-days'], DEFAULT_ROOT_EXPIRY_SECONDS),
      }, now);
      writeJson(out, unsigned(signed));
      process.stdout.write(`wrote unsigned root v${String(signed.version)} to ${out}; check it with: tuf-offline status ${out} --previous ${values.from}\n`);
      return 0;
    }
    case 'init-targets': {
      const out = values.out ?? fail('init-targets needs --out');
      const signed = initialTargetsSigned(now, parseAdds(values.add), expirySeconds(values['expires-days'], DEFAULT_TARGETS_EXPIRY_SECONDS));
      writeJson(out, unsigned(signed));
      process.stdout.write(`wrote unsigned targets v1 to ${out}\n`);
      return 0;
    }
    case 'edit-targets': {
      const from = readEnvelopeFile(values.from ?? fail('edit-targets needs --from'));
      const out = values.out ?? fail('edit-targets needs --out');
      const signed = editedTargetsSigned(from.signed, {
        add: parseAdds(values.add),
        remove: values.remove ?? [],
        expirySeconds: expirySeconds(values['expires-days'], DEFAULT_TARGETS_EXPIRY_SECONDS),
      }, now);
      writeJson(out, unsigned(signed));
      process.stdout.write(`wrote unsigned targets v${String(signed.version)} to ${out}\n`);
      return 0;
    }
    case 'delegate':
    case 'undelegate': {
      const from = readEnvelopeFile(values.from ?? fail(`${command} needs --from`));
      const out = values.out ?? fail(`${command} needs --out`);
      const project = values.project ?? fail(`${command} needs --project`);
      let signed;
      if (command === 'undelegate') {
        signed = withoutDelegation(from.signed, project);
      } else {
        const maintainers = maintainersFrom(values, project);
        const n = values.threshold === undefined ? 1 : Number(values.threshold);
        signed = withDelegation(from.signed, project, maintainers, n);
        for (const m of maintainers) process.stdout.write(`  ${project}: ${m.identity} at ${m.issuer}\n`);
      }
      // Version and expiry move on like any other targets edit.
      signed = editedTargetsSigned(signed, { expirySeconds: expirySeconds(values['expires-days'], DEFAULT_TARGETS_EXPIRY_SECONDS) }, now);
      writeJson(out, unsigned(signed));
      process.stdout.write(`wrote unsigned targets v${String(signed.version)} to ${out}\n`);
      return 0;
    }
    case 'sign': {
      const file = positionals[0] ?? fail('sign needs a FILE');
      const envelope = readEnvelopeFile(file);
      const type = envelope.signed._type;
      if (type !== 'root' && type !== 'targets') fail(`${file}: only root and targets are signed offline (got ${String(type)})`);
      parseMetadata(envelope, type, file); // refuse to sign anything clients could not read
      const key = await loadPrivateKey(values.key ?? fail('sign needs --key KEYFILE'));
      const signer = privateKeySigner(key.privateKey);
      const sig = await signer.sign(canonicalBytes(envelope.signed));
      const signedEnvelope = withSignature(envelope, { keyid: signer.keyid, sig });
      writeJson(values.out ?? file, signedEnvelope);
      process.stdout.write(`signed ${type} v${String(envelope.signed.version)} with ${key.name} (${signer.keyid.slice(0, 16)})\n`);
      if (type === 'root') {
        const report = metadataStatus(signedEnvelope);
        if (!report.thresholds[0]?.result.verdicts.some((v) => v.keyid === signer.keyid && v.valid)) {
          process.stdout.write(`note: ${key.name} is not a root key of this file itself (fine if it is a key of the previous root)\n`);
        }
      }
      return 0;
    }
    case 'merge': {
      const out = values.out ?? fail('merge needs --out');
      if (positionals.length < 2) fail('merge needs at least two files');
      writeJson(out, mergeSignatures(positionals.map(readEnvelopeFile)));
      process.stdout.write(`merged ${positionals.length} files into ${out}\n`);
      return 0;
    }
    case 'status': {
      const file = positionals[0] ?? fail('status needs a FILE');
      return printStatus(file, { ...(values.root ? { root: values.root } : {}), ...(values.previous ? { previous: values.previous } : {}) }) ? 0 : 2;
    }
    default:
      fail(`unknown command ${command}; see --help`);
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: Error) => {
    process.stderr.write(`tuf-offline: ${err.message}\n`);
    process.exit(1);
  },
);
