// Debian's PgBouncer in front of a PostgreSQL, for tests and benchmarks of the server behind a
// connection pooler. Runs in the foreground as an unprivileged user (PgBouncer refuses root) with a
// parent-death signal, its files under one scratch folder.
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { freePort } from '../server/db/embeddedPostgres.ts';
import { ensureDebianPackages } from './debian.ts';

export interface PgBouncer {
  port: number;
  /** `url` with host and port replaced by the pooler's. */
  urlFor(url: string): string;
  /** The pooler's own console (SHOW POOLS, SHOW CONFIG), as the admin user. */
  adminUrl: string;
  log(): string;
  stop(): Promise<void>;
}

export interface PgBouncerOptions {
  /** A superuser URL of the PostgreSQL behind it (user and password are used for every server connection). */
  serverUrl: string;
  dir: string;
  poolMode: 'session' | 'transaction' | 'statement';
  /** Server connections per database and user (default 10). */
  poolSize?: number;
}

export function ensurePgBouncer(): void {
  ensureDebianPackages('/usr/sbin/pgbouncer', ['pgbouncer']);
}

export async function startPgBouncer(opts: PgBouncerOptions): Promise<PgBouncer> {
  ensurePgBouncer();
  const server = new URL(opts.serverUrl);
  const dir = path.resolve(opts.dir);
  fs.mkdirSync(dir, { recursive: true });
  fs.chmodSync(dir, 0o777);
  const port = await freePort();
  const user = decodeURIComponent(server.username);
  // auth_type = any: clients are not checked (the pooler listens on 127.0.0.1 only, for tests);
  // every server connection logs in as the configured user.
  const ini = `[databases]
* = host=${server.hostname} port=${server.port} user=${user} password=${decodeURIComponent(server.password)}

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = ${port}
unix_socket_dir =
auth_type = any
pool_mode = ${opts.poolMode}
default_pool_size = ${opts.poolSize ?? 10}
max_client_conn = 500
admin_users = ${user}
logfile = ${dir}/pgbouncer.log
pidfile = ${dir}/pgbouncer.pid
ignore_startup_parameters = extra_float_digits,options
`;
  fs.writeFileSync(path.join(dir, 'pgbouncer.ini'), ini, { mode: 0o644 });
  // nobody (65534): PgBouncer will not run as root.
  const child: ChildProcess = spawn(
    'setpriv',
    [
      '--reuid',
      '65534',
      '--regid',
      '65534',
      '--clear-groups',
      '--pdeathsig',
      'SIGKILL',
      '/usr/sbin/pgbouncer',
      path.join(dir, 'pgbouncer.ini'),
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let output = '';
  child.stdout!.on('data', (d) => (output += d));
  child.stderr!.on('data', (d) => (output += d));
  const deadline = Date.now() + 20_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`pgbouncer exited (${child.exitCode}): ${output}`);
    const up = await new Promise<boolean>((resolve) => {
      const socket = net.connect(port, '127.0.0.1', () => {
        socket.destroy();
        resolve(true);
      });
      socket.on('error', () => resolve(false));
    });
    if (up) break;
    if (Date.now() > deadline) throw new Error(`pgbouncer did not listen on ${port}: ${output}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  const urlFor = (url: string) => {
    const u = new URL(url);
    u.hostname = '127.0.0.1';
    u.port = String(port);
    return u.toString();
  };
  const admin = new URL(opts.serverUrl);
  admin.hostname = '127.0.0.1';
  admin.port = String(port);
  admin.pathname = '/pgbouncer';
  return {
    port,
    urlFor,
    adminUrl: admin.toString(),
    log: () => {
      try {
        return fs.readFileSync(path.join(dir, 'pgbouncer.log'), 'utf8');
      } catch {
        return output;
      }
    },
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        const exited = new Promise((r) => child.once('exit', r));
        child.kill('SIGTERM');
        await exited;
      }
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}
