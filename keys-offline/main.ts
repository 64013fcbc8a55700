// tuf-offline: the key ceremony tool. Works on files only and opens no network connection; move
// files to and from the server with tuf-carry on a connected machine. Each group of commands has
// its module; this file reads the command line and dispatches.
import { delegateCommand } from './delegateCommands.ts';
import { HELP } from './help.ts';
import { COMMAND_OPTIONS, parseCommandLine, usage, type CommandHandler } from './options.ts';
import { bumpRoot, editRoot, initRoot, keygen } from './rootCommands.ts';
import { merge, sign, status } from './signCommands.ts';
import { bumpBins, editTargets, initTargets, migrate } from './targetsCommands.ts';
import { checkOptions, EXIT, runTool, unknownCommand } from '../platform/cli.ts';

const COMMANDS = new Map<string, CommandHandler>([
  ['keygen', keygen],
  ['init-root', initRoot],
  ['bump-root', bumpRoot],
  ['edit-root', editRoot],
  ['init-targets', initTargets],
  ['edit-targets', editTargets],
  ['delegate', delegateCommand],
  ['undelegate', delegateCommand],
  ['bump-bins', bumpBins],
  ['migrate-to-bins', migrate],
  ['sign', sign],
  ['merge', merge],
  ['status', status],
]);

/** The commands that take FILE arguments; the others take only options. */
const FILE_COMMANDS = new Set(['sign', 'merge', 'status']);

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (!command || command === '--help' || command === '-h' || command === 'help') {
    process.stdout.write(HELP);
    return EXIT.ok;
  }
  const { values, positionals } = parseCommandLine(rest);
  if (values.help) {
    process.stdout.write(HELP);
    return EXIT.ok;
  }
  const handler = COMMANDS.get(command) ?? unknownCommand(command, COMMANDS.keys());
  checkOptions('tuf-offline', command, values, COMMAND_OPTIONS[command]!);
  if (values.json && command !== 'status') usage('--json goes with status');
  if (positionals.length > 0 && !FILE_COMMANDS.has(command))
    usage(`${command} takes its files as options (--from, --out, ...), not ${positionals.join(' ')}`);
  return handler({ command, values, positionals, now: new Date() });
}

// OfflineError refusals print their code (no_change, bin_not_pulled, ...) and exit 1.
runTool('tuf-offline', process.argv.slice(2), () => main(process.argv.slice(2)));
