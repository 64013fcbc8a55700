import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';

const root = path.resolve(import.meta.dirname, '..');
const haveCompose = spawnSync('docker-compose', ['version'], { encoding: 'utf8' }).status === 0;

// CI installs docker-compose (.ci/run); a developer machine without it skips this check.
test(
  'docker-compose accepts docker-compose.yml (skipped only outside CI when docker-compose is absent)',
  { skip: !haveCompose && process.env.CI !== 'true' },
  () => {
    const res = spawnSync('docker-compose', ['-f', path.join(root, 'docker-compose.yml'), 'config', '-q'], {
      encoding: 'utf8',
      env: { ...process.env, POSTGRES_PASSWORD: 'check-only' },
    });
    assert.equal(res.status, 0, res.stderr);
  },
);

test('the server image runs as a non-root user with production settings', () => {
  const dockerfile = fs.readFileSync(path.join(root, 'Dockerfile'), 'utf8');
  assert.match(dockerfile, /^USER node$/m);
  assert.match(dockerfile, /NODE_ENV=production/);
  assert.match(dockerfile, /npm ci --omit=dev/);
});
