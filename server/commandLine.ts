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
  to: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

/** Each command: its subcommands (none: takes none), the options it takes, which take --json. */
interface CommandSpec {
  subs?: readonly string[];
  options: readonly (keyof typeof OPTIONS)[];
  json?: readonly string[];
}

const COMMANDS: Record<string, CommandSpec> = {
  start: { options: ['production', 'workers'] },
  migrate: { options: ['production'] },
  'migrate:down': { options: ['production'] },
  'online-keys': { subs: ['show', 'create', 'rotate'], options: ['production'], json: ['show'] },
  'admin-token': { subs: ['create', 'list', 'revoke'], options: ['production', 'name'], json: ['list'] },
  gc: { options: ['production', 'dry-run'] },
  audit: { subs: ['verify'], options: ['production', 'data-dir'], json: ['verify'] },
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
  /** blobs migrate --to URL */
  to: string | undefined;
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
    to: values.to,
  };
  if (parsed.help || command === undefined) return parsed;
  const spec = Object.hasOwn(COMMANDS, command) ? COMMANDS[command]! : unknownCommand(command, Object.keys(COMMANDS));
  const shape = `tuf-server ${command}${spec.subs ? ` ${spec.subs.join('|')}` : ''}`;
  if (spec.subs) {
    if (sub === undefined) usage(`${command} needs a subcommand: ${shape}`);
    if (!spec.subs.includes(sub)) usage(`unknown subcommand ${JSON.stringify(sub)} of ${command}: ${shape}`);
  } else if (sub !== undefined) usage(`${command} takes no argument (got ${positionals.slice(1).join(' ')})`);
  const where = spec.subs ? `${command} ${sub}` : command;
  checkOptions('tuf-server', where, values, spec.options);
  if (parsed.json && !spec.json?.includes(sub ?? '')) usage(`--json goes with ${jsonCommands().join(', ')}`);
  if (command === 'admin-token' && sub !== 'list' && !parsed.name) usage(`admin-token ${sub} needs --name NAME`);
  if (command === 'admin-token' && sub === 'list' && parsed.name) usage('admin-token list takes no --name');
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
