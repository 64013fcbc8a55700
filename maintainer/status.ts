// `tuf-maintainer status`: what a project looks like to its maintainers and registrants (text, or
// --json), and, when the caller says who they are, whether they may still sign it.
import { identityKeyid } from '../core/identity.ts';
import type { ProjectRegistrationsJson } from '../core/apiTypes.ts';
import { printJson } from '../platform/cli.ts';
import { jsonRequest, type RepositoryApi } from './api.ts';
import { identityOfToken, tokenSource, type TokenOptions } from './tokens.ts';

/**
 * Who asks, when they said so (--dev-identity, --token-file, SIGSTORE_ID_TOKEN): `status` then
 * tells a maintainer who is one no more that it is not theirs to re-sign. Null otherwise.
 */
async function askingIdentity(api: RepositoryApi, opts: TokenOptions): Promise<{ identity: string; issuer: string } | null> {
  if (!opts.tokenFile && !opts.devIdentity && !process.env.SIGSTORE_ID_TOKEN) return null;
  const devTokenUrl = opts.devIdentity ? (await api.config()).sigstore.devTokenUrl : null;
  return identityOfToken(await tokenSource({ ...opts, devTokenUrl }).getToken());
}

/** What `status` reports, as `--json` prints it. */
interface StatusView {
  project: string;
  delegated: boolean;
  threshold: number | null;
  version: number | null;
  maintainers: { identity: string; issuer: string; keyid: string }[];
  pending: { version: number; signatures: number; threshold: number | null; since: string }[];
  registrations: { id: number; identity: string; issuer: string; requestedAt: string; project: string }[];
  contested: boolean;
  /** Who asked (with an identity), whether they maintain it, and whether they signed the current version. */
  you: { identity: string; issuer: string; maintainer: boolean; signedCurrentVersion: boolean } | null;
  needsResigning: { reason: string; since: string; by: string } | null;
  /** The builder whose provenance every file needs (the delegation's requirement), if any. */
  provenance: { identity: string; issuer: string } | null;
}

async function statusView(api: RepositoryApi, server: string, project: string, tokens: TokenOptions): Promise<StatusView> {
  const info = await api.project(project);
  const me = info.delegated ? await askingIdentity(api, tokens) : null;
  const regs = info.delegated
    ? null
    : (await jsonRequest<ProjectRegistrationsJson>(server, 'GET', `/api/v1/projects/${encodeURIComponent(project)}/registrations`)).body;
  const isMaintainer = me !== null && info.maintainers.some((m) => m.identity === me.identity && m.issuer === me.issuer);
  // Signed the current version, then dropped: "any more". resign and cosign would refuse them.
  const signedCurrent =
    me !== null &&
    !isMaintainer &&
    info.version !== null &&
    (await api.metadata(`${info.version}.${project}.json`)).signatures.some((s) => s.keyid === identityKeyid(me.identity, me.issuer));
  const maintainers = info.maintainers.map((m) => `${m.identity} at ${m.issuer}`).join(', ') || 'nobody';
  return {
    project,
    delegated: info.delegated,
    threshold: info.delegated ? info.threshold : null,
    version: info.version ?? null,
    maintainers: info.maintainers.map((m) => ({ identity: m.identity, issuer: m.issuer, keyid: m.keyid })),
    pending: info.pending.map((p) => ({
      version: p.version,
      signatures: p.signedBy.length,
      threshold: info.delegated ? info.threshold : null,
      since: p.createdAt,
    })),
    registrations: (regs?.registrations ?? []).map((r) => ({
      id: r.id,
      identity: r.identity,
      issuer: r.issuer,
      requestedAt: r.requestedAt,
      project: r.project,
    })),
    contested: regs?.contested ?? false,
    you: me ? { ...me, maintainer: isMaintainer, signedCurrentVersion: signedCurrent } : null,
    provenance: info.provenance ? { identity: info.provenance.identity, issuer: info.provenance.issuer } : null,
    needsResigning: info.needsResigning
      ? {
          reason: info.needsResigning.reason,
          since: info.needsResigning.since ?? `targets v${info.needsResigning.targetsVersion}`,
          by: isMaintainer ? 'you' : maintainers,
        }
      : null,
  };
}

export async function status(api: RepositoryApi, server: string, project: string, tokens: TokenOptions, json: boolean): Promise<void> {
  const v = await statusView(api, server, project, tokens);
  if (json) return printJson(v);
  const lines = [
    `${project}: ${v.delegated ? `delegated, threshold ${v.threshold}` : 'not delegated'}, current version ${v.version ?? 'none'}`,
  ];
  if (v.contested)
    lines.push(
      `  CONTESTED: ${new Set(v.registrations.map((r) => `${r.identity}\n${r.issuer}`)).size} identities ask for it; the admins choose whom to approve`,
    );
  for (const r of v.registrations)
    lines.push(
      `  pending registration ${r.id}: ${r.identity} at ${r.issuer}, requested ${r.requestedAt}${r.project !== project ? ` (for ${r.project})` : ''}`,
    );
  for (const m of v.maintainers) lines.push(`  maintainer ${m.identity} at ${m.issuer} (keyid ${m.keyid.slice(0, 16)})`);
  if (v.provenance) lines.push(`  build provenance required from ${v.provenance.identity} at ${v.provenance.issuer} for every file`);
  for (const p of v.pending) lines.push(`  pending v${p.version}: ${p.signatures}/${p.threshold} signatures since ${p.since}`);
  const maintainers = v.maintainers.map((m) => `${m.identity} at ${m.issuer}`).join(', ') || 'nobody';
  if (v.you && !v.you.maintainer) {
    const anyMore = v.you.signedCurrentVersion;
    lines.push(
      `  NOT A MAINTAINER${anyMore ? ' ANY MORE' : ''}: ${v.you.identity} at ${v.you.issuer} is not a maintainer of ${project}` +
        `${anyMore ? ` any more (you signed v${v.version})` : ''}; its maintainers now: ${maintainers}. ` +
        'publish, cosign and resign refuse you',
    );
  }
  if (v.needsResigning) {
    const who =
      v.needsResigning.by === 'you'
        ? 'run `tuf-maintainer resign`'
        : `a current maintainer (${maintainers}) runs \`tuf-maintainer resign --project ${project}\``;
    lines.push(`  NEEDS RE-SIGNING: ${v.needsResigning.reason} (since ${v.needsResigning.since}); ${who}`);
  }
  process.stdout.write(`${lines.join('\n')}\n`);
}
