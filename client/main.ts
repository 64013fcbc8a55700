// tuf-client: fetch and verify targets from a repository whose projects are delegated to
// identities, and explain the signatures of one metadata file.
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { binLayoutOfSigned, isBinName, projectPlacement } from '../core/bins.ts';
import { isPlainObject } from '../core/canonical.ts';
import { explainRole } from '../core/explain.ts';
import { ClientError } from './errors.ts';
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

Exit status: 0 done (verify: threshold met); 1 verify: threshold not met; 2 anything else
(usage, unreadable files, a delegator that does not delegate the role, a refused download).
verify also exits 1 when an attestation its delegation requires is missing or invalid.
`;

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

async function main(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
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
      help: { type: 'boolean', short: 'h' },
    },
  });
  const [command, arg] = positionals;
  if (!command || values.help || command === 'help') {
    process.stdout.write(HELP);
    return 0;
  }
  const sigstoreRoot = values['sigstore-trusted-root'] ? readJson(values['sigstore-trusted-root']) : undefined;
  if (command === 'fetch') {
    if (!arg) throw new Error('fetch needs a TARGET path');
    const pins = values.policy ? readPolicyFile(values.policy) : [];
    if (values.map) {
      if (values.server || values.root || sigstoreRoot !== undefined)
        throw new Error(
          '--map names the repositories (each with its own trusted roots): give it without --server, --root and --sigstore-trusted-root',
        );
      if (!values.dir || !values.out) throw new Error('usage: tuf-client fetch TARGET --map MAP.json --dir DIR --out FILE');
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
    const server = (values.server ?? process.env.TUF_SERVER ?? '').replace(/\/$/, '');
    if (!server) throw new Error('give --server URL');
    if (!values.out) throw new Error('give --out FILE');
    const state = values.dir ?? '.tuf-client';
    const metadataDir = path.join(state, 'metadata');
    if (!fs.existsSync(path.join(metadataDir, 'root.json'))) {
      if (!values.root) throw new Error(`no trusted root yet in ${metadataDir}: give --root ROOT.json`);
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
    const file = values.out;
    await client.downloadVouched(vouched, file);
    for (const line of releaseLines(vouched)) process.stderr.write(`${line}\n`);
    const source = {
      given: values['sigstore-trusted-root'],
      repository: "the repository's sigstore/trusted_root.json",
      none: 'none (the repository publishes no sigstore/trusted_root.json; plain targets only)',
    }[client.sigstoreRootSource()];
    process.stderr.write(`Sigstore trusted root: ${source}\n`);
    process.stdout.write(`verified and saved ${arg}${target === arg ? '' : ` (target path ${target})`} to ${file}\n`);
    return 0;
  }
  if (command === 'verify') {
    if (!arg || !values.delegator || !values.role) throw new Error('usage: tuf-client verify FILE --delegator FILE --role NAME');
    const kept = sigstoreRootFile(path.join(values.dir ?? '.tuf-client', 'targets'));
    const [trustedRoot, source] =
      sigstoreRoot !== undefined
        ? [sigstoreRoot, values['sigstore-trusted-root']!]
        : fs.existsSync(kept)
          ? [readJson(kept), `the repository's sigstore/trusted_root.json, verified through TUF (${kept})`]
          : [
              publicGoodTrustedRoot(),
              'the public-good Sigstore instance (no repository root kept in STATE; run fetch first or give --sigstore-trusted-root)',
            ];
    process.stderr.write(`Sigstore trusted root: ${source}\n`);
    const verifier = new IdentitySignatureVerifier(trustedRoot);
    const delegator = readJson(values.delegator);
    refuseTopLevelForBinnedRole(delegator, values.delegator, values.role, arg);
    const report = explainRole(readJson(arg), delegator, values.role, verifier);
    const lines = [
      `${report.role} v${report.version}: ${report.validKeyids.length}/${report.threshold} valid signatures, threshold ${report.met ? 'MET' : 'NOT MET'}`,
    ];
    for (const s of report.signatures) {
      const who = s.identity ? `${s.identity} (${s.issuer})` : (s.keytype ?? 'unknown key');
      lines.push(`  ${s.keyid.slice(0, 16)}  ${who}  ${s.valid ? 'valid' : `INVALID: ${s.reason}`}`);
    }
    const provenance = provenanceReport(readJson(arg), delegator, values.role, verifier, path.join(values.dir ?? '.tuf-client', 'targets'));
    lines.push(...provenance.lines);
    process.stdout.write(`${lines.join('\n')}\n`);
    return report.met && provenance.ok ? 0 : 1;
  }
  throw new Error(`unknown command ${command}; see --help`);
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: Error) => {
    // The stable code (ClientError, TrustError, DownloadError) after the message, for scripts.
    const code = (err as { code?: unknown }).code;
    process.stderr.write(`tuf-client: ${err.message}${typeof code === 'string' ? ` [${code}]` : ''}\n`);
    process.exit(2);
  },
);
