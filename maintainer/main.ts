// tuf-maintainer: register for a project and publish releases, signing with your OIDC identity
// through Sigstore (TAP 18). No key to keep: each signature gets a 10-minute certificate.
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { canonicalBytes, isPlainObject, type JsonObject } from '../core/canonical.ts';
import { DAY_SECONDS } from '../core/ceremony.ts';
import { DEFAULT_PROJECT_EXPIRY_SECONDS, registrationSigned } from '../core/delegations.ts';
import { identityKeyid } from '../core/identity.ts';
import { buildTargetsSigned, expiresAfter, type Envelope, type TargetEntry } from '../core/metadata.ts';
import { assertTargetPath } from '../core/names.ts';
import { jsonRequest, RepositoryApi, type ProjectInfo } from './api.ts';
import { describeFile } from './files.ts';
import type { ProjectRegistrationsJson, RegistrationJson } from '../core/apiTypes.ts';
import { redactTokens, signWithIdentity, type SigstoreEndpoints, type TokenSource } from './identitySigner.ts';
import { identityOfToken, tokenSource, type TokenOptions } from './tokens.ts';
import { addAttestations, attest } from './provenance.ts';

const HELP = `tuf-maintainer: publish to a TUF repository by signing with your OIDC identity (Sigstore)

Usage: tuf-maintainer <command> --server URL --project NAME [options]

Commands:
  register                 Ask for NAME: a Sigstore-signed request the admins approve offline.
  publish FILE...          Publish files as NAME/<file name> in the next version of NAME's role.
                           [--expires-days D] (90) [--remove PATH ...] [--provenance BUNDLE ...]
                           --provenance: a build-provenance attestation (Sigstore bundle, SLSA v1)
                           listed and sent beside each file it attests, as FILE.provenance.sigstore.json;
                           required for every file when NAME's delegation names a builder.
  attest FILE... --out BUNDLE [--source URI]
                           (the CI job that built FILE) Sign SLSA provenance v1 for the files with the
                           job's own identity: the bundle for publish --provenance. No --project.
  cosign [--version N]     Add your signature to a version waiting for more maintainers.
  resign                   Publish the next version with the same files, signed by you: after
                           the admins changed the maintainers, clients need the current ones.
  status                   Show maintainers, threshold, current version and pending versions;
                           before approval, the pending registrations (and whether contested).
                           With an identity (below), also whether you are a maintainer.

Identity (the token is never printed):
  --token-file FILE        an OIDC token in a file
  SIGSTORE_ID_TOKEN        an OIDC token in the environment
  (GitHub Actions)         the workflow's ambient token (permissions: id-token: write)
  --dev-identity EMAIL     development servers only: a token from the local issuer
  --dev-issuer URL         ... at this issuer (a CI issuer the local Sigstore plays, such as
                           https://token.actions.githubusercontent.com)

Sigstore endpoints default to what the server advertises (GET /api/v1/config);
override with --fulcio-url and --rekor-url.
`;

interface Context {
  api: RepositoryApi;
  project: string;
  endpoints: SigstoreEndpoints;
  tokens: TokenSource;
}

function fail(message: string): never {
  throw new Error(message);
}

/** Fetches the token once to learn who we are; Fulcio certifies exactly that identity. */
async function whoAmI(tokens: TokenSource): Promise<{ identity: string; issuer: string; token: string }> {
  const token = await tokens.getToken();
  return { ...identityOfToken(token), token };
}

function myKeyid(info: ProjectInfo, me: { identity: string; issuer: string }): string {
  const mine = info.maintainers.find((m) => m.identity === me.identity && m.issuer === me.issuer);
  if (!mine) {
    const list = info.maintainers.map((m) => `${m.identity} at ${m.issuer}`).join('; ') || 'none';
    fail(`${me.identity} at ${me.issuer} is not a maintainer of ${info.project} (maintainers: ${list})`);
  }
  return mine.keyid;
}

async function sign(ctx: Context, signed: JsonObject, keyid: string, token: string): Promise<Envelope> {
  let used = false;
  // The token we already read is used first; a second signature fetches a fresh one.
  const once: TokenSource = { getToken: async () => (used ? ctx.tokens.getToken() : ((used = true), token)) };
  const signature = await signWithIdentity(canonicalBytes(signed), keyid, ctx.endpoints, once);
  return { signed, signatures: [signature] };
}

async function register(ctx: Context): Promise<void> {
  const me = await whoAmI(ctx.tokens);
  const signed = registrationSigned(ctx.project, me, new Date());
  const request = await sign(ctx, signed, identityKeyid(me.identity, me.issuer), me.token);
  const res = await ctx.api.register(request);
  const r = res.body.registration as RegistrationJson;
  process.stdout.write(
    `registration ${r.id} for ${ctx.project} by ${me.identity} (${me.issuer}): ${r.status}${res.status === 200 ? ' (already recorded)' : ''}\n`,
  );
  if (r.contested) {
    process.stdout.write(`CONTESTED: other identities ask for ${ctx.project} too; the admins choose whom to approve:\n`);
    for (const c of r.competing ?? [])
      process.stdout.write(`  registration ${c.id}: ${c.identity} at ${c.issuer}, requested ${c.requestedAt}\n`);
  }
  process.stdout.write('an admin approves it offline with `tuf-offline delegate`; then you can publish\n');
}

/**
 * Where the project's files go: the directory its delegation names (`PROJECT/*` in the flat
 * layout, `<prefix>/PROJECT/*` in the bin layout).
 */
function projectDirectory(info: ProjectInfo): string {
  const pattern = info.paths.find((p) => p.endsWith('/*') && !p.slice(0, -2).includes('*'));
  if (!pattern) fail(`${info.project} is delegated paths this tool cannot place files under: ${info.paths.join(', ')}`);
  return pattern.slice(0, -2);
}

async function publish(
  ctx: Context,
  files: string[],
  expiresDays: number,
  remove: string[],
  allowUnchanged = false,
  bundles: string[] = [],
): Promise<void> {
  if (files.length === 0 && remove.length === 0 && !allowUnchanged) fail('publish needs at least one FILE (or --remove PATH)');
  const me = await whoAmI(ctx.tokens);
  const info = await ctx.api.project(ctx.project);
  if (!info.delegated) fail(`project ${ctx.project} is not delegated yet: register, and wait for an admin to approve`);
  const keyid = myKeyid(info, me);
  const current = info.version ? await ctx.api.metadata(`${info.version}.${ctx.project}.json`) : null;
  // A Map: whatever paths the server's metadata holds, none reaches Object.prototype.
  const listed = new Map<string, TargetEntry>();
  if (current && isPlainObject(current.signed.targets)) {
    for (const [p, entry] of Object.entries(current.signed.targets)) listed.set(p, entry as unknown as TargetEntry);
  }
  for (const p of remove) {
    if (!listed.delete(p)) fail(`cannot remove ${p}: not in ${ctx.project} v${info.version}`);
  }
  // Hashed as streams, sent as streams: a file of any size costs no memory here.
  const uploads = new Map<string, { file: string; length: number }>();
  const released = new Map<string, TargetEntry>();
  for (const file of files) {
    const targetPath = `${projectDirectory(info)}/${path.basename(file)}`;
    assertTargetPath(targetPath);
    if (!fs.statSync(file).isFile()) fail(`${file} is not a file`);
    const entry = await describeFile(file);
    listed.set(targetPath, entry);
    released.set(targetPath, entry);
    uploads.set(targetPath, { file, length: entry.length });
  }
  // Build provenance: each bundle beside the files it attests (maintainer/provenance.ts).
  const attested = await addAttestations({
    project: ctx.project,
    required: info.provenance ?? null,
    bundles,
    files: released,
    listed,
    uploads,
  });
  for (const line of attested) process.stdout.write(`${line}\n`);
  const targets: Record<string, TargetEntry> = Object.fromEntries(listed);
  const version = (info.version ?? 0) + 1;
  const signed = buildTargetsSigned({ version, expires: expiresAfter(new Date(), expiresDays * DAY_SECONDS), targets });
  const envelope = await sign(ctx, signed, keyid, me.token);
  // The metadata first (verified before the server accepts a byte of a file), then each file it lacks.
  const answer = await ctx.api.publish(ctx.project, envelope, uploads);
  if (answer.status === 'published') {
    process.stdout.write(
      `published ${ctx.project} v${version} (${[...uploads.keys()].join(', ') || 'no new files'}), signed by ${me.identity}\n`,
    );
  } else {
    process.stdout.write(
      `${ctx.project} v${version} is pending: ${answer.signatures}/${answer.threshold} signatures; another maintainer runs \`tuf-maintainer cosign\`\n`,
    );
  }
}

async function cosign(ctx: Context, version: number | undefined): Promise<void> {
  const me = await whoAmI(ctx.tokens);
  const info = await ctx.api.project(ctx.project);
  const keyid = myKeyid(info, me);
  const candidates = info.pending.filter((p) => version === undefined || p.version === version);
  if (candidates.length === 0) fail(`no pending version of ${ctx.project}${version ? ` numbered ${version}` : ''}`);
  if (candidates.length > 1) fail(`several pending versions (${candidates.map((c) => c.version).join(', ')}): choose one with --version`);
  const pending = candidates[0]!;
  if (pending.signedBy.includes(keyid)) fail(`you already signed ${ctx.project} v${pending.version}`);
  const targets = isPlainObject(pending.metadata.signed.targets) ? Object.keys(pending.metadata.signed.targets) : [];
  process.stdout.write(`co-signing ${ctx.project} v${pending.version}: ${targets.join(', ') || 'no targets'}\n`);
  const envelope = await sign(ctx, pending.metadata.signed, keyid, me.token);
  // A co-signature is metadata only; the files travel with the first signature.
  const res = await ctx.api.uploadMetadata(ctx.project, envelope);
  const waiting = res.body.missingFiles?.length
    ? `; waiting for ${res.body.missingFiles.map((m) => m.path).join(', ')} from whoever has them (tuf-maintainer publish)`
    : '';
  process.stdout.write(
    res.body.status === 'published'
      ? `published ${ctx.project} v${pending.version}\n`
      : `${ctx.project} v${pending.version}: ${res.body.signatures}/${res.body.threshold} signatures${waiting}\n`,
  );
}

/**
 * Who asks, when they said so (--dev-identity, --token-file, SIGSTORE_ID_TOKEN): `status` then
 * tells a maintainer who is one no more that it is not theirs to re-sign. Null otherwise.
 */
async function askingIdentity(api: RepositoryApi, opts: TokenOptions): Promise<{ identity: string; issuer: string } | null> {
  if (!opts.tokenFile && !opts.devIdentity && !process.env.SIGSTORE_ID_TOKEN) return null;
  const devTokenUrl = opts.devIdentity ? (await api.config()).sigstore.devTokenUrl : null;
  return identityOfToken(await tokenSource({ ...opts, devTokenUrl }).getToken());
}

async function status(api: RepositoryApi, server: string, project: string, tokens: TokenOptions): Promise<void> {
  const info = await api.project(project);
  const me = info.delegated ? await askingIdentity(api, tokens) : null;
  const lines = [
    `${project}: ${info.delegated ? `delegated, threshold ${info.threshold}` : 'not delegated'}, current version ${info.version ?? 'none'}`,
  ];
  if (!info.delegated) {
    const regs = (
      await jsonRequest<ProjectRegistrationsJson>(server, 'GET', `/api/v1/projects/${encodeURIComponent(project)}/registrations`)
    ).body;
    if (regs.contested)
      lines.push(
        `  CONTESTED: ${new Set(regs.registrations.map((r) => `${r.identity}\n${r.issuer}`)).size} identities ask for it; the admins choose whom to approve`,
      );
    for (const r of regs.registrations)
      lines.push(
        `  pending registration ${r.id}: ${r.identity} at ${r.issuer}, requested ${r.requestedAt}${r.project !== project ? ` (for ${r.project})` : ''}`,
      );
  }
  for (const m of info.maintainers) lines.push(`  maintainer ${m.identity} at ${m.issuer} (keyid ${m.keyid.slice(0, 16)})`);
  if (info.provenance)
    lines.push(`  build provenance required from ${info.provenance.identity} at ${info.provenance.issuer} for every file`);
  for (const p of info.pending)
    lines.push(`  pending v${p.version}: ${p.signedBy.length}/${info.threshold} signatures since ${p.createdAt}`);
  const maintainers = info.maintainers.map((m) => `${m.identity} at ${m.issuer}`).join(', ') || 'nobody';
  const isMaintainer = me !== null && info.maintainers.some((m) => m.identity === me.identity && m.issuer === me.issuer);
  if (me && !isMaintainer) {
    // Signed the current version, then dropped: "any more". resign and cosign would refuse them.
    const signedCurrent =
      info.version !== null &&
      (await api.metadata(`${info.version}.${project}.json`)).signatures.some((s) => s.keyid === identityKeyid(me.identity, me.issuer));
    lines.push(
      `  NOT A MAINTAINER${signedCurrent ? ' ANY MORE' : ''}: ${me.identity} at ${me.issuer} is not a maintainer of ${project}` +
        `${signedCurrent ? ` any more (you signed v${info.version})` : ''}; its maintainers now: ${maintainers}. ` +
        'publish, cosign and resign refuse you',
    );
  }
  if (info.needsResigning) {
    const since = info.needsResigning.since ?? `targets v${info.needsResigning.targetsVersion}`;
    const who = isMaintainer
      ? 'run `tuf-maintainer resign`'
      : `a current maintainer (${maintainers}) runs \`tuf-maintainer resign --project ${project}\``;
    lines.push(`  NEEDS RE-SIGNING: ${info.needsResigning.reason} (since ${since}); ${who}`);
  }
  process.stdout.write(`${lines.join('\n')}\n`);
}

async function main(argv: string[]): Promise<void> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      server: { type: 'string' },
      project: { type: 'string' },
      'token-file': { type: 'string' },
      'dev-identity': { type: 'string' },
      'dev-issuer': { type: 'string' },
      provenance: { type: 'string', multiple: true },
      out: { type: 'string' },
      source: { type: 'string' },
      'fulcio-url': { type: 'string' },
      'rekor-url': { type: 'string' },
      'expires-days': { type: 'string' },
      remove: { type: 'string', multiple: true },
      version: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  const [command, ...rest] = positionals;
  if (!command || values.help || command === 'help') {
    process.stdout.write(HELP);
    return;
  }
  const server = values.server ?? process.env.TUF_SERVER ?? fail('give --server URL (or TUF_SERVER)');
  const api = new RepositoryApi(server);
  const tokenOptions: TokenOptions = {
    ...(values['token-file'] ? { tokenFile: values['token-file'] } : {}),
    ...(values['dev-identity'] ? { devIdentity: values['dev-identity'] } : {}),
    ...(values['dev-issuer'] ? { devIssuer: values['dev-issuer'] } : {}),
  };
  if (command === 'attest') {
    const config = await api.config();
    const endpoints = {
      fulcioUrl: values['fulcio-url'] ?? config.sigstore.fulcioUrl,
      rekorUrl: values['rekor-url'] ?? config.sigstore.rekorUrl,
    };
    const out = values.out ?? fail('attest needs --out BUNDLE');
    const done = await attest(
      rest,
      out,
      endpoints,
      tokenSource({ ...tokenOptions, devTokenUrl: config.sigstore.devTokenUrl }),
      values.source,
    );
    process.stdout.write(`${done}\n`);
    return;
  }
  if (values.provenance && command !== 'publish') fail('--provenance goes with publish FILE...');
  const project = values.project ?? fail('give --project NAME');
  if (command === 'status') return status(api, server, project, tokenOptions);
  const config = await api.config();
  const ctx: Context = {
    api,
    project,
    endpoints: {
      fulcioUrl: values['fulcio-url'] ?? config.sigstore.fulcioUrl,
      rekorUrl: values['rekor-url'] ?? config.sigstore.rekorUrl,
    },
    tokens: tokenSource({ ...tokenOptions, devTokenUrl: config.sigstore.devTokenUrl }),
  };
  const days = values['expires-days'] === undefined ? DEFAULT_PROJECT_EXPIRY_SECONDS / DAY_SECONDS : Number(values['expires-days']);
  if (!Number.isInteger(days) || days < 1) fail('--expires-days must be a positive integer');
  switch (command) {
    case 'register':
      return register(ctx);
    case 'publish':
      return publish(ctx, rest, days, values.remove ?? [], false, values.provenance ?? []);
    case 'resign':
      return publish(ctx, [], days, [], true);
    case 'cosign':
      return cosign(ctx, values.version === undefined ? undefined : Number(values.version));
    default:
      fail(`unknown command ${command}; see --help`);
  }
}

main(process.argv.slice(2)).catch((err: Error) => {
  process.stderr.write(`tuf-maintainer: ${redactTokens(err.message)}\n`);
  process.exit(1);
});
