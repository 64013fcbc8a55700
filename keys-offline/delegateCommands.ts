// `tuf-offline delegate` and `undelegate`: one project (--project), or every pending registration
// of a registrations file at once (--registrations without --project). In the bin layout only the
// bins of the changed projects are written, each once; in the flat layout top-level targets N+1.
import fs from 'node:fs';
import path from 'node:path';
import { binLayoutOfSigned, projectPlacement } from '../core/bins.ts';
import { isPlainObject, type JsonObject } from '../core/canonical.ts';
import { parseBuilderIdentity, PROVENANCE_FIELD, type BuilderIdentity } from '../core/provenance.ts';
import { DEFAULT_BIN_EXPIRY_SECONDS, DEFAULT_TARGETS_EXPIRY_SECONDS, editedTargetsSigned } from '../core/ceremony.ts';
import { delegationChanges } from '../core/delegationDiff.ts';
import { withDelegation, withoutDelegation, type Maintainer } from '../core/delegations.ts';
import { parseMetadata } from '../core/metadata.ts';
import { delegateInBins, delegatedIdentities, readBinDir, type DelegationChange, type WrittenBin } from './bins.ts';
import { describeApproval, planBulkApproval } from './bulkApproval.ts';
import { chooseExpiry, describeExpiry, expiresDaysOption, withExpiry, type Expiry } from './expiry.ts';
import { readEnvelopeFile, writeJson } from './files.ts';
import { OfflineError } from './errors.ts';
import { say, unsigned, usage, type CommandContext, type Values } from './options.ts';
import { checkDelegationName, delegationNameChecker, maintainersFromRegistrations } from './projectNames.ts';

/** What the command edits: top-level targets N, and the bins directory in the bin layout. */
interface Edit {
  top: JsonObject;
  out: string;
  /** Null in the flat layout. */
  binDir: string | null;
  now: Date;
  days: number | undefined;
}

function maintainersFrom(values: Values, project: string): Maintainer[] {
  // A contested project (several identities asked) is refused until --accept names the chosen ones.
  if (values.registrations) return maintainersFromRegistrations(values.registrations, project, values.accept ?? []);
  if (values.accept) usage('--accept goes with --registrations FILE');
  const ids = values.identity ?? [];
  const issuers = values.issuer ?? [];
  if (ids.length === 0 || ids.length !== issuers.length) usage('give --identity and --issuer in pairs (or --registrations FILE)');
  return ids.map((identity, i) => ({ identity, issuer: issuers[i]! }));
}

/** What the file about to be signed changes in its delegations: a revocation is seen before it is signed. */
function sayChanges(what: string, changes: string[]): void {
  say(`${what} changes: ${changes.length === 0 ? 'no delegation' : ''}`, ...changes.map((c) => `  ${c}`));
}

/** --require-provenance/--provenance-issuer: the builder to require; null: --drop-provenance; undefined: keep. */
function provenanceFrom(values: Values, project: string | null): BuilderIdentity | null | undefined {
  const identity = values['require-provenance'];
  const issuer = values['provenance-issuer'];
  if (project === null && (identity !== undefined || issuer !== undefined || values['drop-provenance']))
    usage('--require-provenance, --provenance-issuer and --drop-provenance go with delegate --project NAME');
  if (values['drop-provenance']) {
    if (identity !== undefined || issuer !== undefined)
      usage('--drop-provenance removes the requirement: give it without --require-provenance');
    return null;
  }
  if (identity === undefined) {
    if (issuer !== undefined) usage('--provenance-issuer goes with --require-provenance IDENTITY');
    return undefined;
  }
  if (issuer === undefined)
    usage('--require-provenance needs --provenance-issuer URL (for GitHub Actions: https://token.actions.githubusercontent.com)');
  return parseBuilderIdentity({ identity, issuer }, '--require-provenance');
}

/** What the delegation of `project` in `signed` requires, for the output. */
function sayProvenance(signed: JsonObject, project: string, asked: BuilderIdentity | null | undefined): void {
  const d = isPlainObject(signed.delegations) && Array.isArray(signed.delegations.roles) ? signed.delegations.roles : [];
  const role = d.find((r) => isPlainObject(r) && r.name === project) as JsonObject | undefined;
  const required = role && isPlainObject(role[PROVENANCE_FIELD]) ? (role[PROVENANCE_FIELD] as unknown as BuilderIdentity) : null;
  const how = asked === undefined ? (required ? ' (kept from the current delegation)' : '') : asked === null ? ' (dropped)' : '';
  say(`  ${project}: build provenance ${required ? `required from ${required.identity} at ${required.issuer}` : 'not required'}${how}`);
}

const who = (ms: Maintainer[]) => ms.map((m) => `${m.identity} at ${m.issuer}`).join(', ');

/** Writes the changes into their bins (each bin once) and says what was written. */
function writeBins(edit: Edit, changes: DelegationChange[]): WrittenBin[] {
  const expiryOf = (current: JsonObject): Expiry =>
    chooseExpiry({ now: edit.now, days: edit.days, defaultSeconds: DEFAULT_BIN_EXPIRY_SECONDS, mode: 'edit' }, current);
  const written = delegateInBins(edit.top, edit.binDir!, edit.out, changes, edit.now, expiryOf);
  for (const w of written) say(`wrote unsigned ${w.name} v${w.version} to ${w.file}; ${describeExpiry(w.expiry)}`);
  return written;
}

/** Writes top-level targets N+1 with `signed`'s delegations, and says so. */
function writeTargets(edit: Edit, signed: JsonObject): number {
  const expiry = chooseExpiry({ now: edit.now, days: edit.days, defaultSeconds: DEFAULT_TARGETS_EXPIRY_SECONDS, mode: 'edit' }, edit.top);
  const next = withExpiry(editedTargetsSigned(signed, {}, edit.now), expiry);
  writeJson(edit.out, unsigned(next));
  say(`wrote unsigned targets v${String(next.version)} to ${edit.out}; ${describeExpiry(expiry)}`);
  return Number(next.version);
}

function single(ctx: CommandContext, edit: Edit, project: string): number {
  const { command, values } = ctx;
  if (command === 'delegate') {
    checkDelegationName(edit.top, project, {
      ...(edit.binDir ? { binDir: edit.binDir } : {}),
      ...(values.registrations ? { registrationsFile: values.registrations } : {}),
      reserved: values.reserved ?? [],
    });
  }
  const maintainers = command === 'undelegate' ? null : maintainersFrom(values, project);
  const provenance = provenanceFrom(values, command === 'undelegate' ? null : project);
  const n = values.threshold === undefined ? 1 : Number(values.threshold);
  if (maintainers) say(`  ${project}: ${who(maintainers)}`);
  if (edit.binDir) {
    // Bin layout: only the project's bin changes; top-level targets stays as it is.
    const [bin] = writeBins(edit, [{ project, maintainers, threshold: n, ...(provenance !== undefined ? { provenance } : {}) }]);
    if (maintainers) sayProvenance(readEnvelopeFile(bin!.file).signed, project, provenance);
    sayChanges(`${bin!.name} v${bin!.version}`, bin!.changes);
    say(
      `top-level targets is unchanged; next: tuf-offline status ${bin!.file} --delegator ${ctx.values.from} --previous ${bin!.previousFile} ` +
        '(the changes each signer reviews), ' +
        `tuf-offline sign ${bin!.file} --key BINS_KEY, then tuf-carry push ${bin!.file}`,
    );
    return 0;
  }
  const signed = maintainers
    ? withDelegation(edit.top, project, maintainers, n, undefined, provenance)
    : withoutDelegation(edit.top, project);
  if (maintainers) sayProvenance(signed, project, provenance);
  const version = writeTargets(edit, signed);
  sayChanges(`targets v${version}`, delegationChanges(signed, edit.top));
  return 0;
}

/** Every pending registration of the file, approved in one version of each affected bin (or of targets). */
function bulk(ctx: CommandContext, edit: Edit, file: string): number {
  const { values } = ctx;
  provenanceFrom(values, null);
  if (values.identity || values.issuer)
    usage('--identity and --issuer go with --project; without it, --registrations delegates each project to the identities that asked');
  if (values.threshold !== undefined)
    usage('--threshold goes with --project: approving a whole registrations file delegates each project with threshold 1');
  const bins = edit.binDir ? readBinDir(edit.binDir) : null;
  const plan = planBulkApproval({
    registrationsFile: file,
    accept: values.accept ?? [],
    skip: values.skip ?? [],
    delegatedTo: (project) => delegatedIdentities(edit.top, bins, project),
    checkName: delegationNameChecker(edit.top, {
      ...(edit.binDir ? { binDir: edit.binDir } : {}),
      registrationsFile: file,
      reserved: values.reserved ?? [],
    }),
  });
  if (plan.skipped.length > 0) say(`skipped (--skip): ${plan.skipped.join(', ')}`);
  if (plan.approvals.length === 0) {
    say(`nothing to approve in ${file}: no pending registration${plan.skipped.length > 0 ? ' left' : ''}; no file written`);
    return 0;
  }
  const n = plan.approvals.length;
  const projects = `${n} project${n === 1 ? '' : 's'}`;
  if (edit.binDir) {
    for (const a of plan.approvals) say(describeApproval(a, projectPlacement(edit.top, a.project).role));
    const written = writeBins(
      edit,
      plan.approvals.map((a) => ({ project: a.project, maintainers: a.maintainers, threshold: 1 })),
    );
    const m = written.length;
    say(
      `approved ${projects} in ${m} bin${m === 1 ? '' : 's'}: wrote ${m} unsigned bin file${m === 1 ? '' : 's'} to ${edit.out}; top-level targets is unchanged`,
      `next: tuf-offline sign ${path.join(edit.out, '*.json')} --key BINS_KEY, then tuf-carry push ${path.join(edit.out, '*.json')}`,
    );
    return 0;
  }
  for (const a of plan.approvals) say(describeApproval(a, 'targets'));
  let signed = edit.top;
  for (const a of plan.approvals) signed = withDelegation(signed, a.project, a.maintainers, 1);
  const version = writeTargets(edit, signed);
  say(
    `approved ${projects} in top-level targets v${version}: wrote 1 unsigned file, ${edit.out}`,
    `next: tuf-offline sign ${edit.out} --key TARGETS_KEY, then tuf-carry push ${edit.out}`,
  );
  return 0;
}

/**
 * In the bin layout --out is a directory: the command writes one file per bin it changes there
 * (BIN.json), never top-level targets. An --out that names a .json file, or an existing file, is
 * refused before anything is written (it used to become a directory named like a targets file).
 */
function refuseFileOut(top: JsonObject, out: string, project: string | undefined): void {
  const isFile = fs.existsSync(out) && !fs.statSync(out).isDirectory();
  if (!out.endsWith('.json') && !isFile) return;
  const bin = project !== undefined ? projectPlacement(top, project).role : null;
  const example = path.join(path.dirname(out), 'approved');
  throw new OfflineError(
    'bins_out_is_a_file',
    `--out ${out}: this repository delegates projects through bins, so delegate writes ` +
      (bin ? `the bin ${project} falls in (${bin}.json, its next version)` : 'one file per bin it changes (BIN.json)') +
      ` into a directory, not one .json file, and leaves top-level targets as it is. Give a directory: --out ${example} ` +
      `writes ${bin ? path.join(example, `${bin}.json`) : path.join(example, 'BIN.json')}; sign and push ${bin ? 'that file' : 'those files'}`,
  );
}

export function delegateCommand(ctx: CommandContext): number {
  const { command, values, now } = ctx;
  const fromFile = values.from ?? usage(`${command} needs --from`);
  const from = readEnvelopeFile(fromFile);
  const out = values.out ?? usage(`${command} needs --out`);
  parseMetadata(from, 'targets', fromFile); // a hostile or damaged file is refused as such
  const binDir = binLayoutOfSigned(from.signed) ? (values.bins ?? path.join(path.dirname(fromFile), 'bins')) : null;
  if (binDir) refuseFileOut(from.signed, out, values.project);
  const edit: Edit = { top: from.signed, out, binDir, now, days: expiresDaysOption(values['expires-days']) };
  if (values.skip && (command !== 'delegate' || values.project !== undefined || !values.registrations))
    usage('--skip goes with delegate --registrations FILE without --project');
  if (values.project !== undefined) return single(ctx, edit, values.project);
  if (command === 'delegate' && values.registrations) return bulk(ctx, edit, values.registrations);
  return usage(
    command === 'delegate'
      ? 'delegate needs --project NAME, or --registrations FILE alone to approve every pending registration in it'
      : 'undelegate needs --project',
  );
}
