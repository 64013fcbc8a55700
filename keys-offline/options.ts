// The command line of tuf-offline: the options every command shares, and the small readers of
// option values (thresholds, keys, --add, the bin layout) that several commands use.
import fs from 'node:fs';
import { checkBinCount, type BinLayout } from '../core/bins.ts';
import { isPlainObject } from '../core/canonical.ts';
import { readPublicKey } from '../core/keyFile.ts';
import type { TufKey } from '../core/keys.ts';
import { describeTarget, type Envelope, type TargetEntry } from '../core/metadata.ts';
import { parseBinCount } from './bins.ts';
import { readJson } from './files.ts';
import { parseCommandLine as parseStrict, usage } from '../platform/cli.ts';

export { usage };

const OPTIONS = {
  name: { type: 'string' },
  type: { type: 'string' },
  out: { type: 'string' },
  from: { type: 'string' },
  key: { type: 'string' },
  root: { type: 'string' },
  previous: { type: 'string' },
  'online-keys': { type: 'string' },
  'root-key': { type: 'string', multiple: true },
  'root-threshold': { type: 'string' },
  'targets-key': { type: 'string', multiple: true },
  'targets-threshold': { type: 'string' },
  'add-root-key': { type: 'string', multiple: true },
  'remove-root-key': { type: 'string', multiple: true },
  'add-targets-key': { type: 'string', multiple: true },
  'remove-targets-key': { type: 'string', multiple: true },
  'expires-days': { type: 'string' },
  add: { type: 'string', multiple: true },
  remove: { type: 'string', multiple: true },
  project: { type: 'string' },
  identity: { type: 'string', multiple: true },
  issuer: { type: 'string', multiple: true },
  threshold: { type: 'string' },
  registrations: { type: 'string' },
  accept: { type: 'string', multiple: true },
  skip: { type: 'string', multiple: true },
  reserved: { type: 'string', multiple: true },
  bins: { type: 'string' },
  'bins-key': { type: 'string', multiple: true },
  'bins-threshold': { type: 'string' },
  'bins-out': { type: 'string' },
  delegator: { type: 'string' },
  json: { type: 'boolean' },
  'require-provenance': { type: 'string' },
  'provenance-issuer': { type: 'string' },
  'drop-provenance': { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

export function parseCommandLine(args: string[]) {
  return parseStrict(args, OPTIONS);
}

/** The options each command takes (its --help line); any other is refused as a usage error. */
export const COMMAND_OPTIONS: Record<string, readonly (keyof typeof OPTIONS)[]> = {
  keygen: ['name', 'type', 'out'],
  'init-root': ['out', 'online-keys', 'root-key', 'root-threshold', 'targets-key', 'targets-threshold', 'expires-days'],
  'bump-root': ['from', 'out', 'expires-days'],
  'edit-root': [
    'from',
    'out',
    'add-root-key',
    'remove-root-key',
    'root-threshold',
    'add-targets-key',
    'remove-targets-key',
    'targets-threshold',
    'online-keys',
    'expires-days',
  ],
  'init-targets': ['out', 'add', 'expires-days', 'bins-key', 'bins', 'bins-threshold', 'bins-out'],
  'edit-targets': ['from', 'out', 'add', 'remove', 'expires-days'],
  delegate: [
    'from',
    'out',
    'project',
    'bins',
    'threshold',
    'expires-days',
    'identity',
    'issuer',
    'registrations',
    'accept',
    'skip',
    'reserved',
    'require-provenance',
    'provenance-issuer',
    'drop-provenance',
  ],
  undelegate: ['from', 'out', 'project', 'bins', 'expires-days'],
  'bump-bins': ['bins', 'out', 'expires-days'],
  'migrate-to-bins': ['from', 'out', 'bins-key', 'bins', 'bins-threshold', 'expires-days'],
  sign: ['key', 'out'],
  merge: ['out'],
  status: ['root', 'delegator', 'previous'],
};

export type Values = ReturnType<typeof parseCommandLine>['values'];

/** What a command handler gets: its name, the parsed options, and one `now` for the whole run. */
export interface CommandContext {
  command: string;
  values: Values;
  positionals: string[];
  now: Date;
}

export type CommandHandler = (ctx: CommandContext) => Promise<number> | number;

export function fail(message: string): never {
  throw new Error(message);
}

export { OfflineError, type OfflineErrorCode } from './errors.ts';

/** Writes lines to stdout, each ending in a newline. */
export function say(...lines: string[]): void {
  process.stdout.write(lines.map((l) => `${l}\n`).join(''));
}

export function threshold(value: string | undefined, keys: number, role: string): number {
  const n = value === undefined ? 1 : Number(value);
  if (!Number.isInteger(n) || n < 1 || n > keys)
    usage(`--${role}-threshold must be between 1 and the number of --${role}-key options (${keys})`);
  return n;
}

export function readKeys(files: string[] | undefined, option: string): TufKey[] {
  if (!files || files.length === 0) usage(`give at least one ${option}`);
  return files.map((f) => readPublicKey(readJson(f), f).public);
}

export function parseAdds(adds: string[] | undefined): Record<string, TargetEntry> {
  const out = new Map<string, TargetEntry>();
  for (const spec of adds ?? []) {
    const eq = spec.indexOf('=');
    if (eq <= 0) usage(`--add takes PATH=LOCALFILE, got ${spec}`);
    const targetPath = spec.slice(0, eq);
    const local = spec.slice(eq + 1);
    out.set(targetPath, describeTarget(fs.readFileSync(local)));
  }
  return Object.fromEntries(out); // own properties, whatever the path ("__proto__" too)
}

/** The {"snapshot", "timestamp"} public keys of `tuf-server online-keys show`. */
export function readOnlineKeys(file: string): { snapshot: TufKey; timestamp: TufKey } {
  const online = readJson(file);
  if (!isPlainObject(online)) fail('--online-keys: expected {"snapshot": key, "timestamp": key}');
  return {
    snapshot: readPublicKey(online.snapshot, 'online-keys snapshot').public,
    timestamp: readPublicKey(online.timestamp, 'online-keys timestamp').public,
  };
}

export function unsigned(signed: Envelope['signed']): Envelope {
  return { signed, signatures: [] };
}

/** The bin layout from --bins-key (repeatable), --bins and --bins-threshold. */
export function binLayoutOption(values: Values): BinLayout {
  const keys = readKeys(values['bins-key'], '--bins-key');
  const count = parseBinCount(values.bins);
  try {
    checkBinCount(count);
  } catch (err) {
    usage(`--bins: ${(err as Error).message}`);
  }
  return { count, keys, threshold: threshold(values['bins-threshold'], keys.length, 'bins') };
}
