// tuf-client: fetch and verify targets from a repository whose projects are delegated to
// identities, and explain the signatures of one metadata file.
import fs from 'node:fs';
import path from 'node:path';
import { binLayoutOfSigned, isBinName, projectPlacement } from '../core/bins.ts';
import { isPlainObject } from '../core/canonical.ts';
import { explainRole } from '../core/explain.ts';
import { ClientError, DelegationNotMetError } from './errors.ts';
import { isDownloadError } from './download.ts';
import { TrustedSet, TrustError } from '../core/trustedSet.ts';
import {
  checkOptions,
  EXIT,
  exitStatusHelp,
  parseCommandLine,
  printJson,
  runTool,
  unknownCommand,
  usage,
  type Failure,
} from '../platform/cli.ts';
import { IdentitySignatureVerifier } from '../core/identity.ts';
import { publicGoodTrustedRoot } from '../core/publicGoodTrustedRoot.ts';
import { IdentityClient, sigstoreRootFile } from './identityUpdater.ts';
import { fetchWithMap, readPolicyFile, releaseLines } from './fetchCommands.ts';
import { provenanceReport } from './provenanceReport.ts';

const HELP = `tuf-client: verified downloads from a TUF repository with identity delegations (TAP 18)

Commands:
  fetch TARGET --server URL --root ROOT.json --out FILE [--dir STATE] [--sigstore-trusted-root F]
        [--verbose] [--full-snapshot]
      Verify root -> timestamp -> snapshot -> targets -> the project's identity-signed role, then
      download TARGET and check its length and hashes. ROOT.json is the trusted root you got by
      a trusted path; it is only read the first time (STATE keeps what was verified since;
      default .tuf-client). The Sigstore trusted root comes from the repository's own target
      sigstore/trusted_root.json (verified through TUF) unless given; a repository that
      publishes none still serves plain targets, and identity-signed roles need one given.
      When the timestamp names a TAP 16 snapshot Merkle tree (merkle_root), each role's version
      comes from its proof (a few KB) instead of the whole snapshot.json; --full-snapshot reads
      snapshot.json anyway. --verbose says on stderr what was fetched and how it was verified.
  fetch TARGET --map MAP.json --dir DIR --out FILE [--policy POLICY.json] [--verbose] [--full-snapshot]
      Several repositories (TAP 4): the map file names each repository (its URLs: copies tried
      in order) and maps target patterns to repositories, with a threshold that must agree on
      the target's length and hashes and whether a failed mapping ends the search. Each
      repository is verified in full, its state in DIR/NAME/, its trusted root DIR/NAME/root.json
      (put there once). See docs/trust-policies.md.
  fetch ... --policy POLICY.json
      Your own pins on top of what the repositories allow: {"pins": [{"paths": [...],
      "identities": [{"identity", "issuer"}], "threshold": N, "provenance": {"identity",
      "issuer"}}]}. A file whose role is not signed by N pinned identities (or whose build
      provenance is not by the pinned builder) is refused, naming the pin and who did sign.
      Files whose delegation requires build provenance are only saved once their attestation
      (a target beside them) verified; stderr names the builder.
  verify FILE --delegator FILE --role NAME [--dir STATE] [--sigstore-trusted-root F]
      For one metadata file: each signature's keyid, identity, issuer and verdict against the
      delegator (root or targets metadata; in the bin layout a project's delegator is its bin,
      which fetch keeps beside targets.json in STATE/metadata: bin-2a8-2ab.json). Identity
      signatures are checked against, in order: --sigstore-trusted-root; the repository's
      Sigstore trusted root that fetch verified into STATE (default .tuf-client); the
      public-good Sigstore instance. The first line of stderr says which. Also the build
      provenance the delegation requires, each file's attestation checked when fetch kept it.

--json (both): one JSON document on stdout instead of the text (on failure: {"error": {...}}).

${exitStatusHelp('fetch: the metadata or the file does not verify (a signature threshold not met, a project awaiting re-signing, a rollback, expired metadata, wrong length or hashes, build provenance, a pin, repositories of a map that do not agree); verify: the threshold is not met, or an attestation its delegation requires is missing or invalid')}`;

function readJson(file: string): unknown {
  return JSON.parse(fs.readFileSync(file, 'utf8'));
}

/**
 * In the bin layout top-level targets delegates bins, and a project's bin delegates the project:
 * given top-level targets as the delegator of a project it does not delegate itself, names the bin
 * that does and the file of it to pass (fetch keeps it beside targets.json).
 */
function refuseTopLevelForBinnedRole(delegator: unknown, delegatorFile: string, role: string, file: string): void {
  if (!isPlainObject(delegator) || !isPlainObject(delegator.signed) || delegator.signed._type !== 'targets') return;
  const top = delegator.signed;
  if (!binLayoutOfSigned(top) || isBinName(role)) return;
  const roles = isPlainObject(top.delegations) && Array.isArray(top.delegations.roles) ? top.delegations.roles : [];
  if (roles.some((r) => isPlainObject(r) && r.name === role)) return;
  const bin = projectPlacement(top, role).role;
  const binFile = path.join(path.dirname(delegatorFile), `${bin}.json`);
  const held = fs.existsSync(binFile);
  throw new ClientError(
    'delegated_by_bin',
    `${delegatorFile} is top-level targets, which delegates projects through bins: ${role} is delegated by the bin ${bin}, ` +
      `not by top-level targets. Pass the bin as the delegator: tuf-client verify ${file} --delegator ${binFile} --role ${role}` +
      (held
        ? ` (${binFile} is the bin as this client last verified it)`
        : ` (${binFile} is not there yet: \`tuf-client fetch ${role}/FILE\` stores it beside targets.json)`),
  );
}

const OPTIONS = {
  server: { type: 'string' },
  root: { type: 'string' },
  out: { type: 'string' },
  dir: { type: 'string' },
  delegator: { type: 'string' },
  role: { type: 'string' },
  'sigstore-trusted-root': { type: 'string' },
  verbose: { type: 'boolean', short: 'v' },
  'full-snapshot': { type: 'boolean' },
  map: { type: 'string' },
  policy: { type: 'string' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

const COMMAND_OPTIONS: Record<string, readonly string[]> = {
  fetch: ['server', 'root', 'out', 'dir', 'sigstore-trusted-root', 'verbose', 'full-snapshot', 'map', 'policy'],
  verify: ['delegator', 'role', 'dir', 'sigstore-trusted-root'],
};

/**
 * The trusted root given with --root, checked before it goes into the client's state: a file that
 * is not a root signed by its own keys (the online keys' JSON, a targets file) would otherwise
 * stay there as the start of every later update.
 */
function checkGivenRoot(file: string): void {
  let bytes: Buffer;
  try {
    bytes = fs.readFileSync(file);
  } catch (err) {
    throw new ClientError('bad_trusted_root', `cannot read the trusted root ${file}: ${(err as Error).message}`);
  }
  let value: unknown;
  try {
    value = JSON.parse(bytes.toString('utf8'));
  } catch {
    throw new ClientError('bad_trusted_root', `${file} is not JSON: give the repository's trusted root metadata (1.root.json)`);
  }
  const signed = isPlainObject(value) && isPlainObject(value.signed) ? value.signed : null;
  if (!signed || signed._type !== 'root') {
    const looksLikeOnlineKeys = isPlainObject(value) && isPlainObject(value.snapshot) && isPlainObject(value.timestamp);
    throw new ClientError(
      'bad_trusted_root',
      `${file} is not TUF root metadata (${signed ? `its _type is ${JSON.stringify(signed._type)}` : 'no "signed" object with _type "root"'}` +
        `${looksLikeOnlineKeys ? "; it looks like the server's online public keys, from `tuf-server online-keys show`" : ''}): ` +
        "give the repository's trusted root, the 1.root.json of its ceremony (in development .dev/1.root.json)",
    );
  }
  try {
    new TrustedSet(bytes); // TUF 5.2: the trusted root must verify with its own keys
  } catch (err) {
    throw new ClientError('bad_trusted_root', `${file} does not verify as a trusted root: ${(err as Error).message}`);
  }
}

async function fetchCommand(
  values: Record<string, string | boolean | undefined>,
  arg: string | undefined,
  sigstoreRoot: unknown,
): Promise<number> {
  if (!arg) usage('fetch needs a TARGET path (PROJECT/FILE)');
  const pins = typeof values.policy === 'string' ? readPolicyFile(values.policy) : [];
  if (typeof values.map === 'string') {
    if (values.server || values.root || sigstoreRoot !== undefined)
      usage('--map names the repositories (each with its own trusted roots): give it without --server, --root and --sigstore-trusted-root');
    if (typeof values.dir !== 'string' || typeof values.out !== 'string') usage('fetch --map MAP.json needs --dir DIR and --out FILE');
    return fetchWithMap({
      target: arg,
      mapFile: values.map,
      dir: values.dir,
      out: values.out,
      pins,
      fullSnapshot: values['full-snapshot'] === true,
      verbose: values.verbose === true,
    });
  }
  const server = String(values.server ?? process.env.TUF_SERVER ?? '').replace(/\/$/, '');
  if (!server) usage('fetch needs --server URL (or TUF_SERVER)');
  const out = values.out;
  if (typeof out !== 'string') usage('fetch needs --out FILE');
  const state = typeof values.dir === 'string' ? values.dir : '.tuf-client';
  const metadataDir = path.join(state, 'metadata');
  if (!fs.existsSync(path.join(metadataDir, 'root.json'))) {
    if (typeof values.root !== 'string') usage(`no trusted root yet in ${metadataDir}: give --root ROOT.json`);
    checkGivenRoot(values.root);
    fs.mkdirSync(metadataDir, { recursive: true });
    fs.copyFileSync(values.root, path.join(metadataDir, 'root.json'));
  }
  const client = new IdentityClient({
    metadataBaseUrl: `${server}/metadata`,
    targetBaseUrl: `${server}/targets`,
    metadataDir,
    targetDir: path.join(state, 'targets'),
    ...(sigstoreRoot !== undefined ? { sigstoreTrustedRoot: sigstoreRoot } : {}),
    ...(values['full-snapshot'] ? { snapshotMerkleProofs: false } : {}),
    ...(values.verbose ? { log: (line: string) => process.stderr.write(`${line}\n`) } : {}),
    pins,
  });
  // PROJECT/FILE also finds the file in the bin layout, where it lives under a hashed directory.
  const target = (await client.resolveTargetPath(arg)) ?? arg;
  const vouched = await client.vouch(target);
  const file = out;
  await client.downloadVouched(vouched, file);
  for (const line of releaseLines(vouched)) process.stderr.write(`${line}\n`);
  const from = client.sigstoreRootSource();
  const source = {
    given: String(values['sigstore-trusted-root']),
    repository: "the repository's sigstore/trusted_root.json",
    none: 'none (the repository publishes no sigstore/trusted_root.json; plain targets only)',
  }[from];
  process.stderr.write(`Sigstore trusted root: ${source}\n`);
  if (values.json) {
    const info = await client.getTargetInfo(target);
    printJson({
      target: arg,
      targetPath: target,
      file,
      length: info?.length ?? null,
      hashes: info?.hashes ?? {},
      sigstoreTrustedRoot: { from, ...(from === 'given' ? { file: values['sigstore-trusted-root'] } : {}) },
    });
  } else {
    process.stdout.write(`verified and saved ${arg}${target === arg ? '' : ` (target path ${target})`} to ${file}\n`);
  }
  return EXIT.ok;
}

function verifyCommand(values: Record<string, string | boolean | undefined>, arg: string | undefined, sigstoreRoot: unknown): number {
  const delegatorFile = values.delegator;
  const role = values.role;
  if (!arg || typeof delegatorFile !== 'string' || typeof role !== 'string') usage('verify needs FILE --delegator FILE --role NAME');
  const kept = sigstoreRootFile(path.join(typeof values.dir === 'string' ? values.dir : '.tuf-client', 'targets'));
  const [trustedRoot, source, from] =
    sigstoreRoot !== undefined
      ? [sigstoreRoot, String(values['sigstore-trusted-root']), 'given']
      : fs.existsSync(kept)
        ? [readJson(kept), `the repository's sigstore/trusted_root.json, verified through TUF (${kept})`, 'repository']
        : [
            publicGoodTrustedRoot(),
            'the public-good Sigstore instance (no repository root kept in STATE; run fetch first or give --sigstore-trusted-root)',
            'public-good',
          ];
  process.stderr.write(`Sigstore trusted root: ${source}\n`);
  const verifier = new IdentitySignatureVerifier(trustedRoot);
  const delegator = readJson(delegatorFile);
  refuseTopLevelForBinnedRole(delegator, delegatorFile, role, arg);
  const report = explainRole(readJson(arg), delegator, role, verifier);
  const provenance = provenanceReport(
    readJson(arg),
    delegator,
    role,
    verifier,
    path.join(typeof values.dir === 'string' ? values.dir : '.tuf-client', 'targets'),
  );
  if (values.json) {
    printJson({ file: arg, delegator: delegatorFile, sigstoreTrustedRoot: { from, source }, ...report, provenance });
  } else {
    const lines = [
      `${report.role} v${report.version}: ${report.validKeyids.length}/${report.threshold} valid signatures, threshold ${report.met ? 'MET' : 'NOT MET'}`,
    ];
    for (const s of report.signatures) {
      const who = s.identity ? `${s.identity} (${s.issuer})` : (s.keytype ?? 'unknown key');
      lines.push(`  ${s.keyid.slice(0, 16)}  ${who}  ${s.valid ? 'valid' : `INVALID: ${s.reason}`}`);
    }
    lines.push(...provenance.lines);
    process.stdout.write(`${lines.join('\n')}\n`);
  }
  return report.met && provenance.ok ? EXIT.ok : EXIT.refused;
}

async function main(argv: string[]): Promise<number> {
  const { values, positionals } = parseCommandLine(argv, OPTIONS);
  const [command, arg, ...extra] = positionals;
  if (!command || values.help || command === 'help') {
    process.stdout.write(HELP);
    return EXIT.ok;
  }
  const allowed = COMMAND_OPTIONS[command];
  if (!allowed || !Object.hasOwn(COMMAND_OPTIONS, command)) unknownCommand(command, Object.keys(COMMAND_OPTIONS));
  checkOptions('tuf-client', command, values, allowed);
  if (extra.length > 0) usage(`${command} takes one ${command === 'fetch' ? 'TARGET' : 'FILE'}, got also ${extra.join(' ')}`);
  const sigstoreRoot = values['sigstore-trusted-root'] ? readJson(values['sigstore-trusted-root']) : undefined;
  return command === 'fetch' ? fetchCommand(values, arg, sigstoreRoot) : verifyCommand(values, arg, sigstoreRoot);
}

/** Verification refusals exit 3; the network, files and the rest 1; the wrong delegator file is a usage error. */
function classify(err: Error): Partial<Failure> {
  if (err instanceof TrustError || err instanceof DelegationNotMetError) return { exit: EXIT.refused };
  if (isDownloadError(err, 'too_long')) return { exit: EXIT.refused };
  if (err instanceof ClientError && err.code === 'delegated_by_bin') return { exit: EXIT.usage };
  // Build provenance, the user's pins and TAP 4 agreement are verification too.
  const refusals: readonly string[] = [
    'provenance_missing',
    'provenance_invalid',
    'pin_not_met',
    'mapping_disagreement',
    'mapping_threshold_not_met',
  ];
  if (err instanceof ClientError && refusals.includes(err.code)) return { exit: EXIT.refused };
  return {};
}

runTool('tuf-client', process.argv.slice(2), () => main(process.argv.slice(2)), classify);
