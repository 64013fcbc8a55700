// Part of `npm run lint`: no source file over 400 lines. Short modules whose names say what they
// hold; a file that outgrows this is holding more than one job.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';

const MAX_LINES = 400;
// Files named on the command line, else every tracked or new source file.
const named = process.argv.slice(2);
const files = (
  named.length > 0
    ? named.join('\n')
    : execFileSync('git', ['ls-files', '--cached', '--others', '--exclude-standard', '*.ts', '*.mjs', '*.js'], { encoding: 'utf8' })
)
  .split('\n')
  .filter((f) => f && fs.existsSync(f));
const long = files.map((file) => ({ file, lines: fs.readFileSync(file, 'utf8').split('\n').length })).filter((f) => f.lines > MAX_LINES);
for (const f of long) process.stderr.write(`${f.file}: ${f.lines} lines (at most ${MAX_LINES}): split it by job\n`);
if (long.length > 0) process.exit(1);
