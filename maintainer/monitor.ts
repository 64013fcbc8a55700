// `tuf-maintainer monitor`: a maintainer checks their own identity. Two views, side by side:
// - the repository's transparency monitor: which projects the identity is delegated, whether the
//   monitor is current, and what it flagged for the identity;
// - the log itself, asked by this tool (e-mail identities: Rekor's index search), so that a stale
//   or compromised server cannot hide an entry: every entry whose certificate names exactly this
//   identity and issuer, over a digest the repository never received, is listed.
// Entries are authenticated (the log's promise, the Fulcio chain) with --sigstore-trusted-root;
// without it they are listed as unverified and never counted as findings.
import fs from 'node:fs';
import { certificateIdentity, LogEntryVerifier, readHashedRekord, type LogEntry } from '../core/rekorEntry.ts';
import type { MonitorIdentityJson } from '../core/monitorApi.ts';
import { RekorClient, RekorUnavailable } from '../transparency/rekorClient.ts';
import { EXIT } from '../platform/cli.ts';
import { jsonRequest, RepositoryApi } from './api.ts';

export const MONITOR_HELP = `  monitor --identity ID --issuer URL
                           Check your identity: what the repository's transparency monitor
                           flagged for it, and the log's own entries naming it (e-mail
                           identities) that the repository never received. [--rekor-url URL]
                           [--sigstore-trusted-root FILE] (authenticates the entries) [--json]
                           Exit 0: nothing flagged; 3: something flagged; 1: could not tell
                           (the monitor is stale or off and the log could not be read).`;

export interface MonitorOptions {
  server: string;
  identity: string;
  issuer: string;
  rekorUrl?: string;
  trustedRootFile?: string;
  json: boolean;
}

interface LogEntryReport {
  logIndex: number;
  uuid: string;
  digest: string;
  integratedTime: string;
  verified: boolean | null;
  received: boolean;
  note: string;
}

/** Entries naming exactly this identity and issuer, read from the log by e-mail search. */
async function ownLogCheck(
  rekor: RekorClient,
  o: MonitorOptions,
  received: Set<string>,
  verifier: LogEntryVerifier | null,
): Promise<LogEntryReport[]> {
  const out: LogEntryReport[] = [];
  for (const uuid of await rekor.searchEmail(o.identity)) {
    const entry: LogEntry | null = await rekor.entryByUuid(uuid);
    const claim = entry ? readHashedRekord(entry.body) : null;
    if (!entry || !claim) continue;
    const named = certificateIdentity(claim.certificate);
    if (!named || named.identity !== o.identity || named.issuer !== o.issuer) continue;
    const verdict = verifier?.verify(entry, claim) ?? null;
    const got = received.has(claim.digest);
    out.push({
      logIndex: entry.logIndex,
      uuid: entry.uuid,
      digest: claim.digest,
      integratedTime: new Date(entry.integratedTime * 1000).toISOString(),
      verified: verdict === null ? null : verdict.ok,
      received: got,
      note: got
        ? 'received by the repository'
        : verdict && !verdict.ok
          ? `not authentic (${verdict.reason}): ignored`
          : 'NEVER RECEIVED by the repository: if you did not sign this, your identity is misused',
    });
  }
  return out;
}

/** Runs the check and prints it; resolves to the exit code. */
export async function monitorCommand(o: MonitorOptions): Promise<number> {
  const api = new RepositoryApi(o.server);
  const query = new URLSearchParams({ identity: o.identity, issuer: o.issuer });
  const view = (await jsonRequest<MonitorIdentityJson>(o.server, 'GET', `/api/v1/monitor/identity?${query}`)).body;
  const rekorUrl = o.rekorUrl ?? (await api.config()).sigstore.rekorUrl;
  const verifier = o.trustedRootFile ? new LogEntryVerifier(JSON.parse(fs.readFileSync(o.trustedRootFile, 'utf8'))) : null;
  const received = new Set(view.received.map((r) => r.digest));
  let entries: LogEntryReport[] | null = null;
  let logProblem: string | null = null;
  if (!/^[^\s@/]+@[^\s@/]+$/.test(o.identity)) {
    logProblem = 'the log can be searched by e-mail identities only; rely on the repository monitor for this one';
  } else {
    try {
      entries = await ownLogCheck(new RekorClient({ baseUrl: rekorUrl, requestsPerSecond: 5 }), o, received, verifier);
    } catch (err) {
      if (!(err instanceof RekorUnavailable)) throw err;
      logProblem = `the log could not be read: ${err.message}`;
    }
  }
  const suspicious = (entries ?? []).filter((e) => !e.received && e.verified === true);
  const unverified = (entries ?? []).filter((e) => !e.received && e.verified === null);
  const monitorCurrent = view.status.state === 'ok';
  const flagged = view.findings.length > 0 || suspicious.length > 0;
  const code = flagged ? EXIT.refused : !monitorCurrent && entries === null ? EXIT.failure : EXIT.ok;

  if (o.json) {
    process.stdout.write(`${JSON.stringify({ ...view, log: { url: rekorUrl, entries, problem: logProblem }, exitCode: code }, null, 2)}\n`);
    return code;
  }
  const lines = [`${o.identity} at ${o.issuer}`];
  lines.push(`  delegated: ${view.projects.join(', ') || 'no project (the repository monitor does not watch this identity)'}`);
  const s = view.status;
  lines.push(
    s.enabled
      ? `  repository monitor: ${s.state}, log ${s.logUrl}, last read ${s.lastSuccessAt ?? 'never'}${s.lastError ? ` (last error: ${s.lastError})` : ''}`
      : '  repository monitor: off on this server',
  );
  for (const f of view.findings) lines.push(`  FLAGGED ${f.kind} (log entry ${f.logIndex ?? '-'}, ${f.detectedAt}): ${f.detail}`);
  if (entries === null) lines.push(`  log ${rekorUrl}: ${logProblem}`);
  else {
    lines.push(
      `  log ${rekorUrl}: ${entries.length} entries name you; ${entries.length - suspicious.length - unverified.length} accounted for`,
    );
    for (const e of [...suspicious, ...unverified]) {
      lines.push(
        `  ${e.verified === null ? 'UNVERIFIED' : 'FLAGGED'} log entry ${e.logIndex} (${e.integratedTime}) over sha256 ${e.digest}: ${e.note}`,
      );
    }
    if (unverified.length > 0) lines.push('  (give --sigstore-trusted-root FILE to check that those entries are authentic)');
  }
  lines.push(
    code === 0
      ? '  nothing flagged'
      : code === 1
        ? '  something is flagged: see above'
        : '  could not tell: the monitor is not current and the log was not read',
  );
  process.stdout.write(`${lines.join('\n')}\n`);
  return code;
}
