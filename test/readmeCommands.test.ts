// README's command table lists every command of every tool, as each tool's own `--help` lists them
// (issue 22): a command added to a tool and not to the table, or a table entry no tool has, fails.
// Both sides are read, never written down here, so the test follows the tools as they change.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { mustRun } from './helpers/cli.ts';

const repo = path.resolve(import.meta.dirname, '..');
const ENTRY: Record<string, string> = {
  'tuf-server': 'server/main.ts',
  'tuf-offline': 'keys-offline/main.ts',
  'tuf-carry': 'carry/main.ts',
  'tuf-maintainer': 'maintainer/main.ts',
  'tuf-client': 'client/main.ts',
  'tuf-auditor': 'auditor/main.ts',
};
const WORD = /^[a-z][a-z0-9:-]*$/;

/** The leading lowercase words of a usage line or README entry: `online-keys rotate ROLE` -> `online-keys rotate`. */
function commandWords(text: string): string[] {
  const words: string[] = [];
  for (const token of text.trim().split(/\s+/)) {
    if (!WORD.test(token.replace(/\//g, ''))) break;
    words.push(token);
  }
  return words;
}

/**
 * The commands a `--help` lists: under "Commands:", up to the first blank line, each line indented
 * by exactly two spaces starts one; its command column ends at a run of two spaces.
 */
function helpCommands(help: string): Set<string> {
  const lines = help.split('\n');
  const start = lines.findIndex((l) => l.trim() === 'Commands:');
  assert.ok(start >= 0, 'the help has a "Commands:" section');
  const out = new Set<string>();
  for (const line of lines.slice(start + 1)) {
    if (line.trim() === '') break;
    if (!/^ {2}[^ ]/.test(line)) continue; // the lines describing the command above
    const words = commandWords(line.slice(2).split(/ {2,}/)[0]!);
    assert.ok(words.length > 0, `a command line starts with a command: ${JSON.stringify(line)}`);
    out.add(words.join(' '));
  }
  return out;
}

/** The commands README's table lists for each tool: the backticked entries after the colon, `a b/c` meaning `a b` and `a c`. */
function readmeCommands(readme: string): Map<string, Set<string>> {
  const heading = /^## Commands$/m.exec(readme);
  assert.ok(heading, 'README has a "## Commands" section');
  const section = readme.slice(heading.index);
  const table = section.slice(0, section.indexOf('\n\n', section.indexOf('| --- |')));
  const out = new Map<string, Set<string>>();
  for (const row of table.split('\n')) {
    const cells = row.split('|').map((c) => c.trim());
    const tool = /^`(tuf-[a-z]+)`/.exec(cells[1] ?? '')?.[1];
    if (!tool) continue;
    const listed = cells[2]!.slice(cells[2]!.indexOf(':') + 1);
    const commands = new Set<string>();
    for (const [, entry] of listed.matchAll(/`([^`]+)`/g)) {
      const words = commandWords(entry!);
      assert.ok(words.length > 0, `${tool}: ${entry} names a command`);
      const last = words.pop()!;
      for (const alternative of last.split('/')) commands.add([...words, alternative].join(' '));
    }
    out.set(tool, commands);
  }
  return out;
}

const sorted = (s: Set<string>) => [...s].sort();

test("README's command table lists exactly the commands each tool's --help lists", async () => {
  const bins = Object.keys((JSON.parse(fs.readFileSync(path.join(repo, 'package.json'), 'utf8')) as { bin: Record<string, string> }).bin);
  const table = readmeCommands(fs.readFileSync(path.join(repo, 'README.md'), 'utf8'));
  assert.deepEqual([...table.keys()].sort(), [...bins].sort(), 'one row per tool of package.json "bin"');
  for (const tool of bins) {
    const entry = ENTRY[tool];
    assert.ok(entry, `${tool}: add its entry point to this test`);
    const help = helpCommands(await mustRun(entry, ['--help']));
    const listed = table.get(tool)!;
    const missing = sorted(help).filter((c) => !listed.has(c));
    const extra = sorted(listed).filter((c) => !help.has(c));
    assert.deepEqual({ missing, extra }, { missing: [], extra: [] }, `${tool}: README's table against \`${tool} --help\``);
  }
});

test('the parsers read what they are meant to', () => {
  const help = `x: a tool

Commands:
  start [--production]         Serve.
                               More about start.
  online-keys rotate ROLE      Rotate.
  push FILE [--with-targets T]
      Upload.
  push BIN.json ...
  migrate:down                 Revert.

Identity:
  --token-file FILE            not a command
`;
  assert.deepEqual(sorted(helpCommands(help)), ['migrate:down', 'online-keys rotate', 'push', 'start']);
  const readme = `## Commands

| command | what it does |
| --- | --- |
| \`tuf-x\` (\`npm run x -- …\`) | things: \`a\`, \`b c/d\`, \`gc [--dry-run]\`, \`audit verify [--data-dir DIR]\` |

after`;
  assert.deepEqual(sorted(readmeCommands(readme).get('tuf-x')!), ['a', 'audit verify', 'b c', 'b d', 'gc']);
});
