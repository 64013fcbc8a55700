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
  DEFAULT_BIN_EXPIRY_SECONDS,
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
import { HELP } from './help.ts';
import { checkDelegationName, maintainersFromRegistrations } from './projectNames.ts';
import { binNameOfFile, bumpAllBins, delegateInBins, migrateToBins, parseBinCount, writeInitialBins } from './bins.ts';
import { binLayoutOfSigned, checkBinCount, type BinLayout } from '../core/bins.ts';

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
  if (!Number.isInteger(n) || n < 1 || n > keys)
    fail(`--${role}-threshold must be between 1 and the number of --${role}-key options (${keys})`);
  return n;
}

function readKeys(files: string[] | undefined, option: string): TufKey[] {
  if (!files || files.length === 0) fail(`give at least one ${option}`);
  return files.map((f) => readPublicKey(readJson(f), f).public);
}

function parseAdds(adds: string[] | undefined): Record<string, TargetEntry> {
  const out = new Map<string, TargetEntry>();
  for (const spec of adds ?? []) {
    const eq = spec.indexOf('=');
    if (eq <= 0) fail(`--add takes PATH=LOCALFILE, got ${spec}`);
    const targetPath = spec.slice(0, eq);
    const local = spec.slice(eq + 1);
    out.set(targetPath, describeTarget(fs.readFileSync(local)));
  }
  return Object.fromEntries(out); // own properties, whatever the path ("__proto__" too)
}

function maintainersFrom(
  values: { identity?: string[]; issuer?: string[]; registrations?: string; accept?: string[] },
  project: string,
): Maintainer[] {
  // A contested project (several identities asked) is refused until --accept names the chosen ones.
  if (values.registrations) return maintainersFromRegistrations(values.registrations, project, values.accept ?? []);
  if (values.accept) fail('--accept goes with --registrations FILE');
  const ids = values.identity ?? [];
  const issuers = values.issuer ?? [];
  if (ids.length === 0 || ids.length !== issuers.length) fail('give --identity and --issuer in pairs (or --registrations FILE)');
  return ids.map((identity, i) => ({ identity, issuer: issuers[i]! }));
}

function unsigned(signed: Envelope['signed']): Envelope {
  return { signed, signatures: [] };
}

function printStatus(file: string, opts: { root?: string; previous?: string; delegator?: string }): boolean {
  const bin = binNameOfFile(file);
  if (opts.delegator && !bin) fail(`--delegator: ${file} is not named after a bin (bin-XXX.json)`);
  const report = metadataStatus(readJson(file), {
    ...(opts.root ? { root: readJson(opts.root) } : {}),
    ...(opts.delegator && bin ? { delegator: { name: bin, targets: readJson(opts.delegator) } } : {}),
    ...(opts.previous ? { previous: readJson(opts.previous) } : {}),
  });
  const out: string[] = [];
  out.push(`${bin ? `${bin} (a bin, targets metadata)` : report.type} v${report.version}, expires ${report.expires}`);
  out.push(`signatures: ${report.signatures.length === 0 ? 'none' : ''}`);
  for (const keyid of report.signatures) out.push(`  ${keyid}`);
  if (report.thresholds.length === 0) out.push('thresholds: give --root ROOT to check a targets file, --delegator TARGETS for a bin');
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
  process.stdout.write(`signed ${what} v${String(envelope.signed.version)} with ${key.name} (${signer.keyid.slice(0, 16)})\n`);
  if (type === 'root') {
    const report = metadataStatus(signedEnvelope);
    if (!report.thresholds[0]?.result.verdicts.some((v) => v.keyid === signer.keyid && v.valid)) {
      process.stdout.write(`note: ${key.name} is not a root key of this file itself (fine if it is a key of the previous root)\n`);
    }
  }
}

/** The bin layout from --bins-key (repeatable), --bins and --bins-threshold. */
function binLayoutOption(values: { bins?: string; 'bins-key'?: string[]; 'bins-threshold'?: string }): BinLayout {
  const keys = readKeys(values['bins-key'], '--bins-key');
  const count = parseBinCount(values.bins);
  try {
    checkBinCount(count);
  } catch (err) {
    fail(`--bins: ${(err as Error).message}`);
  }
  return { count, keys, threshold: threshold(values['bins-threshold'], keys.length, 'bins') };
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
      accept: { type: 'string', multiple: true },
      reserved: { type: 'string', multiple: true },
      bins: { type: 'string' },
      'bins-key': { type: 'string', multiple: true },
      'bins-threshold': { type: 'string' },
      'bins-out': { type: 'string' },
      delegator: { type: 'string' },
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
      process.stdout.write(
        `created ${name} (${type}), keyid ${file.keyid}\n  private: ${path.join(dir, `${name}.key.json`)}\n  public:  ${path.join(dir, `${name}.pub.json`)}\n`,
      );
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
      const signed = editedRootSigned(
        from.signed,
        {
          add: [
            ...(values['add-root-key'] ?? []).map((f) => ({ role: 'root' as const, key: readPublicKey(readJson(f), f).public })),
            ...(values['add-targets-key'] ?? []).map((f) => ({ role: 'targets' as const, key: readPublicKey(readJson(f), f).public })),
          ],
          remove: [
            ...(values['remove-root-key'] ?? []).map((keyid) => ({ role: 'root' as const, keyid })),
            ...(values['remove-targets-key'] ?? []).map((keyid) => ({ role: 'targets' as const, keyid })),
          ],
          thresholds,
          ...(online
            ? {
                online: {
                  snapshot: readPublicKey(online.snapshot, 'online-keys snapshot').public,
                  timestamp: readPublicKey(online.timestamp, 'online-keys timestamp').public,
                },
              }
            : {}),
          expirySeconds: expirySeconds(values['expires-days'], DEFAULT_ROOT_EXPIRY_SECONDS),
        },
        now,
      );
      writeJson(out, unsigned(signed));
      process.stdout.write(
        `wrote unsigned root v${String(signed.version)} to ${out}; check it with: tuf-offline status ${out} --previous ${values.from}\n`,
      );
      return 0;
    }
    case 'init-targets': {
      const out = values.out ?? fail('init-targets needs --out');
      const layout = values['bins-key'] ? binLayoutOption(values) : undefined;
      const signed = initialTargetsSigned(
        now,
        parseAdds(values.add),
        expirySeconds(values['expires-days'], DEFAULT_TARGETS_EXPIRY_SECONDS),
        layout,
      );
      writeJson(out, unsigned(signed));
      process.stdout.write(`wrote unsigned targets v1 to ${out}\n`);
      if (layout) {
        const dir = values['bins-out'] ?? path.join(path.dirname(out), 'bins');
        const n = writeInitialBins(dir, layout.count, now);
        process.stdout.write(
          `wrote v1 of ${n} bins (unsigned) to ${dir}; sign them with the bins keys: tuf-offline sign ${dir}/*.json --key KEY\n`,
        );
      } else {
        process.stdout.write('flat layout: every project is delegated by top-level targets (for large repositories use --bins-key)\n');
      }
      return 0;
    }
    case 'edit-targets': {
      const from = readEnvelopeFile(values.from ?? fail('edit-targets needs --from'));
      const out = values.out ?? fail('edit-targets needs --out');
      const signed = editedTargetsSigned(
        from.signed,
        {
          add: parseAdds(values.add),
          remove: values.remove ?? [],
          expirySeconds: expirySeconds(values['expires-days'], DEFAULT_TARGETS_EXPIRY_SECONDS),
        },
        now,
      );
      writeJson(out, unsigned(signed));
      process.stdout.write(`wrote unsigned targets v${String(signed.version)} to ${out}\n`);
      return 0;
    }
    case 'delegate':
    case 'undelegate': {
      const from = readEnvelopeFile(values.from ?? fail(`${command} needs --from`));
      const out = values.out ?? fail(`${command} needs --out`);
      const project = values.project ?? fail(`${command} needs --project`);
      parseMetadata(from, 'targets', values.from); // a hostile or damaged file is refused as such
      const binDirOf = () => values.bins ?? path.join(path.dirname(values.from!), 'bins');
      if (command === 'delegate') {
        checkDelegationName(from.signed, project, {
          ...(binLayoutOfSigned(from.signed) ? { binDir: binDirOf() } : {}),
          ...(values.registrations ? { registrationsFile: values.registrations } : {}),
          reserved: values.reserved ?? [],
        });
      }
      if (binLayoutOfSigned(from.signed)) {
        // Bin layout: only the project's bin changes; top-level targets stays as it is.
        const maintainers = command === 'undelegate' ? null : maintainersFrom(values, project);
        const n = values.threshold === undefined ? 1 : Number(values.threshold);
        for (const m of maintainers ?? []) process.stdout.write(`  ${project}: ${m.identity} at ${m.issuer}\n`);
        const binDir = values.bins ?? path.join(path.dirname(values.from!), 'bins');
        const written = delegateInBins(
          from.signed,
          binDir,
          out,
          [{ project, maintainers, threshold: n }],
          now,
          expirySeconds(values['expires-days'], DEFAULT_BIN_EXPIRY_SECONDS),
        );
        for (const file of written)
          process.stdout.write(`wrote unsigned ${path.basename(file, '.json')} to ${file}; sign it with the bins keys\n`);
        return 0;
      }
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
      if (positionals.length === 0) fail('sign needs a FILE');
      if (positionals.length > 1 && values.out) fail('--out goes with a single FILE');
      const key = await loadPrivateKey(values.key ?? fail('sign needs --key KEYFILE'));
      for (const file of positionals) await signFile(file, key, values.out);
      return 0;
    }
    case 'bump-bins': {
      const written = bumpAllBins(
        values.bins ?? fail('bump-bins needs --bins DIR'),
        values.out ?? fail('bump-bins needs --out DIR'),
        now,
        expirySeconds(values['expires-days'], DEFAULT_BIN_EXPIRY_SECONDS),
      );
      process.stdout.write(`wrote ${written.length} unsigned bins to ${values.out}; sign them with the bins keys, then push them\n`);
      return 0;
    }
    case 'migrate-to-bins': {
      const from = readEnvelopeFile(values.from ?? fail('migrate-to-bins needs --from TARGETS'));
      const result = migrateToBins(
        from.signed,
        binLayoutOption(values),
        values.out ?? fail('migrate-to-bins needs --out DIR'),
        now,
        expirySeconds(values['expires-days'], DEFAULT_TARGETS_EXPIRY_SECONDS),
      );
      process.stdout.write(
        `wrote unsigned ${result.targets} (sign with the targets keys) and ${result.bins} bins holding ${result.moved} moved delegations in ${path.join(values.out!, 'bins')} (sign with the bins keys)\n`,
      );
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
      return printStatus(file, {
        ...(values.root ? { root: values.root } : {}),
        ...(values.previous ? { previous: values.previous } : {}),
        ...(values.delegator ? { delegator: values.delegator } : {}),
      })
        ? 0
        : 2;
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
