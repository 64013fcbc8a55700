// tuf-maintainer: register for a project and publish releases, signing with your OIDC identity
// through Sigstore (TAP 18). No key to keep: each signature gets a 10-minute certificate.
import fs from 'node:fs';
import path from 'node:path';
import { canonicalBytes, isPlainObject, type JsonObject } from '../core/canonical.ts';
import { DAY_SECONDS } from '../core/ceremony.ts';
import { DEFAULT_PROJECT_EXPIRY_SECONDS, registrationSigned } from '../core/delegations.ts';
import { identityKeyid } from '../core/identity.ts';
import { buildTargetsSigned, expiresAfter, type Envelope, type TargetEntry } from '../core/metadata.ts';
import { assertTargetPath } from '../core/names.ts';
import { RepositoryApi, type ProjectInfo } from './api.ts';
import { describeFile } from './files.ts';
import type { RegistrationJson } from '../core/apiTypes.ts';
import { redactTokens, signWithIdentity, type SigstoreEndpoints, type TokenSource } from './identitySigner.ts';
import { identityOfToken, tokenSource, type TokenOptions } from './tokens.ts';
import { checkOptions, EXIT, exitStatusHelp, parseCommandLine, runTool, unknownCommand, usage } from '../platform/cli.ts';
import { MONITOR_HELP, monitorCommand } from './monitor.ts';
import { status } from './status.ts';
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
${MONITOR_HELP}

Identity (the token is never printed):
  --token-file FILE        an OIDC token in a file
  SIGSTORE_ID_TOKEN        an OIDC token in the environment
  (GitHub Actions)         the workflow's ambient token (permissions: id-token: write)
  --dev-identity EMAIL     development servers only: a token from the local issuer
  --dev-issuer URL         ... at this issuer (a CI issuer the local Sigstore plays, such as
                           https://token.actions.githubusercontent.com)

Sigstore endpoints default to what the server advertises (GET /api/v1/config);
override with --fulcio-url and --rekor-url.

--json (status, monitor): one JSON document on stdout instead of the text (on failure: {"error": {...}}).

${exitStatusHelp("monitor: the repository's monitor or the log flagged a use of your identity (the server's refusals of other commands are status 1, with the server's code)")}`;

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

const OPTIONS = {
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
  identity: { type: 'string' },
  issuer: { type: 'string' },
  'sigstore-trusted-root': { type: 'string' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

const IDENTITY = ['server', 'project', 'token-file', 'dev-identity', 'dev-issuer'];
const SIGNING = [...IDENTITY, 'fulcio-url', 'rekor-url'];
const COMMAND_OPTIONS: Record<string, readonly string[]> = {
  register: SIGNING,
  publish: [...SIGNING, 'expires-days', 'remove', 'provenance'],
  attest: ['server', 'token-file', 'dev-identity', 'dev-issuer', 'fulcio-url', 'rekor-url', 'out', 'source'],
  cosign: [...SIGNING, 'version'],
  resign: [...SIGNING, 'expires-days'],
  status: IDENTITY,
  monitor: ['server', 'identity', 'issuer', 'rekor-url', 'sigstore-trusted-root'],
};

async function main(argv: string[]): Promise<number> {
  const { values, positionals } = parseCommandLine(argv, OPTIONS);
  const [command, ...rest] = positionals;
  if (!command || values.help || command === 'help') {
    process.stdout.write(HELP);
    return EXIT.ok;
  }
  // The command first: a typo is said as such, not as a missing --server.
  const allowed = Object.hasOwn(COMMAND_OPTIONS, command)
    ? COMMAND_OPTIONS[command]!
    : unknownCommand(command, Object.keys(COMMAND_OPTIONS));
  checkOptions('tuf-maintainer', command, values, allowed);
  if (values.json && command !== 'status' && command !== 'monitor') usage(`--json goes with status and monitor`);
  if (command !== 'publish' && command !== 'attest' && rest.length > 0) usage(`${command} takes no FILE (got ${rest.join(' ')})`);
  const server = values.server ?? process.env.TUF_SERVER ?? usage('give --server URL (or TUF_SERVER)');
  if (command === 'monitor') {
    return monitorCommand({
      server,
      identity: values.identity ?? usage('monitor: give --identity ID (your OIDC identity, as delegated)'),
      issuer: values.issuer ?? usage('monitor: give --issuer URL (the OIDC issuer of that identity)'),
      json: values.json === true,
      ...(values['rekor-url'] ? { rekorUrl: values['rekor-url'] } : {}),
      ...(values['sigstore-trusted-root'] ? { trustedRootFile: values['sigstore-trusted-root'] } : {}),
    });
  }
  const tokenOptions: TokenOptions = {
    ...(values['token-file'] ? { tokenFile: values['token-file'] } : {}),
    ...(values['dev-identity'] ? { devIdentity: values['dev-identity'] } : {}),
    ...(values['dev-issuer'] ? { devIssuer: values['dev-issuer'] } : {}),
  };
  if (command === 'attest') {
    if (rest.length === 0) usage('attest needs at least one FILE');
    const out = values.out ?? usage('attest needs --out BUNDLE');
    const config = await new RepositoryApi(server).config();
    const endpoints = {
      fulcioUrl: values['fulcio-url'] ?? config.sigstore.fulcioUrl,
      rekorUrl: values['rekor-url'] ?? config.sigstore.rekorUrl,
    };
    process.stdout.write(
      `${await attest(rest, out, endpoints, tokenSource({ ...tokenOptions, devTokenUrl: config.sigstore.devTokenUrl }), values.source)}\n`,
    );
    return EXIT.ok;
  }
  const project = values.project ?? usage('give --project NAME');
  const days = values['expires-days'] === undefined ? DEFAULT_PROJECT_EXPIRY_SECONDS / DAY_SECONDS : Number(values['expires-days']);
  if (!Number.isInteger(days) || days < 1) usage('--expires-days must be a positive integer');
  const version = values.version === undefined ? undefined : Number(values.version);
  if (version !== undefined && (!Number.isInteger(version) || version < 1)) usage('--version must be a positive integer');
  if (command === 'publish' && rest.length === 0 && !values.remove) usage('publish needs at least one FILE (or --remove PATH)');
  const api = new RepositoryApi(server);
  const identity = tokenOptions;
  if (command === 'status') {
    await status(api, server, project, identity, values.json === true);
    return EXIT.ok;
  }
  const config = await api.config();
  const ctx: Context = {
    api,
    project,
    endpoints: {
      fulcioUrl: values['fulcio-url'] ?? config.sigstore.fulcioUrl,
      rekorUrl: values['rekor-url'] ?? config.sigstore.rekorUrl,
    },
    tokens: tokenSource({ ...identity, devTokenUrl: config.sigstore.devTokenUrl }),
  };
  if (command === 'register') await register(ctx);
  else if (command === 'publish') await publish(ctx, rest, days, values.remove ?? [], false, values.provenance ?? []);
  else if (command === 'resign') await publish(ctx, [], days, [], true);
  else await cosign(ctx, version);
  return EXIT.ok;
}

runTool(
  'tuf-maintainer',
  process.argv.slice(2),
  () => main(process.argv.slice(2)),
  () => ({}),
  { redact: redactTokens },
);
