// --json on every command a script reads (issue 17 item 11): tuf-offline status, tuf-client fetch
// and verify, tuf-carry pull, tuf-maintainer status, tuf-server online-keys show, admin-token list
// and audit verify each print one JSON document on stdout that says what the text says, against a
// real server with a project published through the local Sigstore.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import request from 'supertest';
import { runCli, type CliResult } from './helpers/cli.ts';
import { bootstrappedWithSigstore, delegateProject, type CeremonyKeys, type TestRepo } from './helpers/repo.ts';

const ALICE = 'alice@example.com';
const BOB = 'bob@example.com';
let t: TestRepo;
let keys: CeremonyKeys;
let work: string;
const content = 'lib 1.0, published for the --json test\n';

function json<T>(res: CliResult, status = 0): T {
  assert.equal(res.status, status, res.stdout + res.stderr);
  return JSON.parse(res.stdout) as T;
}

before(async () => {
  ({ t, keys } = await bootstrappedWithSigstore());
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'tuf-cli-json-'));
  fs.writeFileSync(path.join(work, '1.root.json'), (await request(t.baseUrl).get('/metadata/1.root.json')).text);
  fs.writeFileSync(path.join(work, 'sigstore-root.json'), JSON.stringify(t.sigstore.setup.trustedRoot));
  await delegateProject(t, keys, 'lib', [ALICE]);
  fs.writeFileSync(path.join(work, 'lib-1.0.tgz'), content);
  const published = await runCli(
    'maintainer/main.ts',
    ['publish', '--server', t.baseUrl, '--project', 'lib', '--dev-identity', ALICE, path.join(work, 'lib-1.0.tgz')],
    {},
    work,
  );
  assert.equal(published.status, 0, published.stderr);
});
after(async () => {
  await t.close();
  fs.rmSync(work, { recursive: true, force: true });
});

test('tuf-client fetch --json and verify --json', async () => {
  const fetched = json<{
    target: string;
    targetPath: string;
    file: string;
    length: number;
    hashes: Record<string, string>;
    sigstoreTrustedRoot: { from: string };
  }>(
    await runCli(
      'client/main.ts',
      ['fetch', 'lib/lib-1.0.tgz', '--server', t.baseUrl, '--root', '1.root.json', '--out', 'lib.tgz', '--dir', 'state', '--json'],
      {},
      work,
    ),
  );
  assert.equal(fetched.target, 'lib/lib-1.0.tgz');
  assert.equal(fetched.targetPath, 'lib/lib-1.0.tgz');
  assert.equal(fetched.file, 'lib.tgz');
  assert.equal(fetched.length, content.length);
  assert.equal(fetched.hashes.sha256, createHash('sha256').update(content).digest('hex'));
  assert.equal(fetched.sigstoreTrustedRoot.from, 'repository');
  assert.equal(fs.readFileSync(path.join(work, 'lib.tgz'), 'utf8'), content);

  const verify = (extra: string[] = []) =>
    runCli(
      'client/main.ts',
      [
        'verify',
        'state/metadata/lib.json',
        '--delegator',
        'state/metadata/targets.json',
        '--role',
        'lib',
        '--dir',
        'state',
        '--json',
        ...extra,
      ],
      {},
      work,
    );
  const report = json<{
    role: string;
    version: number;
    threshold: number;
    met: boolean;
    signatures: { identity: string; issuer: string; valid: boolean }[];
    sigstoreTrustedRoot: { from: string };
  }>(await verify());
  assert.equal(report.role, 'lib');
  assert.equal(report.version, 1);
  assert.equal(report.met, true);
  assert.equal(report.sigstoreTrustedRoot.from, 'repository');
  assert.deepEqual(
    report.signatures.map((s) => [s.identity, s.issuer, s.valid]),
    [[ALICE, t.sigstore.sigstore.issuerUrl, true]],
  );
  // Against a delegation naming someone else now: the same document, met false, exit 3.
  await delegateProject(t, keys, 'lib', [BOB]);
  const head = t.repo.cache.head('targets')!.version;
  fs.writeFileSync(path.join(work, 'now.targets.json'), (await request(t.baseUrl).get(`/metadata/${head}.targets.json`)).text);
  const changed = json<{ met: boolean; validKeyids: string[]; signatures: { valid: boolean; reason?: string }[] }>(
    await runCli(
      'client/main.ts',
      ['verify', 'state/metadata/lib.json', '--delegator', 'now.targets.json', '--role', 'lib', '--dir', 'state', '--json'],
      {},
      work,
    ),
    3,
  );
  assert.equal(changed.met, false);
  assert.deepEqual(changed.validKeyids, []);
  assert.equal(changed.signatures.length, 1);
  assert.equal(changed.signatures[0]!.valid, false);
  assert.ok(changed.signatures[0]!.reason, 'says why it does not count');
  await delegateProject(t, keys, 'lib', [ALICE]); // as it was, for the tests below
});

test('tuf-carry pull --json names what it wrote; tuf-offline status --json reports the thresholds', async () => {
  const pulled = json<{
    out: string;
    files: string[];
    root: { version: number; file: string };
    targets: { version: number; file: string };
    bins: string[];
    pendingRegistrations: number;
    contestedProjects: unknown[];
  }>(await runCli('carry/main.ts', ['--server', t.baseUrl, 'pull', '--out', 'current', '--json'], { TUF_ADMIN_TOKEN: t.adminToken }, work));
  assert.equal(pulled.out, 'current');
  assert.deepEqual(pulled.root, { version: 1, file: path.join('current', '1.root.json') });
  assert.equal(pulled.targets.version, t.repo.cache.head('targets')!.version);
  assert.deepEqual(pulled.bins, [], 'the flat layout has no bins');
  assert.equal(pulled.pendingRegistrations, 0);
  for (const f of pulled.files) assert.ok(fs.existsSync(path.join(work, f)), f);

  const status = json<{
    type: string;
    version: number;
    signatures: string[];
    thresholds: { label: string; met: boolean; signed: number; keys: number; threshold: number; verdicts: { valid: boolean }[] }[];
    changes: string[] | null;
    allMet: boolean;
  }>(await runCli('keys-offline/main.ts', ['status', pulled.targets.file, '--root', pulled.root.file, '--json'], {}, work));
  assert.equal(status.type, 'targets');
  assert.equal(status.allMet, true);
  assert.equal(status.changes, null, 'no --previous: no changes computed');
  assert.deepEqual(
    status.thresholds.map((x) => [x.met, x.signed, x.keys, x.threshold]),
    [[true, 1, 1, 1]],
  );
  // An unsigned copy: allMet false, exit 3, still one JSON document.
  const doc = JSON.parse(fs.readFileSync(path.join(work, pulled.targets.file), 'utf8')) as { signatures: unknown[] };
  fs.writeFileSync(path.join(work, 'unsigned.targets.json'), JSON.stringify({ ...doc, signatures: [] }));
  const unsigned = json<{ allMet: boolean; thresholds: { signed: number }[] }>(
    await runCli('keys-offline/main.ts', ['status', 'unsigned.targets.json', '--root', pulled.root.file, '--json'], {}, work),
    3,
  );
  assert.equal(unsigned.allMet, false);
  assert.equal(unsigned.thresholds[0]!.signed, 0);
});

test('tuf-maintainer status --json: maintainers, version, and who asks', async () => {
  await delegateProject(t, keys, 'app', [ALICE]);
  const view = json<{
    project: string;
    delegated: boolean;
    threshold: number;
    version: number | null;
    maintainers: { identity: string }[];
    you: { identity: string; maintainer: boolean } | null;
    needsResigning: unknown;
  }>(await runCli('maintainer/main.ts', ['status', '--server', t.baseUrl, '--project', 'app', '--dev-identity', BOB, '--json'], {}, work));
  assert.equal(view.project, 'app');
  assert.equal(view.delegated, true);
  assert.equal(view.threshold, 1);
  assert.equal(view.version, null);
  assert.deepEqual(
    view.maintainers.map((m) => m.identity),
    [ALICE],
  );
  assert.equal(view.you?.identity, BOB);
  assert.equal(view.you?.maintainer, false);
  assert.equal(view.needsResigning, null);
});

test('tuf-server admin-token list --json, audit verify --json and online-keys show --json', async () => {
  const env = {
    DATABASE_URL: t.databaseUrl,
    TUF_HOME: t.home,
    DEV_SIGSTORE: 'false',
    SIGSTORE_TRUSTED_ROOT: path.join(work, 'sigstore-root.json'),
  };
  const tokens = json<{ name: string; createdAt: string; revokedAt: string | null; active: boolean; development: boolean }[]>(
    await runCli('server/main.ts', ['admin-token', 'list', '--json'], env, work),
  );
  assert.ok(tokens.length >= 1);
  assert.ok(tokens.every((x) => x.active && x.revokedAt === null && !x.development && !Number.isNaN(Date.parse(x.createdAt))));
  assert.doesNotMatch(JSON.stringify(tokens), /tufadm_/, 'never the tokens');

  const audit = json<{ database: string; outcome: string; versionsChecked: number; problems: unknown[]; failure: string | null }>(
    await runCli('server/main.ts', ['audit', 'verify', '--json'], env, work),
  );
  assert.equal(audit.outcome, 'consistent');
  assert.ok(audit.versionsChecked > 0);
  assert.deepEqual(audit.problems, []);
  assert.match(audit.database, /\(DATABASE_URL\)$/);

  const keysShown = json<{ snapshot: { keytype: string }; timestamp: { keytype: string } }>(
    await runCli('server/main.ts', ['online-keys', 'show', '--json'], { TUF_HOME: t.home, DATABASE_URL: '' }, work),
  );
  assert.equal(keysShown.snapshot.keytype, 'ecdsa');
  assert.equal(keysShown.timestamp.keytype, 'ecdsa');
});
