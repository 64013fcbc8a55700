// Object storage (issue 20), `npm run bench -- --storage-only` (also part of a full run): the
// same uploads against three servers in turn, each in production mode in a process of its own,
// on a database of its own, against a one-node Ceph S3 gateway from Debian's packages
// (local-services/ceph.ts, objects in memory):
//   1. files in PostgreSQL (the default);
//   2. files in the object store (BLOB_STORE_URL);
//   3. the same, and every publication copied to a public bucket (PUBLISH_TO).
// Each: publication latency one upload at a time, then uploads/s with many uploaders at once; for 3
// also how long each acknowledged upload took to reach the bucket (the bucket's timestamp.json read
// every 50 ms, as a client of the bucket would see it). Then timestamp.json reads: from our server,
// from the bucket (the gateway itself), and from nginx serving the same file. Projects are
// delegated to ed25519 keys (no Sigstore): these cases measure storage, not identity verification.
// Uploads send the metadata, then the file (PUT .../files/PATH, the streamed path): the answer to
// the file comes once a snapshot and timestamp cover it.
import { spawn } from 'node:child_process';
import type { KeyObject } from 'node:crypto';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import autocannon from 'autocannon';
import { CreateBucketCommand, PutBucketPolicyCommand } from '@aws-sdk/client-s3';
import type { JsonObject } from '../core/canonical.ts';
import { initialTargetsSigned, singleKeyRoot } from '../core/ceremony.ts';
import { generatePrivateKey, type TufKey } from '../core/keys.ts';
import { buildTargetsSigned, describeTarget, expiresAfter, signEnvelope } from '../core/metadata.ts';
import { privateKeySigner } from '../core/signer.ts';
import { startLocalS3 } from '../local-services/ceph.ts';
import { AdminTokens } from '../server/admin/adminTokens.ts';
import { ensureDatabase, freePort } from '../server/db/embeddedPostgres.ts';
import { createKnex, migrateLatest } from '../server/db/knex.ts';
import { createS3Client } from '../server/objectStore/s3Client.ts';
import { adminPoster, median, quantile, running, startBenchServer, waitHttp, type BenchRow, type Log } from './common.ts';

export interface StorageContext {
  repoDir: string;
  work: string;
  pgUrlFor(db: string): string;
  pgAdminUrl: string;
  sigstoreRootFile: string;
  online: { snapshot: TufKey; timestamp: TufKey };
  onlineKeysDir: string;
  log: Log;
  quick: boolean;
}

interface Upload {
  project: string;
  path: string;
  metadata: string;
  bytes: Buffer;
}

export async function storageCase(ctx: StorageContext): Promise<BenchRow[]> {
  const P = ctx.quick
    ? { fileBytes: 256 * 1024, sequential: 20, uploaders: 16, each: 4, readSeconds: 3 }
    : { fileBytes: 1024 * 1024, sequential: 60, uploaders: 16, each: 10, readSeconds: 10 };
  const rows: BenchRow[] = [];
  ctx.log('storage: starting a one-node Ceph S3 gateway');
  const s3 = await startLocalS3({ dir: path.join(ctx.work, 'ceph'), memstoreBytes: 8 * 1024 ** 3 });
  Object.assign(process.env, s3.env);
  const client = createS3Client({ forcePathStyle: true });
  for (const bucket of ['bench-files', 'bench-site']) await client.send(new CreateBucketCommand({ Bucket: bucket }));
  await client.send(
    new PutBucketPolicyCommand({
      Bucket: 'bench-site',
      Policy: JSON.stringify({
        Version: '2012-10-17',
        Statement: [{ Effect: 'Allow', Principal: '*', Action: ['s3:GetObject'], Resource: ['arn:aws:s3:::bench-site/*'] }],
      }),
    }),
  );
  const configs: { label: string; env: Record<string, string> }[] = [
    { label: 'files in PostgreSQL', env: {} },
    { label: 'files in the object store', env: { BLOB_STORE_URL: 's3://bench-files/blobs' } },
    {
      label: 'files in the object store, copied to a bucket',
      env: { BLOB_STORE_URL: 's3://bench-files/blobs2', PUBLISH_TO: 's3://bench-site' },
    },
  ];
  try {
    for (const [i, config] of configs.entries()) {
      const db = `storage_${i}`;
      await ensureDatabase(ctx.pgAdminUrl, db);
      const knex = createKnex(ctx.pgUrlFor(db), 2);
      await migrateLatest(knex);
      const token = await new AdminTokens(knex).create('bench');
      await knex.destroy();
      const home = path.join(ctx.work, db);
      fs.mkdirSync(home);
      fs.cpSync(ctx.onlineKeysDir, path.join(home, 'online-keys'), { recursive: true });
      const server = await startBenchServer({
        repoDir: ctx.repoDir,
        home,
        dbUrl: ctx.pgUrlFor(db),
        sigstoreRootFile: ctx.sigstoreRootFile,
        // Room for every uploader's file at once (8 by default per process; beyond it 503 and retry).
        env: { ...config.env, MAX_CONCURRENT_FILE_UPLOADS: String(2 * P.uploaders) },
      });
      const keys = await bootstrap(server.base, token, ctx.online, P.uploaders + 1);
      const next = new Map<string, number>();
      const release = async (project: string): Promise<Upload> => {
        const version = (next.get(project) ?? 0) + 1;
        next.set(project, version);
        const bytes = randomBytes(P.fileBytes);
        const file = `${project}/${project}-${version}.tgz`;
        const signed = buildTargetsSigned({
          version,
          expires: expiresAfter(new Date(), 30 * 86_400),
          targets: { [file]: describeTarget(bytes) },
        });
        const envelope = await signEnvelope(signed, [privateKeySigner(keys.get(project)!)]);
        return { project, path: file, metadata: JSON.stringify({ metadata: envelope }), bytes };
      };
      const bucketWatch = config.env.PUBLISH_TO ? watchBucket(`${s3.endpoint}/bench-site/metadata/timestamp.json`) : null;

      ctx.log(`storage: ${config.label}: ${P.sequential} uploads one at a time`);
      const seqUploads = [];
      for (let k = 0; k <= P.sequential; k++) seqUploads.push(await release('s0'));
      // The first write to a new bucket takes a gateway 1 to 2 s (measured): one upload untimed.
      const warmup = (await send(server.base, seqUploads.shift()!)).ms;
      const latencies: number[] = [];
      for (const u of seqUploads) latencies.push((await send(server.base, u)).ms);
      rows.push({
        case: `storage: ${config.label}`,
        metric: 'upload published, p50',
        value: median(latencies),
        p99: quantile(latencies, 0.99),
        unit: 'ms',
        note: `one at a time; metadata, then the ${P.fileBytes / 1024} KiB file; answered once timestamp covers it; first upload (untimed) ${warmup.toFixed(0)} ms`,
      });

      ctx.log(`storage: ${config.label}: ${P.uploaders} uploaders at once, ${P.each} uploads each`);
      const batches: Upload[][] = [];
      for (let w = 0; w < P.uploaders; w++) {
        const list = [];
        for (let k = 0; k < P.each; k++) list.push(await release(`s${w + 1}`));
        batches.push(list);
      }
      const acks: { at: number; timestamp: number }[] = [];
      const perUpload: number[] = [];
      const t0 = performance.now();
      await Promise.all(
        batches.map(async (list) => {
          for (const u of list) {
            const r = await send(server.base, u);
            perUpload.push(r.ms);
            acks.push({ at: performance.now(), timestamp: r.timestamp });
          }
        }),
      );
      const seconds = (performance.now() - t0) / 1000;
      const total = P.uploaders * P.each;
      rows.push({
        case: `storage: ${config.label}`,
        metric: 'uploads/s, many at once',
        value: total / seconds,
        unit: '/s',
        note: `${P.uploaders} uploaders, ${total} uploads of ${P.fileBytes / 1024} KiB; each p50 ${median(perUpload).toFixed(0)} ms, p99 ${quantile(perUpload, 0.99).toFixed(0)} ms`,
      });
      if (bucketWatch) {
        const last = Math.max(...acks.map((a) => a.timestamp));
        await bucketWatch.until(last, 300_000);
        const lags = acks.map((a) => bucketWatch.firstSeen(a.timestamp)! - a.at);
        rows.push({
          case: `storage: ${config.label}`,
          metric: 'mirror lag at that rate: acknowledged -> in the bucket, p50',
          value: median(lags),
          p99: quantile(lags, 0.99),
          unit: 'ms',
          note: `max ${Math.max(...lags).toFixed(0)} ms over ${lags.length} uploads at ${(total / seconds).toFixed(1)}/s; timestamp.json of the bucket read every 50 ms`,
        });
        bucketWatch.stop();
        rows.push(...(await reads(ctx, server.base, `${s3.endpoint}/bench-site/metadata/timestamp.json`, P.readSeconds)));
      }
      await server.stop();
    }
  } finally {
    client.destroy();
    await s3.stop();
  }
  return rows;
}

/** Root and top-level targets delegating projects s0..sN to ed25519 keys; the keys by project. */
async function bootstrap(base: string, token: string, online: { snapshot: TufKey; timestamp: TufKey }, projects: number) {
  const { root, targetsKey } = await singleKeyRoot(online, new Date());
  const keys = new Map<string, KeyObject>();
  const delegations = { keys: {} as JsonObject, roles: [] as JsonObject[] };
  for (let i = 0; i < projects; i++) {
    const key = generatePrivateKey('ed25519');
    const signer = privateKeySigner(key);
    keys.set(`s${i}`, key);
    delegations.keys[signer.keyid] = signer.publicKey as unknown as JsonObject;
    delegations.roles.push({ name: `s${i}`, keyids: [signer.keyid], threshold: 1, paths: [`s${i}/*`], terminating: true });
  }
  const targets = await signEnvelope({ ...initialTargetsSigned(new Date()), delegations: delegations as unknown as JsonObject }, [
    privateKeySigner(targetsKey),
  ]);
  await adminPoster(base, token)('/admin/bootstrap', { root, targets });
  return keys;
}

/** Metadata first (kept pending, awaiting its file), then the file: answered once published. */
async function send(base: string, u: Upload): Promise<{ ms: number; timestamp: number }> {
  const t0 = performance.now();
  const first = await fetch(`${base}/api/v1/projects/${u.project}/uploads`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: u.metadata,
  });
  const pending = (await first.json()) as { status: string; signedSha256: string };
  if (first.status !== 202 || pending.status !== 'awaiting_files')
    throw new Error(`${u.project}: ${first.status} ${JSON.stringify(pending)}`);
  const res = await fetch(`${base}/api/v1/projects/${u.project}/uploads/${pending.signedSha256}/files/${u.path}`, {
    method: 'PUT',
    headers: { 'content-type': 'application/octet-stream' },
    body: new Uint8Array(u.bytes),
  });
  const body = (await res.json()) as { status: string; published: { role: string; version: number }[] };
  if (res.status !== 201) throw new Error(`${u.path}: ${res.status} ${JSON.stringify(body)}`);
  const ms = performance.now() - t0;
  return { ms, timestamp: body.published.find((p) => p.role === 'timestamp')!.version };
}

/** Reads the bucket's timestamp.json every 50 ms and remembers when each version was first seen. */
function watchBucket(url: string) {
  const seen = new Map<number, number>();
  let highest = 0;
  let stopped = false;
  const loop = async () => {
    while (!stopped) {
      try {
        const res = await fetch(url);
        if (res.ok) {
          const version = (JSON.parse(await res.text()) as { signed: { version: number } }).signed.version;
          const now = performance.now();
          for (let v = highest + 1; v <= version; v++) seen.set(v, now);
          highest = Math.max(highest, version);
        }
      } catch {
        // not there yet
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  };
  void loop();
  return {
    firstSeen: (version: number) => seen.get(version),
    async until(version: number, ms: number) {
      const deadline = Date.now() + ms;
      while (highest < version) {
        if (Date.now() > deadline) throw new Error(`the bucket did not reach timestamp v${version}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    },
    stop: () => {
      stopped = true;
    },
  };
}

/** timestamp.json reads, 32 connections: our server, the bucket (the S3 gateway), nginx (one worker) serving the same file. */
async function reads(ctx: StorageContext, base: string, bucketUrl: string, seconds: number): Promise<BenchRow[]> {
  const dir = path.join(ctx.work, 'nginx');
  fs.mkdirSync(path.join(dir, 'www', 'metadata'), { recursive: true });
  fs.chmodSync(dir, 0o755);
  fs.writeFileSync(path.join(dir, 'www', 'metadata', 'timestamp.json'), Buffer.from(await (await fetch(bucketUrl)).arrayBuffer()));
  const port = await freePort();
  const cachePort = await freePort();
  const bucket = new URL(bucketUrl);
  // One worker: a file nginx serves itself, and the bucket behind nginx as a caching proxy (what a
  // CDN does: it keeps timestamp.json for the max-age the bucket's Cache-Control gives).
  fs.writeFileSync(
    path.join(dir, 'nginx.conf'),
    `worker_processes 1; pid ${dir}/nginx.pid; error_log ${dir}/error.log; events { worker_connections 1024; }
http { access_log off; proxy_cache_path ${dir}/cache keys_zone=bucket:1m;
  server { listen 127.0.0.1:${port}; root ${dir}/www;
    location /metadata/ { add_header Cache-Control "public, max-age=30"; } }
  server { listen 127.0.0.1:${cachePort};
    location / { proxy_pass http://${bucket.host}; proxy_cache bucket; proxy_cache_lock on; proxy_http_version 1.1; proxy_set_header Connection ""; } } }\n`,
  );
  const nginx = spawn(
    'setpriv',
    ['--pdeathsig', 'SIGKILL', '/usr/sbin/nginx', '-c', path.join(dir, 'nginx.conf'), '-p', dir, '-g', 'daemon off;'],
    {
      stdio: 'ignore',
    },
  );
  running.add(nginx);
  const nginxUrl = `http://127.0.0.1:${port}/metadata/timestamp.json`;
  await waitHttp(nginxUrl, nginx);
  const cannon = async (url: string) => {
    const r = await autocannon({ url, connections: 32, duration: seconds, pipelining: 1 });
    // A few timeouts or resets under load are reported with the figure; more fail the case.
    if (r.non2xx > 0 || r.errors > r.requests.total / 100) throw new Error(`${url}: ${r.non2xx} non-2xx, ${r.errors} errors`);
    return { rps: r.requests.average, p99: r.latency.p99, errors: r.errors };
  };
  const peers = {
    server: `${base}/metadata/timestamp.json`,
    bucket: bucketUrl,
    nginx: nginxUrl,
    cdn: `http://127.0.0.1:${cachePort}${bucket.pathname}`,
  };
  const out: Record<string, { rps: number; p99: number; errors: number }> = {};
  for (const [name, url] of Object.entries(peers)) {
    ctx.log(`storage: timestamp.json reads from ${name}`);
    out[name] = await cannon(url);
  }
  nginx.kill('SIGKILL');
  running.delete(nginx);
  const note = (name: string) =>
    `${(out[name]!.rps / out.server!.rps).toFixed(2)} of our server's rate${out[name]!.errors ? ` (${out[name]!.errors} requests failed)` : ''}`;
  return [
    {
      case: 'storage: read timestamp.json, 32 connections',
      metric: 'requests/s, our server',
      value: out.server!.rps,
      p99: out.server!.p99,
      unit: '/s',
      note: 'one process',
    },
    {
      case: 'storage: read timestamp.json, 32 connections',
      metric: 'requests/s, the bucket (Ceph S3 gateway)',
      value: out.bucket!.rps,
      p99: out.bucket!.p99,
      unit: '/s',
      note: note('bucket'),
    },
    {
      case: 'storage: read timestamp.json, 32 connections',
      metric: 'requests/s, nginx (one worker, the same file)',
      value: out.nginx!.rps,
      p99: out.nginx!.p99,
      unit: '/s',
      note: note('nginx'),
    },
    {
      case: 'storage: read timestamp.json, 32 connections',
      metric: 'requests/s, the bucket behind nginx caching it (a CDN in small)',
      value: out.cdn!.rps,
      p99: out.cdn!.p99,
      unit: '/s',
      note: `${note('cdn')}; kept for the bucket's max-age`,
    },
  ];
}
