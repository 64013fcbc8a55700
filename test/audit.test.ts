// `tuf-server audit verify` fails when it checked nothing (issue 22): an empty or wrong database,
// or one never bootstrapped, is a failure that names the database, never "0 problems". The
// development-mode case (beside a running server) is in test/devFolders.test.ts.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import pg from 'pg';
import { createKnex, migrateLatest } from '../server/db/knex.ts';
import { runCli } from './helpers/cli.ts';
import { createTestDatabase } from './helpers/db.ts';

let db: { url: string; drop(): Promise<void> };

before(async () => {
  db = await createTestDatabase();
});

after(async () => {
  await db.drop();
});

function audit(databaseUrl: string) {
  return runCli('server/main.ts', ['audit', 'verify'], { DATABASE_URL: databaseUrl, DEV_SIGSTORE: 'false' });
}

async function tableCount(url: string): Promise<number> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const res = await client.query("select count(*)::int as n from information_schema.tables where table_schema = 'public'");
    return res.rows[0].n as number;
  } finally {
    await client.end();
  }
}

test('an empty database: exit 1, no_repository, the database named without its password, and left as it was', async () => {
  const u = new URL(db.url);
  assert.ok(u.password, 'the test database URL carries a password');
  const res = await audit(db.url);
  assert.equal(res.status, 1, res.stdout + res.stderr);
  const shown = new URL(db.url);
  shown.password = '';
  assert.ok(res.stdout.includes(`database: ${shown.toString()} (DATABASE_URL)`), res.stdout);
  assert.equal(res.stdout.includes(decodeURIComponent(u.password)), false, 'no password in the output');
  assert.match(res.stdout, /^0 versions checked, 0 problem\(s\)$/m);
  assert.match(res.stdout, /^audit verify: FAILED \(no_repository\): this database holds no repository/m);
  assert.equal(await tableCount(db.url), 0, 'the audit ran no migration');
});

test('a database with the schema but no root: exit 1, not_bootstrapped', async () => {
  const knex = createKnex(db.url, 1);
  try {
    await migrateLatest(knex);
  } finally {
    await knex.destroy();
  }
  const res = await audit(db.url);
  assert.equal(res.status, 1, res.stdout + res.stderr);
  assert.match(res.stdout, /^audit verify: FAILED \(not_bootstrapped\): /m);
});

test('a database name that does not exist in the cluster: exit 1, no_repository, and only the clean lines (no stack trace)', async () => {
  const u = new URL(db.url);
  u.pathname = '/t_no_such_database';
  const res = await audit(u.toString());
  assert.equal(res.status, 1, res.stdout + res.stderr);
  assert.match(res.stdout, /t_no_such_database \(DATABASE_URL\)/);
  assert.match(res.stdout, /^audit verify: FAILED \(no_repository\): no such database in this cluster$/m);
  const all = res.stdout + res.stderr;
  assert.equal(all.includes('Acquire connection error'), false, all);
  assert.doesNotMatch(all, /^\s+at /m, 'no stack trace');
  assert.deepEqual(
    res.stdout
      .trim()
      .split('\n')
      .map((l) => l.split(':')[0]),
    ['database', 'sigstore trusted root', '0 versions checked, 0 problem(s)', 'audit verify'],
  );
  assert.equal(res.stderr, '');
});
