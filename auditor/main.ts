// tuf-auditor: a TAP 16 auditor that needs nothing but HTTP access to a repository.
import fs from 'node:fs';
import path from 'node:path';
import { isTrustError } from '../core/trustedModel.ts';
import { checkOptions, EXIT, exitStatusHelp, parseCommandLine, runTool, unknownCommand, usage, type Failure } from '../platform/cli.ts';
import { AuditError, auditPass, type AuditReport, type HeldTree } from './audit.ts';

const HELP = `tuf-auditor: audits a TUF repository that publishes TAP 16 snapshot Merkle trees

With snapshot Merkle trees a client checks rollback only for the roles it fetches; an auditor
checks every role of every snapshot version. tuf-auditor needs HTTP access to the repository only.

Commands:
  check --server URL [--root ROOT.json] [--state DIR] [--watch SECONDS] [--proofs N] [--json]
      One audit pass (or one every SECONDS with --watch), as described below.

Options:
  --server URL     the repository (its metadata is under URL/metadata)
  --root ROOT.json the repository's trusted root, got by a trusted path: read the first time only
  --state DIR      what this auditor verified so far (default .tuf-auditor): root, last timestamp,
                   last snapshot; each pass checks every snapshot version published since
  --watch SECONDS  audit again every SECONDS until a finding (default: one pass)
  --proofs N       proofs fetched and checked per pass: targets' and those of the roles that
                   changed (default 16)
  --json           one JSON report per pass on stdout

Each pass, for every snapshot version since the last one checked: signed by root's snapshot keys,
the right version, no role missing, no role's version lower than before; for the version the
timestamp names: its merkle_root is the root of the tree over that snapshot, and served proofs give
back the snapshot's entries. A finding is printed with the role and versions, the state is not
moved past it, and the exit status is 3 (every later pass finds it again). When the timestamp keys
were replaced, versions are judged from then on (TAP 16: fast-forward recovery).

${exitStatusHelp('a finding: a role rolled back or removed, a merkle_root or a proof that does not match the snapshot, a snapshot or timestamp that does not verify')}`;

function describe(report: AuditReport): string {
  const versions =
    report.checked.length === 0
      ? 'no new snapshot version'
      : `snapshot v${report.checked[0]}..v${report.checked.at(-1)} (${report.checked.length} versions)`;
  const tree = { matched: 'merkle_root matches', none: 'no merkle_root', mismatch: 'merkle_root MISMATCH' }[report.merkleRoot];
  return `audited ${versions}, ${report.roles} roles; ${tree}; ${report.proofsChecked} proofs checked; ${report.findings.length} findings`;
}

const OPTIONS = {
  server: { type: 'string' },
  root: { type: 'string' },
  state: { type: 'string' },
  watch: { type: 'string' },
  proofs: { type: 'string' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

async function main(argv: string[]): Promise<number> {
  const { values, positionals } = parseCommandLine(argv, OPTIONS);
  const [command] = positionals;
  if (values.help || command === 'help' || !command) {
    process.stdout.write(HELP);
    return command || values.help ? EXIT.ok : EXIT.usage;
  }
  if (command !== 'check') unknownCommand(command, ['check']);
  checkOptions('tuf-auditor', command, values, ['server', 'root', 'state', 'watch', 'proofs']);
  const server = (values.server ?? process.env.TUF_SERVER ?? '').replace(/\/$/, '');
  if (!server) usage('check needs --server URL (or TUF_SERVER)');
  const stateDir = values.state ?? '.tuf-auditor';
  const watch = values.watch === undefined ? null : Number(values.watch);
  const proofs = values.proofs === undefined ? 16 : Number(values.proofs);
  if (watch !== null && !(Number.isFinite(watch) && watch > 0)) usage('--watch takes a number of seconds');
  if (!Number.isInteger(proofs) || proofs < 0) usage('--proofs takes a whole number');
  if (!fs.existsSync(path.join(stateDir, 'root.json'))) {
    if (!values.root) usage(`no trusted root yet in ${stateDir}: give --root ROOT.json`);
    fs.mkdirSync(stateDir, { recursive: true });
    fs.copyFileSync(values.root, path.join(stateDir, 'root.json'));
  }
  const held: { tree: HeldTree | null } = { tree: null };
  for (;;) {
    const report = await auditPass(
      {
        metadataUrl: `${server}/metadata`,
        stateDir,
        proofsPerPass: proofs,
        timeoutMs: 60_000,
        log: (line) => process.stderr.write(`${line}\n`),
      },
      held,
    );
    if (report.restarted) process.stderr.write(`${report.restarted}\n`);
    process.stdout.write(values.json ? `${JSON.stringify(report)}\n` : `${describe(report)}\n`);
    if (report.findings.length > 0) return EXIT.refused;
    if (watch === null) return 0;
    await new Promise((r) => setTimeout(r, watch * 1000));
  }
}

function classify(err: Error): Partial<Failure> {
  // A timestamp or root that does not verify is a finding about the repository, not a failure here.
  if (isTrustError(err) || (err instanceof AuditError && err.code === 'refused')) return { exit: EXIT.refused };
  return {};
}

runTool('tuf-auditor', process.argv.slice(2), () => main(process.argv.slice(2)), classify);
