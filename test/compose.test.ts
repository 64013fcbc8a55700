import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
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
      env: { ...process.env, ...COMPOSE_ENV },
    });
    assert.equal(res.status, 0, res.stderr);
  },
);

// The settings docker-compose.yml asks for (issue 20: keys in the environment, the object store's credentials).
const COMPOSE_ENV = {
  POSTGRES_PASSWORD: 'check-only',
  S3_ACCESS_KEY_ID: 'check-only',
  S3_SECRET_ACCESS_KEY: 'check-only',
  TUF_SNAPSHOT_KEY: 'check-only',
  TUF_TIMESTAMP_KEY: 'check-only',
};

test(
  'docker-compose.yml has the shape of many nodes: server replicas with no shared disk behind a load balancer, PostgreSQL, an S3 service',
  { skip: !haveCompose && process.env.CI !== 'true' },
  () => {
    const res = spawnSync('docker-compose', ['-f', path.join(root, 'docker-compose.yml'), 'config'], {
      encoding: 'utf8',
      env: { ...process.env, ...COMPOSE_ENV },
    });
    assert.equal(res.status, 0, res.stderr);
    const services = spawnSync('docker-compose', ['-f', path.join(root, 'docker-compose.yml'), 'config', '--services'], {
      encoding: 'utf8',
      env: { ...process.env, ...COMPOSE_ENV },
    }).stdout.split('\n');
    for (const s of ['db', 's3', 'server', 'lb']) assert.ok(services.includes(s), s);
    // The server service's block: up to the next service or top-level key.
    const server = /\n {2}server:\n([\s\S]*?)(?=\n {2}\S|\n\S|$)/.exec(res.stdout)?.[1] ?? '';
    assert.match(server, /replicas: [2-9]/);
    for (const v of ['BLOB_STORE_URL: s3://', 'PUBLISH_TO: s3://', 'AWS_ENDPOINT_URL_S3:', 'TUF_SNAPSHOT_KEY:'])
      assert.ok(server.includes(v), v);
    assert.doesNotMatch(server, /volumes:/, 'replicas share no disk');
  },
);

test('the load balancer configuration is valid nginx (when nginx is installed)', { skip: spawnSync('nginx', ['-v']).status !== 0 }, () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tuf-lb-'));
  try {
    const conf = path.join(dir, 'nginx.conf');
    fs.writeFileSync(
      conf,
      `pid ${dir}/nginx.pid; error_log stderr; events {} http { access_log off; include ${path.join(root, 'deploy', 'nginx-lb.conf')}; }\n`,
    );
    const res = spawnSync('nginx', ['-t', '-c', conf, '-p', dir], { encoding: 'utf8' });
    assert.equal(res.status, 0, res.stderr);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('the server image runs as a non-root user with production settings', () => {
  const dockerfile = fs.readFileSync(path.join(root, 'Dockerfile'), 'utf8');
  assert.match(dockerfile, /^USER node$/m);
  assert.match(dockerfile, /NODE_ENV=production/);
  assert.match(dockerfile, /npm ci --omit=dev/);
});
