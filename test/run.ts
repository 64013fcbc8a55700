// Test entry point: one throwaway PostgreSQL cluster for the whole run (fsync off), then node's
// test runner over every *.test.ts; each test file creates its own database in that cluster.
// When a selected test uses object storage (test/helpers/s3.ts), a one-node Ceph cluster with its
// S3 gateway runs for the whole run too (local-services/ceph.ts); each such file makes its own buckets.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startEmbeddedPostgres } from '../server/db/embeddedPostgres.ts';
import { startLocalS3 } from '../local-services/ceph.ts';

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
const needsS3 = files.some((f) => fs.readFileSync(f, 'utf8').includes('helpers/s3.ts'));
const [pg, s3] = await Promise.all([
  startEmbeddedPostgres({ dataDir: path.join(clusterDir, 'data'), fsync: false }),
  needsS3 ? startLocalS3({ dir: path.join(clusterDir, 'ceph') }) : null,
]);
const logDir = path.join(clusterDir, 'logs');
fs.mkdirSync(logDir);

const child = spawn(process.execPath, ['--import', 'tsx', '--test', '--test-concurrency=2', ...files], {
  stdio: 'inherit',
  env: {
    ...process.env,
    TEST_PG_ADMIN_URL: pg.url,
    TEST_LOG_DIR: logDir,
    ...(s3 ? { TEST_S3_ENV: JSON.stringify(s3.env), TEST_CEPH_CONF: s3.conf } : {}),
  },
});
const code: number = await new Promise((resolve) => child.on('exit', (c, signal) => resolve(c ?? (signal ? 1 : 0))));
await pg.stop();
await s3?.stop();

// Tokens, OIDC tokens and private keys must never reach a log: scan every server log of the run.
const secrets = new Set<string>();
const logFiles = fs.readdirSync(logDir).filter((f) => f.endsWith('.log'));
for (const f of fs.readdirSync(logDir).filter((n) => n.startsWith('secrets-'))) {
  for (const line of fs.readFileSync(path.join(logDir, f), 'utf8').split('\n'))
    if (line) secrets.add(Buffer.from(line, 'base64').toString('utf8'));
}
let leaks = 0;
let logBytes = 0;
for (const f of logFiles) {
  const text = fs.readFileSync(path.join(logDir, f), 'utf8');
  logBytes += text.length;
  for (const secret of secrets) {
    // PEM keys are matched on their base64 body lines, which is what a log would contain.
    const needles = secret.includes('-----') ? secret.split('\n').filter((l) => l.length > 40) : [secret];
    if (needles.some((n) => text.includes(n) || text.includes(JSON.stringify(n).slice(1, -1)))) {
      leaks += 1;
      process.stderr.write(`log scan: a secret appears in ${f}\n`);
    }
  }
}
process.stdout.write(`log scan: ${logFiles.length} server logs (${logBytes} bytes) checked for ${secrets.size} secrets: ${leaks} found\n`);
if (filter.length === 0 && (logFiles.length === 0 || secrets.size === 0)) {
  process.stderr.write('log scan: nothing was scanned; the logging or secret recording is broken\n');
  leaks += 1;
}
fs.rmSync(clusterDir, { recursive: true, force: true });
process.exit(code !== 0 ? code : leaks > 0 ? 1 : 0);
