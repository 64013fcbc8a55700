// The checks `npm test` runs before the tests: lint (eslint, prettier, file sizes) and the type
// check, side by side rather than one after another (each uses one core). Exits 1 if any fails,
// with the output of each failed check.
import { spawn } from 'node:child_process';
import path from 'node:path';

const root = path.resolve(import.meta.dirname, '..');
const bin = (name) => path.join(root, 'node_modules', '.bin', name);
const checks = [
  ['eslint', bin('eslint'), ['.']],
  ['prettier', bin('prettier'), ['--check', '.', '--log-level', 'warn']],
  ['file sizes', process.execPath, [path.join(root, 'scripts', 'checkFileSizes.mjs')]],
  ['tsc', bin('tsc'), ['-p', '.']],
];

const results = await Promise.all(
  checks.map(
    ([name, command, args]) =>
      new Promise((resolve) => {
        const child = spawn(command, args, { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
        let output = '';
        child.stdout.on('data', (d) => (output += d));
        child.stderr.on('data', (d) => (output += d));
        child.on('error', (err) => resolve({ name, code: 1, output: `${output}${err.message}\n` }));
        child.on('close', (code) => resolve({ name, code, output }));
      }),
  ),
);
let failed = 0;
for (const { name, code, output } of results) {
  if (code === 0) {
    process.stdout.write(`${name}: ok\n`);
    continue;
  }
  failed += 1;
  process.stdout.write(`${name}: failed (exit ${code})\n${output}`);
}
process.exit(failed > 0 ? 1 : 0);
