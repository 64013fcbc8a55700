// `tuf-server audit verify [--data-dir DIR]`: checks the stored history of the database the server
// uses, beside a running server. It says which database it looked at; it exits 0 only when it
// checked something and found it consistent, 3 when it found problems, 1 when it checked nothing.
import fs from 'node:fs';
import path from 'node:path';
import type { Config } from './config.ts';
import { auditRepository, type AuditReport } from './admin/audit.ts';
import { createKnex, SILENT_KNEX_LOG } from './db/knex.ts';
import { IdentitySignatureVerifier } from '../core/identity.ts';
import { publicGoodTrustedRoot } from '../core/publicGoodTrustedRoot.ts';
import { createLogger, openDatabase } from './runtime.ts';
import { EXIT, printJson } from '../platform/cli.ts';
import { mirrorLostRoles } from './recovery/mirrorReport.ts';

/**
 * The Sigstore trusted root identity signatures are checked against, read from files only: the
 * audit never starts the local Sigstore (which would insist on the server's PUBLIC_URL).
 */
function auditTrustedRoot(config: Config): { trustedRoot: unknown; source: string } {
  if (config.sigstoreTrustedRootFile) {
    return { trustedRoot: JSON.parse(fs.readFileSync(config.sigstoreTrustedRootFile, 'utf8')), source: config.sigstoreTrustedRootFile };
  }
  if (config.devSigstore) {
    const file = path.join(config.devDir, 'sigstore', 'trusted_root.json');
    if (!fs.existsSync(file)) {
      throw new Error(
        `no local Sigstore trusted root at ${file}: run the audit with the server's environment (the same DEV_DIR and DATA_DIR, or from the folder it is started in), or give SIGSTORE_TRUSTED_ROOT (DEV_SIGSTORE=false: public-good)`,
      );
    }
    return { trustedRoot: JSON.parse(fs.readFileSync(file, 'utf8')), source: `${file} (the local development Sigstore)` };
  }
  return { trustedRoot: publicGoodTrustedRoot(), source: 'public-good Sigstore' };
}

/**
 * Returns the exit status: 0 only when versions were checked and nothing was found. With a mirror,
 * roles it serves above the database (lost with a restored backup, issue 16) are problems too.
 */
export async function auditVerify(
  config: Config,
  opts: { dataDir: string | undefined; json: boolean; mirrorUrl?: string | undefined },
): Promise<number> {
  const cfg = opts.dataDir !== undefined ? { ...config, dataDir: path.resolve(opts.dataDir) } : config;
  const sigstore = auditTrustedRoot(cfg);
  const verifier = new IdentitySignatureVerifier(sigstore.trustedRoot);
  // Warnings only: pino writes to stdout, where this command's report goes.
  const db = await openDatabase(cfg, createLogger('warn'), { attach: true, readOnly: true });
  const lines: string[] = [];
  const out = (line: string) => (opts.json ? lines.push(line) : process.stdout.write(`${line}\n`));
  out(`database: ${db.description}`);
  out(`sigstore trusted root: ${sigstore.source}`);
  // knex would print a failed connection with its stack trace ("Acquire connection error: ...")
  // before the report: every failure reaches the report or the one error line instead.
  const knex = createKnex(db.url, 2, { log: SILENT_KNEX_LOG });
  let report: AuditReport;
  let lost: string[] | null = null;
  try {
    report = await auditRepository(knex, verifier);
    if (opts.mirrorUrl !== undefined && report.outcome !== 'no_repository') lost = await mirrorLostRoles(knex, opts.mirrorUrl);
  } catch (err) {
    // 3D000: the cluster has no database of that name.
    if ((err as { code?: string }).code !== '3D000') throw err;
    report = { outcome: 'no_repository', versionsChecked: 0, problems: [], failure: 'no such database in this cluster' };
  } finally {
    await knex.destroy();
    await db.stop();
  }
  const lostAlone = lost !== null && lost.length > 0 && report.outcome === 'consistent';
  const exit = lostAlone
    ? EXIT.refused
    : report.outcome === 'consistent'
      ? EXIT.ok
      : report.outcome === 'problems'
        ? EXIT.refused
        : EXIT.failure;
  if (opts.json) {
    printJson({
      database: db.description,
      sigstoreTrustedRoot: sigstore.source,
      outcome: report.outcome,
      versionsChecked: report.versionsChecked,
      problems: report.problems,
      failure: report.failure,
      ...(lost !== null ? { mirror: opts.mirrorUrl, lostRoles: lost } : {}),
    });
    return exit;
  }
  for (const p of report.problems) out(`${p.role} v${p.version}: ${p.problem}`);
  out(`${report.versionsChecked} versions checked, ${report.problems.length} problem(s)`);
  if (lost !== null) {
    for (const line of lost) out(line);
    out(`mirror ${opts.mirrorUrl}: ${lost.length} role(s) served above what the database holds`);
  }
  if (lostAlone) out('audit verify: FAILED (lost_roles): the mirror serves versions the database lost; publish them again');
  else out(report.outcome === 'consistent' ? 'audit verify: OK' : `audit verify: FAILED (${report.outcome}): ${report.failure}`);
  return exit;
}
