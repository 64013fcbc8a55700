// The peer of the read cases: nginx from Debian's package, serving the same bytes as the server
// from files, with as many worker processes as the server has. Found on the PATH, or unpacked from
// the package into a cache directory (`apt-get download nginx && dpkg -x`, no installation); as
// root, `apt-get update` first if the package lists are missing, and `apt-get install nginx` if the
// unpacked binary lacks a library. Tuned as a static server would be: sendfile, open_file_cache,
// keep-alive without a request limit, no access log (the server logs no reads either), gzip_static
// for the precompressed variants (the server compresses each file once too).
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { freePort } from '../server/db/embeddedPostgres.ts';
import { running, waitHttp, type Log } from './common.ts';

const CACHE = path.join(process.env.XDG_CACHE_HOME ?? path.join(os.homedir(), '.cache'), 'tuf-bench', 'nginx');
const isRoot = process.getuid?.() === 0;

function version(binary: string): string | null {
  try {
    // nginx -v prints to stderr.
    return execFileSync(binary, ['-v'], { stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8' }).trim() || 'nginx';
  } catch (err) {
    const stderr = String((err as { stderr?: unknown }).stderr ?? '');
    return /nginx version/.test(stderr) ? stderr.trim() : null;
  }
}

function run(command: string, args: string[], cwd?: string): void {
  execFileSync(command, args, { stdio: ['ignore', 'ignore', 'pipe'], ...(cwd ? { cwd } : {}) });
}

/** The nginx binary to compare against: BENCH_NGINX, the PATH, the cache, or Debian's package unpacked into the cache. */
export function findNginx(log: Log): { binary: string; version: string } {
  const candidates = [process.env.BENCH_NGINX, '/usr/sbin/nginx', path.join(CACHE, 'usr', 'sbin', 'nginx')].filter((c): c is string => !!c);
  for (const binary of candidates) {
    const v = fs.existsSync(binary) ? version(binary) : null;
    if (v) return { binary, version: v };
  }
  log(`nginx not found: unpacking Debian's package into ${CACHE}`);
  const download = fs.mkdtempSync(path.join(os.tmpdir(), 'tuf-bench-nginx-'));
  fs.chmodSync(download, 0o777); // apt's sandbox user writes here
  try {
    try {
      run('apt-get', ['download', 'nginx'], download);
    } catch (err) {
      if (!isRoot) throw new Error(`apt-get download nginx failed (${(err as Error).message}); install nginx or set BENCH_NGINX`);
      run('apt-get', ['update']);
      run('apt-get', ['download', 'nginx'], download);
    }
    const deb = fs.readdirSync(download).find((f) => /^nginx_.*\.deb$/.test(f));
    if (!deb) throw new Error('apt-get download nginx left no package');
    fs.mkdirSync(CACHE, { recursive: true });
    run('dpkg', ['-x', path.join(download, deb), CACHE]);
  } finally {
    fs.rmSync(download, { recursive: true, force: true });
  }
  const unpacked = path.join(CACHE, 'usr', 'sbin', 'nginx');
  let v = version(unpacked);
  if (v) return { binary: unpacked, version: v };
  if (!isRoot) throw new Error(`the unpacked ${unpacked} does not run (a missing library?): install nginx or set BENCH_NGINX`);
  log('the unpacked nginx does not run here: apt-get install nginx');
  run('apt-get', ['install', '-y', '--no-install-recommends', 'nginx']);
  v = version('/usr/sbin/nginx');
  if (!v) throw new Error('nginx installed but does not run');
  return { binary: '/usr/sbin/nginx', version: v };
}

export interface NginxServer {
  base: string;
  proc: ChildProcess;
  stop(): Promise<void>;
}

/**
 * nginx with `workers` worker processes serving `root` (files under root/metadata/, with `.gz`
 * variants beside the large ones), answering with the same Cache-Control as the server.
 */
export async function startNginx(opts: { binary: string; root: string; workers: number; dir: string; timestampMaxAgeSeconds: number }) {
  const port = await freePort();
  const prefix = path.join(opts.dir, 'nginx');
  const temp = path.join(prefix, 'temp');
  fs.mkdirSync(temp, { recursive: true, mode: 0o777 });
  const config = `
worker_processes ${opts.workers};
daemon off;
pid ${prefix}/nginx.pid;
error_log ${prefix}/error.log warn;
${isRoot ? 'user nobody nogroup;' : ''}
events { worker_connections 4096; }
http {
  access_log off;
  types { application/json json; }
  default_type application/octet-stream;
  sendfile on;
  tcp_nopush on;
  tcp_nodelay on;
  keepalive_timeout 65;
  keepalive_requests 10000000;
  open_file_cache max=1000 inactive=600s;
  open_file_cache_valid 3600s;
  gzip_static on;
  gzip_vary on;
  client_body_temp_path ${temp}/body;
  proxy_temp_path ${temp}/proxy;
  fastcgi_temp_path ${temp}/fastcgi;
  uwsgi_temp_path ${temp}/uwsgi;
  scgi_temp_path ${temp}/scgi;
  server {
    listen 127.0.0.1:${port};
    root ${opts.root};
    location = /metadata/timestamp.json { add_header Cache-Control "public, max-age=${opts.timestampMaxAgeSeconds}"; }
    location /metadata/ { add_header Cache-Control "public, max-age=31536000, immutable"; }
  }
}
`;
  const configFile = path.join(prefix, 'nginx.conf');
  fs.writeFileSync(configFile, config);
  const proc = spawn(opts.binary, ['-e', path.join(prefix, 'error.log'), '-p', prefix, '-c', configFile], {
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  running.add(proc);
  const base = `http://127.0.0.1:${port}`;
  await waitHttp(`${base}/metadata/timestamp.json`, proc);
  return {
    base,
    proc,
    async stop() {
      if (proc.exitCode === null) {
        // QUIT: graceful; the master waits for its workers.
        proc.kill('SIGQUIT');
        await new Promise((r) => proc.once('exit', r));
      }
      running.delete(proc);
    },
  } satisfies NginxServer;
}
