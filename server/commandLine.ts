// The command line of tuf-server, checked before anything is started, created or connected to:
// an unknown command or subcommand, an option the command does not take, a missing --name are
// usage errors (exit 2) found with no database opened and no folder made.
import { checkOptions, parseCommandLine, unknownCommand, usage } from '../platform/cli.ts';

const OPTIONS = {
  production: { type: 'boolean' },
  /** start: server processes (config.ts reads it, beside WEB_CONCURRENCY). */
  workers: { type: 'string' },
  name: { type: 'string' },
  'dry-run': { type: 'boolean' },
  'data-dir': { type: 'string' },
  json: { type: 'boolean' },
  mirror: { type: 'string' },
  out: { type: 'string' },
  replace: { type: 'boolean' },
  'snapshot-version': { type: 'string' },
  'timestamp-version': { type: 'string' },
  to: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

/**
 * Each command: its subcommands (none: takes none) or the one operand it needs instead (restore
 * FILE), the options it takes, which take --json.
 */
interface CommandSpec {
  subs?: readonly string[];
  operand?: string;
  options: readonly (keyof typeof OPTIONS)[];
  json?: readonly string[];
}

const COMMANDS: Record<string, CommandSpec> = {
  start: { options: ['production', 'workers', 'mirror'] },
  migrate: { options: ['production'] },
  'migrate:down': { options: ['production'] },
  'online-keys': { subs: ['show', 'create', 'rotate'], options: ['production'], json: ['show'] },
  'admin-token': { subs: ['create', 'list', 'revoke'], options: ['production', 'name'], json: ['list'] },
  gc: { options: ['production', 'dry-run'] },
  audit: { subs: ['verify'], options: ['production', 'data-dir', 'mirror'], json: ['verify'] },
  // Restore safety (issue 16): server/recoveryCommand.ts; the sources start uses: server/recovery/sources.ts.
  backup: { options: ['production', 'out'] },
  restore: { operand: 'FILE', options: ['production', 'replace'] },
  recover: { options: ['production', 'mirror', 'snapshot-version', 'timestamp-version'] },
  blobs: { subs: ['migrate'], options: ['production', 'to', 'dry-run'], json: ['migrate'] },
  'publish-to': { subs: ['status', 'stop'], options: ['production'], json: ['status'] },
};

export interface ServerCommandLine {
  command: string | undefined;
  sub: string | undefined;
  /** What follows the subcommand (online-keys rotate ROLE). */
  rest: string[];
  help: boolean;
  name: string | undefined;
  dryRun: boolean;
  dataDir: string | undefined;
  json: boolean;
  /** A mirror's metadata URL (start, recover, audit verify). */
  mirror: string | undefined;
  /** backup --out FILE. */
  out: string | undefined;
  /** restore --replace. */
  replace: boolean;
  /** recover --snapshot-version N / --timestamp-version M. */
  snapshotVersion: number | undefined;
  timestampVersion: number | undefined;
  /** blobs migrate --to URL */
  to: string | undefined;
}

/** A version number given on the command line: a positive integer, or a usage error. */
function versionOption(name: string, raw: string | undefined): number | undefined {
  if (raw === undefined) return undefined;
  if (!/^[1-9]\d{0,14}$/.test(raw)) usage(`--${name} needs a version number (a positive integer), got ${JSON.stringify(raw)}`);
  return Number(raw);
}

export function parseServerCommandLine(argv: string[]): ServerCommandLine {
  const { values, positionals } = parseCommandLine(argv, OPTIONS);
  const [command, sub, ...rest] = positionals;
  const parsed: ServerCommandLine = {
    command,
    sub,
    rest,
    help: values.help === true || command === 'help',
    name: values.name,
    dryRun: values['dry-run'] === true,
    dataDir: values['data-dir'],
    json: values.json === true,
    mirror: values.mirror,
    out: values.out,
    replace: values.replace === true,
    snapshotVersion: versionOption('snapshot-version', values['snapshot-version']),
    timestampVersion: versionOption('timestamp-version', values['timestamp-version']),
    to: values.to,
  };
  if (parsed.help || command === undefined) return parsed;
  const spec = Object.hasOwn(COMMANDS, command) ? COMMANDS[command]! : unknownCommand(command, Object.keys(COMMANDS));
  const shape = `tuf-server ${command}${spec.subs ? ` ${spec.subs.join('|')}` : ''}`;
  if (spec.subs) {
    if (sub === undefined) usage(`${command} needs a subcommand: ${shape}`);
    if (!spec.subs.includes(sub)) usage(`unknown subcommand ${JSON.stringify(sub)} of ${command}: ${shape}`);
  } else if (spec.operand) {
    if (sub === undefined) usage(`${command} needs ${spec.operand}: tuf-server ${command} ${spec.operand}`);
    if (rest.length > 0) usage(`${command} takes one ${spec.operand} (got ${positionals.slice(1).join(' ')})`);
  } else if (sub !== undefined) usage(`${command} takes no argument (got ${positionals.slice(1).join(' ')})`);
  const where = spec.subs ? `${command} ${sub}` : command;
  checkOptions('tuf-server', where, values, spec.options);
  if (parsed.json && !spec.json?.includes(sub ?? '')) usage(`--json goes with ${jsonCommands().join(', ')}`);
  if (command === 'admin-token' && sub !== 'list' && !parsed.name) usage(`admin-token ${sub} needs --name NAME`);
  if (command === 'admin-token' && sub === 'list' && parsed.name) usage('admin-token list takes no --name');
  if (command === 'backup' && !parsed.out) usage('backup needs --out FILE');
  if (command === 'blobs' && !parsed.to) usage('blobs migrate needs --to s3://BUCKET[/PREFIX] (or --to postgres)');
  if (command === 'online-keys') {
    const roleNeeded = sub === 'rotate';
    if (roleNeeded && (rest.length !== 1 || (rest[0] !== 'snapshot' && rest[0] !== 'timestamp')))
      usage('online-keys rotate needs the role: tuf-server online-keys rotate snapshot|timestamp');
    if (!roleNeeded && rest.length > 0) usage(`online-keys ${sub} takes no argument (got ${rest.join(' ')})`);
  } else if (rest.length > 0) usage(`${where} takes no argument (got ${rest.join(' ')})`);
  return parsed;
}

function jsonCommands(): string[] {
  return Object.entries(COMMANDS).flatMap(([command, spec]) => (spec.json ?? []).map((sub) => `${command} ${sub}`));
}
