// tuf-carry: moves files between the offline ceremony and the server, on a connected machine.
import fs from 'node:fs';
import path from 'node:path';
import { isPlainObject } from '../core/canonical.ts';
import { sha256Hex } from '../core/canonical.ts';
import { jsonRequest, reach } from '../maintainer/api.ts';
import type { RegistrationListJson } from '../core/apiTypes.ts';

type ContestedJson = RegistrationListJson['contested'][number];
import { binNameOfFile } from '../core/bins.ts';
import { pullBins, readBins, summary, type BinSelection } from './bins.ts';
import { olderVersions } from './pullFolder.ts';
import { checkOptions, EXIT, exitStatusHelp, parseCommandLine, printJson, runTool, unknownCommand, usage } from '../platform/cli.ts';

const HELP = `tuf-carry: carries ceremony files to a TUF repository server and back

Every command needs --server URL and an admin token in TUF_ADMIN_TOKEN (or --token-file FILE).

Commands:
  bootstrap ROOT TARGETS [--bins DIR] [--files DIR] [--file PATH=LOCALFILE ...]
      Upload the target files, then root v1 and targets v1 (and v1 of every bin in DIR, in the
      layered layout). The server verifies all and publishes snapshot v1 and timestamp v1.
  push FILE [--with-targets TARGETS] [--with-bins DIR] [--files DIR] [--file PATH=LOCALFILE ...]
      Upload a new root or targets version (and the target files it lists). A root that changes
      the targets keys goes with the targets re-signed by the new keys: --with-targets. A targets
      that delegates to new bins goes with them: --with-bins (tuf-offline migrate-to-bins).
  push BIN.json ...
      Upload new versions of bins (an approval, a revocation, bump-bins), all at once.
  pull --out DIR [--all-bins | --bin NAME ...]
      Fetch what the next ceremony needs: the current root and targets, the server's online
      public keys (online-keys.json), its status (status.json, with contestedProjects), the pending maintainer
      registrations (registrations.json, for \`tuf-offline delegate --registrations\`) and, in the
      layered layout, the bins those projects fall in (DIR/bins/). --all-bins: every bin instead
      (bump-bins). --bin NAME (repeatable): exactly the bins named (bin-2a8-2ab: a revocation or a
      maintainer change of a project in it, as tuf-offline's refusal names it); a name top-level
      targets does not delegate is refused.

Target files: with --files DIR, the file for target PATH is DIR/PATH; --file names one explicitly.
The server refuses targets metadata that lists a file it does not hold.

--json (pull): one JSON document on stdout saying what was written (on failure: {"error": {...}}).
A refusal by the server is one line, \`tuf-carry: METHOD PATH: STATUS CODE: reason [CODE]\`.

${exitStatusHelp("not used by tuf-carry: the server's refusals are status 1, with the server's code")}`;

interface Options {
  server: string;
  token: string;
}

async function call(opts: Options, method: string, urlPath: string, body?: unknown, raw?: Buffer): Promise<unknown> {
  const options = { token: opts.token, ...(raw ? { raw } : body !== undefined ? { json: body } : {}) };
  return (await jsonRequest<unknown>(opts.server, method, urlPath, options)).body;
}

function readDoc(file: string): Record<string, unknown> {
  const value = JSON.parse(fs.readFileSync(file, 'utf8')) as unknown;
  if (!isPlainObject(value) || !isPlainObject(value.signed)) throw new Error(`${file} is not TUF metadata`);
  return value;
}

/** Uploads the bytes of every target the document lists that a local file is given for. */
async function uploadTargetFiles(opts: Options, doc: Record<string, unknown>, dir: string | undefined, explicit: string[]): Promise<void> {
  const signed = doc.signed as Record<string, unknown>;
  if (signed._type !== 'targets' || !isPlainObject(signed.targets)) return;
  const local = new Map<string, string>();
  for (const spec of explicit) {
    const eq = spec.indexOf('=');
    if (eq <= 0) throw new Error(`--file takes PATH=LOCALFILE, got ${spec}`);
    local.set(spec.slice(0, eq), spec.slice(eq + 1));
  }
  for (const [targetPath, entry] of Object.entries(signed.targets)) {
    const file = local.get(targetPath) ?? (dir ? path.join(dir, targetPath) : undefined);
    if (!file || !fs.existsSync(file)) continue;
    const bytes = fs.readFileSync(file);
    const expected = isPlainObject(entry) && isPlainObject(entry.hashes) ? entry.hashes.sha256 : undefined;
    if (sha256Hex(bytes) !== expected) throw new Error(`${file} does not match the sha256 listed for target ${targetPath}`);
    const result = (await call(opts, 'PUT', '/admin/blobs', undefined, bytes)) as { created: boolean };
    process.stdout.write(`target ${targetPath}: ${result.created ? 'uploaded' : 'already held'} (${bytes.length} bytes)\n`);
  }
}

const OPTIONS = {
  server: { type: 'string' },
  'token-file': { type: 'string' },
  out: { type: 'string' },
  files: { type: 'string' },
  'with-targets': { type: 'string' },
  'with-bins': { type: 'string' },
  bins: { type: 'string' },
  'all-bins': { type: 'boolean' },
  bin: { type: 'string', multiple: true },
  file: { type: 'string', multiple: true },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

const COMMON = ['server', 'token-file'];
const COMMAND_OPTIONS: Record<string, readonly string[]> = {
  bootstrap: [...COMMON, 'bins', 'files', 'file'],
  push: [...COMMON, 'with-targets', 'with-bins', 'files', 'file'],
  // --bins is refused with its own message below (pull takes --bin NAME).
  pull: [...COMMON, 'out', 'all-bins', 'bin', 'bins'],
};

async function main(argv: string[]): Promise<number> {
  const { values, positionals: all } = parseCommandLine(argv, OPTIONS);
  const [command, ...positionals] = all;
  if (!command || values.help || command === 'help') {
    process.stdout.write(HELP);
    return EXIT.ok;
  }
  // The command first: a typo is said as such, not as a missing --server.
  const allowed = Object.hasOwn(COMMAND_OPTIONS, command)
    ? COMMAND_OPTIONS[command]!
    : unknownCommand(command, Object.keys(COMMAND_OPTIONS));
  checkOptions('tuf-carry', command, values, allowed);
  if (values.json && command !== 'pull') usage(`--json goes with pull (${command} prints what the server answered)`);
  if (command === 'pull' && positionals.length > 0) usage(`pull takes no FILE (got ${positionals.join(' ')}); it writes into --out DIR`);
  const server = values.server ?? process.env.TUF_SERVER;
  if (!server) usage('give --server URL (or TUF_SERVER)');
  const token = values['token-file'] ? fs.readFileSync(values['token-file'], 'utf8').trim() : process.env.TUF_ADMIN_TOKEN;
  if (!token) usage('no admin token: set TUF_ADMIN_TOKEN or give --token-file');
  const opts: Options = { server, token };
  switch (command) {
    case 'bootstrap': {
      const [rootFile, targetsFile] = positionals;
      if (!rootFile || !targetsFile || positionals.length > 2) usage('bootstrap takes ROOT TARGETS');
      const root = readDoc(rootFile);
      const targets = readDoc(targetsFile);
      await uploadTargetFiles(opts, targets, values.files, values.file ?? []);
      const delegated = values.bins ? readBins(values.bins) : undefined;
      const result = await call(opts, 'POST', '/admin/bootstrap', { root, targets, ...(delegated ? { delegated } : {}) });
      process.stdout.write(`bootstrapped: ${JSON.stringify(result)}\n`);
      return EXIT.ok;
    }
    case 'push': {
      const file = positionals[0];
      if (!file) usage('push needs a FILE (root, targets, or bins)');
      if (positionals.every((f) => binNameOfFile(f) !== null)) {
        const delegated = Object.fromEntries(positionals.map((f) => [binNameOfFile(f)!, readDoc(f)]));
        const result = await call(opts, 'POST', '/admin/metadata/delegated', { delegated });
        process.stdout.write(`accepted: ${JSON.stringify(summary(result))}\n`);
        return EXIT.ok;
      }
      if (positionals.length > 1) usage('push takes one root or targets FILE, or any number of bin files');
      const doc = readDoc(file);
      const type = (doc.signed as Record<string, unknown>)._type;
      if (type !== 'root' && type !== 'targets') throw new Error(`${file}: only root and targets are pushed (got ${String(type)})`);
      const withTargets = values['with-targets'] ? readDoc(values['with-targets']) : null;
      if (withTargets && type !== 'root') usage('--with-targets goes with a root');
      await uploadTargetFiles(opts, withTargets ?? doc, values.files, values.file ?? []);
      const withBins = values['with-bins'] ? readBins(values['with-bins']) : null;
      if (withBins && type !== 'targets') usage('--with-bins goes with a targets');
      const body = withTargets ? { root: doc, targets: withTargets } : withBins ? { targets: doc, delegated: withBins } : doc;
      const result = await call(opts, 'POST', `/admin/metadata/${type}`, body);
      process.stdout.write(`accepted: ${JSON.stringify(summary(result))}\n`);
      return EXIT.ok;
    }
    case 'pull': {
      if (values.bins !== undefined)
        usage(
          `pull takes --bin NAME (repeatable) for named bins, or --all-bins for every bin; --bins DIR is for bootstrap (pull --bin ${values.bins})`,
        );
      if (values.bin && values['all-bins']) usage('--bin NAME and --all-bins exclude each other');
      const selection: BinSelection = values.bin
        ? { kind: 'named', names: [...new Set(values.bin)] }
        : values['all-bins']
          ? { kind: 'all' }
          : { kind: 'registrations' };
      const out = values.out ?? '.';
      fs.mkdirSync(out, { recursive: true });
      const status = (await call(opts, 'GET', '/admin/status')) as { roles: Record<string, { version: number }>; onlineKeys: unknown };
      const registrations = await call(opts, 'GET', '/admin/registrations?status=pending');
      // Contested projects (several identities asking) go into status.json too: the admins must choose.
      const contested = (registrations as { contested?: ContestedJson[] }).contested ?? [];
      const written = ['status.json', 'online-keys.json', 'registrations.json'].map((f) => path.join(out, f));
      fs.writeFileSync(written[0]!, `${JSON.stringify({ ...status, contestedProjects: contested }, null, 2)}\n`);
      fs.writeFileSync(written[1]!, `${JSON.stringify(status.onlineKeys, null, 2)}\n`);
      fs.writeFileSync(written[2]!, `${JSON.stringify(registrations, null, 2)}\n`);
      const current: Record<string, { version: number; file: string }> = {};
      for (const role of ['root', 'targets']) {
        const head = status.roles[role];
        if (!head) continue;
        const res = await reach(`${server.replace(/\/$/, '')}/metadata/${head.version}.${role}.json`);
        if (!res.ok) throw new Error(`GET ${head.version}.${role}.json: ${res.status}`);
        const doc = JSON.parse(await res.text()) as unknown;
        const file = path.join(out, `${head.version}.${role}.json`);
        fs.writeFileSync(file, `${JSON.stringify(doc, null, 2)}\n`);
        current[role] = { version: head.version, file };
      }
      const bins = await pullBins(
        server,
        out,
        status.roles.targets?.version,
        registrations as { registrations: { project: string }[] },
        selection,
      );
      const pending = (registrations as { registrations: unknown[] }).registrations.length;
      const older = olderVersions(out, [...Object.values(current).map((c) => c.file), ...bins]);
      if (values.json) {
        printJson({
          out,
          files: [...written, ...Object.values(current).map((c) => c.file), ...bins],
          root: current.root ?? null,
          targets: current.targets ?? null,
          bins,
          pendingRegistrations: pending,
          olderVersions: older,
          contestedProjects: contested,
        });
        return EXIT.ok;
      }
      if (bins.length > 0) process.stdout.write(`wrote ${bins.length} bins to ${path.join(out, 'bins')}\n`);
      process.stdout.write(
        `wrote status.json, online-keys.json, registrations.json (${pending} pending)` +
          Object.entries(current)
            .map(([role, c]) => `, ${role} v${c.version} (${c.file})`)
            .join('') +
          ` to ${out}\n`,
      );
      if (older.length > 0)
        process.stdout.write(
          `note: ${out} also holds older versions from an earlier pull (${older.map((f) => path.relative(out, f)).join(', ')}); ` +
            'the next ceremony starts from the versions named above\n',
        );
      for (const c of contested) {
        process.stdout.write(
          `CONTESTED: ${c.project}: ${c.registrations.length} registrations from different identities; \`tuf-offline delegate --registrations\` refuses it until you choose with --accept ID\n`,
        );
        for (const r of c.registrations)
          process.stdout.write(
            `  registration ${r.id}: ${r.identity} at ${r.issuer}, requested ${r.requestedAt}${r.project !== c.project ? ` (for ${r.project})` : ''}\n`,
          );
      }
      return EXIT.ok;
    }
    default:
      return unknownCommand(command, Object.keys(COMMAND_OPTIONS));
  }
}

runTool('tuf-carry', process.argv.slice(2), () => main(process.argv.slice(2)));
