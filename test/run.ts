// Test entry point: one throwaway PostgreSQL cluster for the whole run (fsync off), then node's
// test runner over every *.test.ts; each test file creates its own database in that cluster.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startEmbeddedPostgres } from '../server/db/embeddedPostgres.ts';

const testDir = path.dirname(fileURLToPath(import.meta.url));

function findTests(dir: string): string[] {
  const out: string[] = [];
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) out.push(...findTests(full));
    else if (entry.name.endsWith('.test.ts')) out.push(full);
  }
  return out.sort();
}

const filter = process.argv.slice(2);
const files = findTests(testDir).filter((f) => filter.length === 0 || filter.some((p) => f.includes(p)));
const clusterDir = fs.mkdtempSync(path.join(os.tmpdir(), 'tuf-test-pg-'));
fs.chmodSync(clusterDir, 0o755);
const pg = await startEmbeddedPostgres({ dataDir: path.join(clusterDir, 'data'), fsync: false });

const child = spawn(
  process.execPath,
  ['--import', 'tsx', '--test', '--test-concurrency=2', ...files],
  { stdio: 'inherit', env: { ...process.env, TEST_PG_ADMIN_URL: pg.url } },
);
const code: number = await new Promise((resolve) => child.on('exit', (c, signal) => resolve(c ?? (signal ? 1 : 0))));
await pg.stop();
fs.rmSync(clusterDir, { recursive: true, force: true });
process.exit(code);
