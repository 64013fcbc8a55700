// npm run demo: the whole story against the development server of `npm start`, with the real
// commands: a maintainer registers for project "demo", an admin approves offline, the maintainer
// publishes demo/demo-1.0.tgz, and a client downloads and verifies it. Safe to run repeatedly.
import type { JsonObject } from '../core/canonical.ts';
import { projectPlacement } from '../core/bins.ts';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import zlib from 'node:zlib';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const server = (process.env.DEMO_SERVER ?? 'http://localhost:8080').replace(/\/$/, '');
const devDir = path.resolve(process.env.DEV_DIR ?? path.join(repo, '.dev'));
const maintainer = process.env.DEMO_IDENTITY ?? 'demo-maintainer@example.com';
const project = 'demo';
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'tuf-demo-'));

let step = 0;
function say(title: string): void {
  step += 1;
  process.stdout.write(`\n==> ${step}. ${title}\n`);
}

async function run(tool: string, args: string[], env: Record<string, string> = {}): Promise<string> {
  process.stdout.write(`    $ ${tool} ${args.map((a) => (a.startsWith(work) ? path.relative(work, a) || '.' : a)).join(' ')}\n`);
  const child = spawn(process.execPath, [path.join(repo, 'bin', `${tool}.mjs`), ...args], {
    cwd: work,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (err += d));
  const code: number = await new Promise((resolve) => child.on('close', (c) => resolve(c ?? 1)));
  for (const line of `${out}${err}`.trimEnd().split('\n')) if (line) process.stdout.write(`      ${line}\n`);
  if (code !== 0) throw new Error(`${tool} ${args[0]} failed (exit ${code})`);
  return out;
}

async function get(urlPath: string): Promise<unknown> {
  const res = await fetch(`${server}${urlPath}`);
  if (!res.ok) throw new Error(`GET ${urlPath}: ${res.status}`);
  return res.json();
}

/** The admin's side, offline: pull, delegate the project to the demo's maintainer, sign, carry back. */
async function approve(adminEnv: Record<string, string>, keyEnv: Record<string, string>): Promise<void> {
  say('the admin approves offline: pull, delegate, sign, carry back');
  const pulled = path.join(work, 'pulled');
  await run('tuf-carry', ['--server', server, 'pull', '--out', pulled], adminEnv);
  const current = fs.readdirSync(pulled).find((f) => /^\d+\.targets\.json$/.test(f));
  const root = fs.readdirSync(pulled).find((f) => /^\d+\.root\.json$/.test(f));
  if (!current || !root) throw new Error('pull brought no targets or root');
  // Bins layout: the project's bin comes with its pending registration; without one (its
  // maintainers were changed) it is pulled by name, as the revocation runbook does.
  const top = JSON.parse(fs.readFileSync(path.join(pulled, current), 'utf8')) as { signed: JsonObject };
  const bin = projectPlacement(top.signed, project).role;
  const binDir = path.join(pulled, 'bins');
  if (bin !== 'targets' && !(fs.existsSync(binDir) && fs.readdirSync(binDir).some((f) => f.endsWith(`.${bin}.json`))))
    await run('tuf-carry', ['--server', server, 'pull', '--out', pulled, '--bin', bin], adminEnv);
  const requests = (
    JSON.parse(fs.readFileSync(path.join(pulled, 'registrations.json'), 'utf8')) as {
      registrations: { id: number; project: string; identity: string; issuer: string }[];
    }
  ).registrations.filter((r) => r.project === project);
  for (const r of requests) process.stdout.write(`    pending registration ${r.id}: ${r.identity} at ${r.issuer}\n`);
  const issuer = String(((await get('/api/v1/config')) as { sigstore: { oidcIssuer: string } }).sigstore.oidcIssuer);
  if (fs.existsSync(path.join(pulled, 'bins'))) {
    // Layered layout: only the bin the project falls in changes, signed with the bins key.
    const next = path.join(work, 'next-bins');
    await run('tuf-offline', [
      'delegate',
      '--from',
      path.join(pulled, current),
      '--bins',
      path.join(pulled, 'bins'),
      '--out',
      next,
      '--project',
      project,
      '--identity',
      maintainer,
      '--issuer',
      issuer,
    ]);
    const files = fs.readdirSync(next).map((f) => path.join(next, f));
    await run('tuf-offline', ['sign', ...files, '--key', path.join(devDir, 'keys', 'dev-bins.key.json')], keyEnv);
    for (const f of files) await run('tuf-offline', ['status', f, '--delegator', path.join(pulled, current)]);
    await run('tuf-carry', ['--server', server, 'push', ...files], adminEnv);
  } else {
    const next = path.join(work, 'next.targets.json');
    await run('tuf-offline', [
      'delegate',
      '--from',
      path.join(pulled, current),
      '--out',
      next,
      '--project',
      project,
      '--identity',
      maintainer,
      '--issuer',
      issuer,
    ]);
    await run('tuf-offline', ['sign', next, '--key', path.join(devDir, 'keys', 'dev-targets.key.json')], keyEnv);
    await run('tuf-offline', ['status', next, '--root', path.join(pulled, root), '--previous', path.join(pulled, current)]);
    await run('tuf-carry', ['--server', server, 'push', next], adminEnv);
  }
}

async function main(): Promise<void> {
  say(`check the development server at ${server}`);
  let config: { sigstore: { devTokenUrl: string | null } };
  try {
    config = (await get('/api/v1/config')) as typeof config;
  } catch (err) {
    const cause = (err as { cause?: { code?: string } }).cause?.code ?? (err as Error).message;
    throw new Error(
      `no repository answers at ${server} (${cause}). Start one with \`npm start\` in another terminal; if yours runs ` +
        'elsewhere, point the demo at it and at its DEV_DIR: DEMO_SERVER=http://HOST:PORT DEV_DIR=/path/to/its/.dev npm run demo',
    );
  }
  if (!config.sigstore.devTokenUrl)
    throw new Error('the server is not in development mode (no local Sigstore); the demo needs `npm start`');
  const tokenFile = path.join(devDir, 'admin-token');
  if (!fs.existsSync(tokenFile))
    throw new Error(
      `no admin token at ${tokenFile}: DEV_DIR must be the .dev folder of the server at ${server} ` +
        '(the folder `npm start` printed as "admin token"): DEV_DIR=/path/to/its/.dev npm run demo',
    );
  const token = fs.readFileSync(tokenFile, 'utf8').trim();
  const adminEnv = { TUF_ADMIN_TOKEN: token };
  const keyEnv = { TUF_KEY_PASSPHRASE: 'insecure-dev-passphrase' };
  process.stdout.write(`    development server with a local Sigstore; admin token and dev keys from ${devDir}\n`);

  const before = (await get(`/api/v1/projects/${project}`)) as { delegated: boolean; maintainers: { identity: string }[] };
  const delegated = before.delegated && before.maintainers.some((m) => m.identity === maintainer);
  if (delegated) {
    say(`register ${maintainer} for "${project}"`);
    process.stdout.write(`    already a maintainer of ${project} (an earlier run): nothing to register\n`);
  } else if (before.delegated) {
    // Its maintainers were changed (the revocation runbook, say): a registration would be refused
    // (409 already_delegated), so the admin delegates it to the demo's maintainer again.
    say(`"${project}" is delegated to ${before.maintainers.map((m) => m.identity).join(', ') || 'nobody'}, not to ${maintainer}`);
    process.stdout.write(
      `    its maintainers were changed since an earlier run (a revocation?); a registration would be refused (already_delegated),\n` +
        `    so the admin delegates ${project} to ${maintainer} again, replacing that delegation\n`,
    );
    await approve(adminEnv, keyEnv);
  } else {
    say(`register ${maintainer} for "${project}" (signed with Sigstore, no key to keep)`);
    await run('tuf-maintainer', ['register', '--server', server, '--project', project, '--dev-identity', maintainer]);
    await approve(adminEnv, keyEnv);
  }

  say(`publish ${project}/demo-1.0.tgz as ${maintainer}`);
  const pkg = path.join(work, 'demo-1.0.tgz');
  fs.writeFileSync(pkg, zlib.gzipSync(Buffer.from('demo package 1.0: hello from an identity-signed release\n')));
  await run('tuf-maintainer', ['publish', '--server', server, '--project', project, '--dev-identity', maintainer, pkg]);

  say('a client downloads it, verifying root -> timestamp -> targets, bin, demo (identity), each by its TAP 16 proof -> file');
  const downloaded = path.join(work, 'downloaded', 'demo-1.0.tgz');
  await run('tuf-client', [
    'fetch',
    '--verbose',
    `${project}/demo-1.0.tgz`,
    '--server',
    server,
    '--root',
    path.join(devDir, '1.root.json'),
    '--dir',
    path.join(work, 'client'),
    '--out',
    downloaded,
  ]);
  if (!fs.readFileSync(downloaded).equals(fs.readFileSync(pkg))) throw new Error('the downloaded file differs from the published one');
  process.stdout.write('    the downloaded bytes are the published bytes\n');

  say(`who signed ${project}'s role`);
  const info = (await get(`/api/v1/projects/${project}`)) as { version: number };
  const metadataDir = path.join(work, 'client', 'metadata');
  fs.writeFileSync(
    path.join(work, 'sigstore-root.json'),
    fs.readFileSync(path.join(work, 'client', 'targets', 'sigstore-trusted_root.json')),
  );
  // The role's delegator: its bin in the layered layout, top-level targets in the flat one.
  const top = JSON.parse(fs.readFileSync(path.join(metadataDir, 'targets.json'), 'utf8')) as { signed: JsonObject };
  const delegator = projectPlacement(top.signed, project).role;
  await run('tuf-client', [
    'verify',
    path.join(metadataDir, `${project}.json`),
    '--delegator',
    path.join(metadataDir, `${delegator}.json`),
    '--role',
    project,
    '--sigstore-trusted-root',
    path.join(work, 'sigstore-root.json'),
  ]);
  process.stdout.write(`\ndone: ${project} v${info.version} published by ${maintainer} and verified by a client.\n`);
}

main().then(
  () => fs.rmSync(work, { recursive: true, force: true }),
  (err: Error) => {
    process.stderr.write(`\ndemo failed at step ${step}: ${err.message}\n(work files kept in ${work})\n`);
    process.exit(1);
  },
);
