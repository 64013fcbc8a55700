// tuf-offline: the key ceremony tool. Works on files only and opens no network connection; move
// files to and from the server with tuf-carry on a connected machine. Each group of commands has
// its module; this file reads the command line and dispatches.
import { delegateCommand } from './delegateCommands.ts';
import { HELP } from './help.ts';
import { OfflineError, parseCommandLine, type CommandHandler } from './options.ts';
import { bumpRoot, editRoot, initRoot, keygen } from './rootCommands.ts';
import { merge, sign, status } from './signCommands.ts';
import { bumpBins, editTargets, initTargets, migrate } from './targetsCommands.ts';

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

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (!command || command === '--help' || command === '-h' || command === 'help') {
    process.stdout.write(HELP);
    return 0;
  }
  const { values, positionals } = parseCommandLine(rest);
  if (values.help) {
    process.stdout.write(HELP);
    return 0;
  }
  const handler = COMMANDS.get(command);
  if (!handler) throw new Error(`unknown command ${command}; see --help`);
  return handler({ command, values, positionals, now: new Date() });
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: Error) => {
    process.stderr.write(`tuf-offline: ${err.message}${err instanceof OfflineError ? ` [${err.code}]` : ''}\n`);
    process.exit(1);
  },
);
