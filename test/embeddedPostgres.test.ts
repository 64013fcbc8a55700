import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import pg from 'pg';
import { startEmbeddedPostgres } from '../server/db/embeddedPostgres.ts';

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

test('a cluster restarts on its data directory with its password, on another free port', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tuf-pg-restart-'));
  fs.chmodSync(dir, 0o755);
  const first = await startEmbeddedPostgres({ dataDir: path.join(dir, 'data'), fsync: false });
  const c1 = new pg.Client(first.url);
  await c1.connect();
  await c1.query('create table kept (v int); insert into kept values (42)');
  await c1.end();
  await first.stop();
  assert.equal(await accepts(first.port), false);
  const second = await startEmbeddedPostgres({ dataDir: path.join(dir, 'data'), fsync: false });
  const c2 = new pg.Client(second.url);
  await c2.connect();
  assert.equal((await c2.query('select v from kept')).rows[0].v, 42);
  await c2.end();
  await second.stop();
  fs.rmSync(dir, { recursive: true, force: true });
});

test('the postmaster shuts down when its parent process is killed with SIGKILL', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tuf-pg-orphan-'));
  fs.chmodSync(dir, 0o755);
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', path.join(import.meta.dirname, 'helpers', 'pgChild.ts'), path.join(dir, 'data')],
    {
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  const port: number = await new Promise((resolve, reject) => {
    child.stdout.once('data', (d) => resolve(Number(String(d).trim())));
    child.once('exit', () => reject(new Error('child exited early')));
  });
  assert.equal(await accepts(port), true);
  child.kill('SIGKILL');
  const deadline = Date.now() + 15_000;
  while ((await accepts(port)) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  assert.equal(await accepts(port), false, 'postmaster still listening after its parent died');
  fs.rmSync(dir, { recursive: true, force: true });
});

test('EMBEDDED_PG_PORT: the server opens its embedded PostgreSQL on that port, and refuses what is not a port', async () => {
  const { loadConfig } = await import('../server/config.ts');
  const { openDatabase } = await import('../server/runtime.ts');
  const { freePort } = await import('../server/db/embeddedPostgres.ts');
  const pino = (await import('pino')).default;
  assert.throws(() => loadConfig({ EMBEDDED_PG_PORT: '70000' }), /EMBEDDED_PG_PORT must be a TCP port/);
  assert.throws(() => loadConfig({ EMBEDDED_PG_PORT: 'x' }), /EMBEDDED_PG_PORT must be an integer/);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tuf-pg-port-'));
  fs.chmodSync(dir, 0o755);
  const port = await freePort();
  const db = await openDatabase(loadConfig({ DATA_DIR: dir, EMBEDDED_PG_PORT: String(port) }), pino({ level: 'silent' }));
  try {
    assert.equal(db.embedded?.port, port);
    assert.ok(await accepts(port));
    assert.match(db.url, new RegExp(`@127\\.0\\.0\\.1:${port}/tuf$`));
  } finally {
    await db.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
