// A one-node Ceph cluster that speaks S3, from Debian's packages (ceph-mon, ceph-osd, radosgw), for
// the tests and benchmarks of object storage: a monitor, one OSD on memstore (objects in memory)
// and the RADOS gateway on a free port, with every path under one scratch folder and cephx off.
// From nothing to answering S3 in about 10 s on 2 cores, about 300 MB of memory.
//
// Every daemon runs in the foreground as a child of this process with a parent-death signal, so
// nothing is left running when the process that started them dies, even by SIGKILL.
// Two details the recipe in DESIGN.md section 10 does not spell out: radosgw asks for a "secure"
// monitor connection by default, which a cluster without cephx cannot give (it then waits 300 s
// for a monitor and gives up), so `ms mon client mode = crc` is set for it; and the gateway can be
// killed and started again on the same cluster (tests of an object-store outage: `restartGateway`).
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { freePort } from '../server/db/embeddedPostgres.ts';
import { ensureDebianPackages } from './debian.ts';

const run = promisify(execFile);

export interface LocalS3 {
  /** http://127.0.0.1:PORT: AWS_ENDPOINT_URL_S3. */
  endpoint: string;
  region: string;
  accessKeyId: string;
  secretAccessKey: string;
  /** The AWS SDK's standard variables for this gateway (and S3_FORCE_PATH_STYLE: no virtual-host buckets here). */
  env: Record<string, string>;
  /** The cluster's configuration file: another gateway can join it (`startGateway`). */
  conf: string;
  /** SIGKILLs the gateway (an object-store outage); the cluster and its objects stay. */
  killGateway(): Promise<void>;
  /** Starts the gateway again on the same port and waits until it answers. */
  startGateway(): Promise<void>;
  stop(): Promise<void>;
}

export interface LocalS3Options {
  /** Scratch folder for the cluster (made if missing; removed by stop()). */
  dir: string;
  /** Memory the OSD may use for objects (default 3 GiB; memstore takes it as objects arrive). */
  memstoreBytes?: number;
  log?: (line: string) => void;
}

/** Installs Debian's Ceph packages when missing (root only), as .ci/run does. */
export function ensureCeph(): void {
  ensureDebianPackages('/usr/bin/radosgw', ['ceph-mon', 'ceph-osd', 'radosgw']);
}

function cephConf(dir: string, fsid: string, monPort: number, rgwPort: number, memstoreBytes: number): string {
  return `[global]
fsid = ${fsid}
mon host = 127.0.0.1:${monPort}
mon initial members = a
auth cluster required = none
auth service required = none
auth client required = none
osd pool default size = 1
osd pool default min size = 1
mon allow pool size one = true
mon allow pool delete = true
osd crush chooseleaf type = 0
osd objectstore = memstore
ms bind ipv6 = false
run dir = ${dir}/run
log file = ${dir}/log/$name.log
admin socket = ${dir}/run/$name.asok
mon data avail warn = 1
mon data avail crit = 0
[mon]
mon data = ${dir}/mon/$cluster-$id
[osd]
osd data = ${dir}/osd/$cluster-$id
memstore device bytes = ${memstoreBytes}
[client.rgw]
ms mon client mode = crc
rgw frontends = beast endpoint=127.0.0.1:${rgwPort}
rgw data = ${dir}/rgw
rgw enable usage log = false
`;
}

export async function startLocalS3(opts: LocalS3Options): Promise<LocalS3> {
  ensureCeph();
  const dir = path.resolve(opts.dir);
  for (const sub of ['run', 'log', 'mon', 'osd', 'rgw']) fs.mkdirSync(path.join(dir, sub), { recursive: true });
  const conf = path.join(dir, 'ceph.conf');
  const fsid = randomUUID();
  const monPort = await freePort();
  const rgwPort = await freePort();
  fs.writeFileSync(conf, cephConf(dir, fsid, monPort, rgwPort, opts.memstoreBytes ?? 3 * 1024 ** 3));
  const children: ChildProcess[] = [];
  const daemon = (binary: string, args: string[]): ChildProcess => {
    // setpriv: the daemon gets SIGKILL when this process dies, whatever way it dies.
    const child = spawn('setpriv', ['--pdeathsig', 'SIGKILL', binary, '-f', '-c', conf, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout!.on('data', (d: Buffer) => opts.log?.(`${binary}: ${String(d).trimEnd()}`));
    child.stderr!.on('data', (d: Buffer) => opts.log?.(`${binary}: ${String(d).trimEnd()}`));
    children.push(child);
    return child;
  };
  const ceph = (binary: string, args: string[], timeout = 60_000) => run(binary, ['-c', conf, ...args], { timeout });
  const stopAll = async () => {
    await Promise.all(
      children.map(
        (c) =>
          new Promise<void>((resolve) => {
            if (c.exitCode !== null || c.signalCode !== null) return resolve();
            c.once('exit', () => resolve());
            c.kill('SIGKILL');
          }),
      ),
    );
  };
  try {
    await run('monmaptool', ['--create', '--add', 'a', `127.0.0.1:${monPort}`, '--fsid', fsid, path.join(dir, 'monmap')]);
    await ceph('ceph-mon', ['--mkfs', '-i', 'a', '--monmap', path.join(dir, 'monmap')]);
    daemon('ceph-mon', ['-i', 'a']);
    const { stdout: osdId } = await ceph('ceph', ['osd', 'create']);
    const id = osdId.trim();
    fs.mkdirSync(path.join(dir, 'osd', `ceph-${id}`), { recursive: true });
    await ceph('ceph-osd', ['-i', id, '--mkfs']);
    daemon('ceph-osd', ['-i', id]);
    const accessKeyId = `AK${randomBytes(8).toString('hex').toUpperCase()}`;
    const secretAccessKey = randomBytes(24).toString('base64url');
    let gateway = daemon('radosgw', ['-n', 'client.rgw']);
    await ceph(
      'radosgw-admin',
      ['user', 'create', '--uid', 'tests', '--display-name', 'tests', '--access-key', accessKeyId, '--secret', secretAccessKey],
      120_000,
    );
    const endpoint = `http://127.0.0.1:${rgwPort}`;
    await waitForGateway(endpoint, gateway, 120_000);
    return {
      endpoint,
      region: 'us-east-1',
      accessKeyId,
      secretAccessKey,
      conf,
      env: {
        AWS_ENDPOINT_URL_S3: endpoint,
        AWS_REGION: 'us-east-1',
        AWS_ACCESS_KEY_ID: accessKeyId,
        AWS_SECRET_ACCESS_KEY: secretAccessKey,
        S3_FORCE_PATH_STYLE: 'true',
      },
      async killGateway() {
        if (gateway.exitCode !== null || gateway.signalCode !== null) return;
        const exited = new Promise((r) => gateway.once('exit', r));
        gateway.kill('SIGKILL');
        await exited;
      },
      async startGateway() {
        gateway = daemon('radosgw', ['-n', 'client.rgw']);
        await waitForGateway(endpoint, gateway, 120_000);
      },
      async stop() {
        await stopAll();
        fs.rmSync(dir, { recursive: true, force: true });
      },
    };
  } catch (err) {
    await stopAll();
    const logs = fs.existsSync(path.join(dir, 'log')) ? fs.readdirSync(path.join(dir, 'log')).join(', ') : 'none';
    throw new Error(`the local Ceph S3 gateway did not start (logs in ${dir}/log: ${logs}): ${String(err)}`);
  }
}

export interface Gateway {
  endpoint: string;
  /** SIGKILL (an object-store outage); the cluster and its objects stay. */
  kill(): Promise<void>;
  /** Starts it again on the same port and waits until it answers. */
  restart(): Promise<void>;
}

/**
 * Another S3 gateway on a running cluster (`conf` from startLocalS3), owned by the calling process:
 * the gateway is stateless, so a test can kill and restart its own without disturbing others that
 * share the cluster. Same users, same buckets, same objects.
 */
export async function startGateway(conf: string, log?: (line: string) => void): Promise<Gateway> {
  const port = await freePort();
  const name = `client.rgw${port}`;
  const start = () => {
    const child = spawn(
      'setpriv',
      [
        '--pdeathsig',
        'SIGKILL',
        'radosgw',
        '-f',
        '-c',
        conf,
        '-n',
        name,
        '--ms-mon-client-mode',
        'crc',
        '--rgw-frontends',
        `beast endpoint=127.0.0.1:${port}`,
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    child.stdout!.on('data', (d: Buffer) => log?.(`radosgw: ${String(d).trimEnd()}`));
    child.stderr!.on('data', (d: Buffer) => log?.(`radosgw: ${String(d).trimEnd()}`));
    return child;
  };
  const endpoint = `http://127.0.0.1:${port}`;
  let child = start();
  await waitForGateway(endpoint, child, 120_000);
  return {
    endpoint,
    async kill() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGKILL');
      await exited;
    },
    async restart() {
      child = start();
      await waitForGateway(endpoint, child, 120_000);
    },
  };
}

/** Any HTTP answer from the gateway means it serves S3 (an anonymous list is refused with 403 or answered). */
async function waitForGateway(endpoint: string, gateway: ChildProcess, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  for (;;) {
    if (gateway.exitCode !== null || gateway.signalCode !== null)
      throw new Error(`radosgw exited (${gateway.exitCode ?? gateway.signalCode})`);
    try {
      await fetch(endpoint, { signal: AbortSignal.timeout(2000) });
      return;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`radosgw did not answer at ${endpoint} within ${ms / 1000} s`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
