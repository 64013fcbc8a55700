// Production refuses development state (issue 19, part 5), with real server processes: a database
// the development ceremony set up does not start under --production (the error says what to do),
// and an admin token development mode created never authenticates in production, even on a
// database a development server once ran against.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { AdminTokens } from '../server/admin/adminTokens.ts';
import { mustRun, runCli } from './helpers/cli.ts';
import { createTestDatabase } from './helpers/db.ts';
import { bootstrapped } from './helpers/repo.ts';
import { recordSecret } from './helpers/secrets.ts';
import { startServerProcess } from './helpers/serverProcess.ts';

const dbs: { url: string; drop(): Promise<void> }[] = [];
let home: string;

before(() => {
  home = fs.mkdtempSync(path.join(os.tmpdir(), 'tuf-production-'));
});
after(async () => {
  for (const db of dbs) await db.drop();
});

async function adminStatus(url: string, token: string): Promise<number> {
  return (await fetch(`${url}/admin/status`, { headers: { authorization: `Bearer ${token}` } })).status;
}

test('a database the development ceremony set up: production refuses to start and says what to do', async () => {
  const db = await createTestDatabase();
  dbs.push(db);
  const dir = path.join(home, 'dev-ceremony');
  const dev = await startServerProcess({ DATABASE_URL: db.url, TUF_HOME: dir, LOG_LEVEL: 'warn' });
  const token = fs.readFileSync(path.join(dir, '.dev', 'admin-token'), 'utf8').trim();
  recordSecret(token);
  assert.equal(await adminStatus(dev.url, token), 200, 'the development server takes its own token');
  await dev.stop();

  const res = await runCli('server/main.ts', ['start', '--production'], {
    DATABASE_URL: db.url,
    TUF_HOME: dir,
    PORT: '0',
    LOG_LEVEL: 'warn',
  });
  assert.equal(res.status, 1, res.stdout);
  assert.match(res.stderr, /production mode refuses this database: development mode set it up/);
  assert.match(res.stderr, /Run a real offline key ceremony on a fresh database/);
});

test('a development admin token never authenticates in production', async () => {
  // A real (non-development) bootstrap, then a development server run against the same database.
  const db = await createTestDatabase();
  dbs.push(db);
  const dir = path.join(home, 'shared');
  const { t } = await bootstrapped({ databaseUrl: db.url, home: dir });
  await t.close();
  const dev = await startServerProcess({ DATABASE_URL: db.url, TUF_HOME: dir, LOG_LEVEL: 'warn' });
  const devToken = fs.readFileSync(path.join(dir, '.dev', 'admin-token'), 'utf8').trim();
  recordSecret(devToken);
  assert.equal(await adminStatus(dev.url, devToken), 200);
  await dev.stop();

  const env = { NODE_ENV: 'production', DATABASE_URL: db.url, TUF_HOME: dir, LOG_LEVEL: 'warn' };
  const opsToken = (await mustRun('server/main.ts', ['admin-token', 'create', '--name', 'ops'], env)).trim();
  recordSecret(opsToken);
  const list = await mustRun('server/main.ts', ['admin-token', 'list'], env);
  assert.match(list, /^dev-\d+\t.*development \(never accepted in production\)$/m);
  assert.match(list, /^ops\t.*active$/m);
  const production = await startServerProcess(env);
  try {
    assert.equal(await adminStatus(production.url, devToken), 401, 'the development token is refused');
    assert.equal(await adminStatus(production.url, opsToken), 200, 'a production token works');
  } finally {
    await production.stop();
  }
});

test('AdminTokens: development tokens are refused by a production instance only', async () => {
  const db = await createTestDatabase();
  dbs.push(db);
  const { t } = await bootstrapped({ databaseUrl: db.url, home: path.join(home, 'unit') });
  try {
    const devToken = await t.repo.tokens.create('dev-1', { development: true });
    recordSecret(devToken);
    assert.equal(await new AdminTokens(t.repo.knex).authenticate(devToken), 'admin-token:dev-1');
    assert.equal(await new AdminTokens(t.repo.knex, { production: true }).authenticate(devToken), null);
    assert.match((await new AdminTokens(t.repo.knex, { production: true }).authenticate(t.adminToken)) ?? '', /^admin-token:test-/);
  } finally {
    await t.close();
  }
});
