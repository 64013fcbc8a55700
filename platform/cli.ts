// What the five command-line tools share (issue 17, items 8, 9 and 11): one exit status convention,
// usage errors that say they are usage errors and point to --help (an unknown command, an unknown
// option, an option another command takes), and --json errors for scripts.
import { parseArgs } from 'node:util';

/** The exit status of every tool: documented in each --help (exitStatusHelp) and in README. */
export const EXIT = {
  ok: 0,
  /** Could not do it: a file, the network, the server refused, the database. */
  failure: 1,
  /** The command line: an unknown command or option, a missing or conflicting argument. Nothing was done. */
  usage: 2,
  /** A check this command makes did not pass: a threshold not met, a download that does not verify. */
  refused: 3,
} as const;

export type ExitStatus = (typeof EXIT)[keyof typeof EXIT];

/** Words of `text` in lines of at most `width` characters, each after `indent`. */
function wrap(text: string, width: number, indent: string): string {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(/\s+/).filter(Boolean)) {
    if (line && line.length + 1 + word.length > width) {
      lines.push(line);
      line = word;
    } else line = line ? `${line} ${word}` : word;
  }
  if (line) lines.push(line);
  return lines.join(`\n${indent}`);
}

/** The "Exit status" section of a --help; `refused` says what status 3 means for this tool (or that it never uses it). */
export function exitStatusHelp(refused: string): string {
  return `Exit status (one convention for tuf-server, tuf-offline, tuf-carry, tuf-maintainer, tuf-client, tuf-auditor):
  0  done
  1  failed: a file, the network, the database, or the server refused the request
  2  usage: an unknown command or option, or a missing or conflicting argument; nothing was done
  3  ${wrap(`refused by verification: ${refused}`, 92, '     ')}
`;
}

/** A mistake on the command line: exit status 2, and the message points to --help. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
  readonly code = 'usage';
}

export function usage(message: string): never {
  throw new UsageError(message);
}

type OptionSpec = { type: 'string' | 'boolean'; multiple?: boolean; short?: string };

/** Edit distance counting a swap of two neighbours as one edit ("fecth" is one from "fetch"), for "did you mean". */
function distance(a: string, b: string): number {
  const d = Array.from({ length: a.length + 1 }, (_, i) => Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const row = d[i]!;
      row[j] = Math.min(d[i - 1]![j]! + 1, row[j - 1]! + 1, d[i - 1]![j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) row[j] = Math.min(row[j]!, d[i - 2]![j - 2]! + 1);
    }
  }
  return d[a.length]![b.length]!;
}

/** ` (did you mean X?)` when one candidate is close to `given`, else ''. */
export function didYouMean(given: string, candidates: Iterable<string>): string {
  const list = [...candidates];
  const longer = list.filter((c) => c.startsWith(given));
  if (longer.length === 1) return ` (did you mean ${longer[0]}?)`;
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const c of list) {
    const d = distance(given, c);
    if (d < bestDistance) [best, bestDistance] = [c, d];
  }
  return best !== undefined && bestDistance <= Math.max(1, Math.floor(given.length / 3)) ? ` (did you mean ${best}?)` : '';
}

/**
 * node's parseArgs, strict, with its refusals turned into usage errors that name the option:
 * `unknown option --severs (did you mean --server?)` instead of node's advice about positionals.
 */
export function parseCommandLine<O extends Record<string, OptionSpec>>(args: string[], options: O) {
  try {
    return parseArgs({ args, options, allowPositionals: true, strict: true });
  } catch (err) {
    const { code, message } = err as { code?: string; message: string };
    const option = /'(-[^' ]+)/.exec(message)?.[1] ?? '';
    if (code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') {
      const known = Object.keys(options).map((o) => `--${o}`);
      usage(`unknown option ${option}${option.startsWith('--') ? didYouMean(option, known) : ''}`);
    }
    if (code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE')
      usage(/does not take an argument/.test(message) ? `option ${option} takes no value` : `option ${option} needs a value`);
    throw err;
  }
}

/**
 * Refuses options the command does not take (parseArgs knows only the tool's whole set): an option
 * of another command is a mistake, not something to ignore. `allowed` excludes --help and --json,
 * which every command takes.
 */
export function checkOptions(tool: string, command: string, values: Record<string, unknown>, allowed: readonly string[]): void {
  const extra = Object.keys(values).filter((o) => values[o] !== undefined && o !== 'help' && o !== 'json' && !allowed.includes(o));
  if (extra.length === 0) return;
  const takes = allowed.length ? `it takes ${allowed.map((o) => `--${o}`).join(', ')}` : 'it takes no options';
  usage(`\`${tool} ${command}\` does not take ${extra.map((o) => `--${o}`).join(', ')} (${takes})`);
}

/** An unknown command, said as such (with the closest one when there is one). */
export function unknownCommand(command: string, commands: Iterable<string>): never {
  return usage(`unknown command ${JSON.stringify(command)}${didYouMean(command, commands)}`);
}

export interface Failure {
  /** The message without the tool's name. */
  message: string;
  /** The stable code scripts branch on, printed as ` [code]`. */
  code?: string;
  exit: ExitStatus;
}

/**
 * Runs a tool's main: exits with what it returns, or prints its failure as one line on stderr
 * (`tool: message [code]`; usage errors end with the --help pointer) and exits with the failure's
 * status. With --json on the command line, the failure is also one JSON object on stdout
 * (`{"error": {"code", "message", "exitStatus"}}`). `classify` gives the status of a tool's own
 * error classes (verification refusals: 3); anything else is 1. `stayAlive`: a main that returns
 * while serving (tuf-server start) keeps the process running.
 */
export function runTool(
  tool: string,
  argv: string[],
  main: () => Promise<number | void>,
  classify: (err: Error) => Partial<Failure> = () => ({}),
  opts: { stayAlive?: boolean; redact?: (text: string) => string } = {},
): void {
  const redact = opts.redact ?? ((t: string) => t);
  main().then(
    (code) => {
      if (opts.stayAlive && code === undefined) return;
      process.exit(code ?? EXIT.ok);
    },
    (err: Error) => {
      const own = (err as { code?: unknown }).code;
      const c = classify(err);
      const exit = err instanceof UsageError ? EXIT.usage : (c.exit ?? EXIT.failure);
      // Our stable codes only (`threshold_not_met`), not node's (`ENOENT`, already in its message).
      const ownCode = typeof own === 'string' && /^[a-z][a-z0-9_]*$/.test(own) ? own : undefined;
      const code = err instanceof UsageError ? undefined : (c.code ?? ownCode);
      let message = redact(c.message ?? err.message);
      if (exit === EXIT.usage) message += `; see \`${tool} --help\``;
      process.stderr.write(`${tool}: ${message}${code ? ` [${code}]` : ''}\n`);
      if (argv.includes('--json'))
        process.stdout.write(
          `${JSON.stringify({ error: { code: code ?? (exit === EXIT.usage ? 'usage' : null), message, exitStatus: exit } })}\n`,
        );
      process.exit(exit);
    },
  );
}

/** Writes one JSON document to stdout (what --json prints). */
export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}
