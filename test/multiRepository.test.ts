// TAP 4 against two instances of our server (each its own database, online keys, root of trust and
// local Sigstore), with identity-signed project roles and TAP 16 proofs in both: a target pinned to
// one repository, a 2-of-2 mapping that agrees and one that disagrees, a terminating mapping that
// stops the search and a non-terminating one that falls through, a repository that lists a target
// outside its mapping and is never asked, mirrors that are down, and repositories that vouch for a
// file but cannot serve it (what go-tuf's multirepo leaves as TODOs).
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import request from 'supertest';
import { parseRepositoryMap } from '../core/repositoryMap.ts';
import { MultiRepositoryClient } from '../client/multiRepository.ts';
import { runCli } from './helpers/cli.ts';
import { isClientRefusal } from './helpers/refusals.ts';
import { ALICE, projectTools, startProjectsRepo } from './helpers/projects.ts';
import { delegateProject, signAs, type TestRepo } from './helpers/repo.ts';

let a: TestRepo;
let b: TestRepo;
let work: string;
let deadUrl: string;
const proxies: http.Server[] = [];
const toolsA = projectTools(() => ({ t: a, work }));
const toolsB = projectTools(() => ({ t: b, work }));

const SAME = Buffer.from('demo 1.0, the same bytes in both repositories\n');
const A2 = Buffer.from('demo 2.0 as repository A has it\n');
const B2 = Buffer.from('demo 2.0 as repository B has it, other bytes\n');
const EVIL_A = Buffer.from('a tool repository A should never be asked for\n');
const GOOD_B = Buffer.from('the tool, from repository B\n');

async function publishIn(t: TestRepo, tools: typeof toolsA, project: string, files: Record<string, Buffer>): Promise<void> {
  const res = await tools.upload(project, await signAs(t, tools.release(1, files), [{ identity: ALICE }]), files);
  assert.equal(res.status, 201, JSON.stringify(res.body));
}

/** A copy of `upstream` that serves its metadata (and its Sigstore trusted root) but none of the project's files. */
async function metadataOnlyCopy(upstream: string): Promise<string> {
  const server = http.createServer((req, res) => {
    if ((req.url ?? '').startsWith('/targets/demo/')) {
      res.writeHead(404).end();
      return;
    }
    fetch(`${upstream}${req.url}`).then(
      async (r) =>
        res
          .writeHead(r.status, { 'content-type': r.headers.get('content-type') ?? 'application/json' })
          .end(Buffer.from(await r.arrayBuffer())),
      () => res.writeHead(502).end(),
    );
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  proxies.push(server);
  return `http://127.0.0.1:${(server.address() as { port: number }).port}`;
}

before(async () => {
  const ra = await startProjectsRepo();
  const rb = await startProjectsRepo();
  ({ t: a, work } = ra);
  b = rb.t;
  await delegateProject(a, ra.keys, 'demo', [ALICE]);
  await delegateProject(b, rb.keys, 'demo', [ALICE]);
  await delegateProject(a, ra.keys, 'other', [ALICE]);
  await delegateProject(b, rb.keys, 'other', [ALICE]);
  await publishIn(a, toolsA, 'demo', { 'demo/demo-1.0.tgz': SAME, 'demo/demo-2.0.tgz': A2 });
  await publishIn(b, toolsB, 'demo', { 'demo/demo-1.0.tgz': SAME, 'demo/demo-2.0.tgz': B2 });
  await publishIn(a, toolsA, 'other', { 'other/tool.tgz': EVIL_A });
  await publishIn(b, toolsB, 'other', { 'other/tool.tgz': GOOD_B });
  // A port nothing listens on any more: a copy that is down.
  const dead = http.createServer();
  await new Promise<void>((resolve) => dead.listen(0, '127.0.0.1', resolve));
  deadUrl = `http://127.0.0.1:${(dead.address() as { port: number }).port}`;
  await new Promise((r) => dead.close(r));
});
after(async () => {
  for (const p of proxies) p.close();
  await a.close();
  await b.close();
});

/** DIR with each named repository's trusted root at DIR/NAME/root.json (TAP 4's layout). */
async function stateDir(name: string, roots: Record<string, TestRepo>): Promise<string> {
  const dir = path.join(work, 'tap4', name);
  for (const [repo, t] of Object.entries(roots)) {
    fs.mkdirSync(path.join(dir, repo), { recursive: true });
    fs.writeFileSync(path.join(dir, repo, 'root.json'), (await request(t.baseUrl).get('/metadata/1.root.json')).text);
  }
  return dir;
}

function multi(dir: string, repositories: Record<string, string[]>, mapping: unknown[], lines: string[] = []): MultiRepositoryClient {
  return new MultiRepositoryClient({ map: parseRepositoryMap({ repositories, mapping }), dir, log: (l) => lines.push(l) });
}

const map = (paths: string[], repositories: string[], threshold: number, terminating: boolean) => ({
  paths,
  repositories,
  threshold,
  terminating,
});

describe('TAP 4 search over two repositories', () => {
  test('a target pinned to one repository comes from it alone', async () => {
    const lines: string[] = [];
    const c = multi(await stateDir('pinned', { A: a, B: b }), { A: [a.baseUrl], B: [b.baseUrl] }, [map(['demo/*'], ['A'], 1, true)], lines);
    const out = path.join(work, 'pinned.tgz');
    const result = await c.download('demo/demo-2.0.tgz', out);
    assert.deepEqual(fs.readFileSync(out), A2);
    assert.deepEqual(result.agreed, ['A']);
    assert.equal(
      lines.some((l) => l.startsWith('[B]')),
      false,
      'B is never asked',
    );
  });

  test('a 2-of-2 mapping that agrees: every repository verified in full (TAP 16 proofs in each), the same bytes', async () => {
    const lines: string[] = [];
    const c = multi(
      await stateDir('agree', { A: a, B: b }),
      { A: [a.baseUrl], B: [b.baseUrl] },
      [map(['demo/*'], ['A', 'B'], 2, true)],
      lines,
    );
    const out = path.join(work, 'agree.tgz');
    const result = await c.download('demo/demo-1.0.tgz', out);
    assert.deepEqual(fs.readFileSync(out), SAME);
    assert.deepEqual(result.agreed, ['A', 'B']);
    assert.equal(result.servedBy, 'A');
    for (const r of ['A', 'B']) {
      assert.ok(
        lines.some((l) => new RegExp(`^\\[${r}\\] snapshot: v\\d+ by TAP 16 proofs`).test(l)),
        `${r} read through proofs:\n${lines.join('\n')}`,
      );
      assert.ok(
        lines.some((l) => l.startsWith(`[${r}] demo: v1`)),
        `${r}'s identity-signed role verified`,
      );
    }
  });

  test('a 2-of-2 mapping whose repositories disagree (same path, other bytes) ends the search, naming each and what it said', async () => {
    const c = multi(await stateDir('disagree', { A: a, B: b }), { A: [a.baseUrl], B: [b.baseUrl] }, [map(['demo/*'], ['A', 'B'], 2, true)]);
    const out = path.join(work, 'disagree.tgz');
    await assert.rejects(c.download('demo/demo-2.0.tgz', out), (err) =>
      isClientRefusal(
        err,
        'mapping_disagreement',
        new RegExp(
          `mapping 1 \\(paths demo/\\*; 2 of A, B; terminating\\) ends the search: its repositories disagree on demo/demo-2\\.0\\.tgz .+\\n  A: ${A2.length} bytes, sha256 .+\\n  B: ${B2.length} bytes, sha256 `,
        ),
      ),
    );
    assert.equal(fs.existsSync(out), false);
  });

  test('a terminating mapping stops the search: a later mapping that would find the target is not consulted', async () => {
    const c = multi(await stateDir('terminating', { A: a, B: b }), { A: [a.baseUrl], B: [b.baseUrl] }, [
      map(['demo/*'], ['A', 'B'], 2, true),
      map(['demo/*'], ['A'], 1, true),
    ]);
    await assert.rejects(c.download('demo/demo-2.0.tgz', path.join(work, 't.tgz')), (err) => isClientRefusal(err, 'mapping_disagreement'));
  });

  test('a non-terminating mapping that fails lets the next matching mapping answer', async () => {
    const lines: string[] = [];
    const c = multi(
      await stateDir('fallthrough', { A: a, B: b }),
      { A: [a.baseUrl], B: [b.baseUrl] },
      [map(['demo/*'], ['A', 'B'], 2, false), map(['*'], ['B'], 1, true)],
      lines,
    );
    const out = path.join(work, 'fallthrough.tgz');
    const result = await c.download('demo/demo-2.0.tgz', out);
    assert.deepEqual(fs.readFileSync(out), B2);
    assert.equal(result.mapping.index, 2);
    assert.ok(
      lines.some((l) => /mapping 1 .+ disagree .+ not terminating, the next matching mapping is tried/.test(l)),
      lines.join('\n'),
    );
  });

  test('a repository that lists a target outside its mapping is never asked for it', async () => {
    const lines: string[] = [];
    const c = multi(
      await stateDir('outside', { A: a, B: b }),
      { A: [a.baseUrl], B: [b.baseUrl] },
      [map(['demo/*'], ['A'], 1, true), map(['other/*'], ['B'], 1, true)],
      lines,
    );
    const out = path.join(work, 'tool.tgz');
    await c.download('other/tool.tgz', out);
    assert.deepEqual(fs.readFileSync(out), GOOD_B, "B's file, not the one A lists");
    assert.equal(
      lines.some((l) => l.startsWith('[A]')),
      false,
      'A is not asked about other/*',
    );
    const only = multi(await stateDir('unmapped', { A: a }), { A: [a.baseUrl] }, [map(['demo/*'], ['A'], 1, true)]);
    await assert.rejects(only.download('other/tool.tgz', path.join(work, 'x.tgz')), (err) => isClientRefusal(err, 'no_matching_mapping'));
  });
});

describe('copies and availability', () => {
  test("a mirror that is down: the repository's next URL serves; with every copy down the repository vouches for nothing", async () => {
    const c = multi(await stateDir('mirror', { A: a }), { A: [deadUrl, a.baseUrl] }, [map(['demo/*'], ['A'], 1, true)]);
    await c.download('demo/demo-1.0.tgz', path.join(work, 'mirror.tgz'));
    assert.deepEqual(fs.readFileSync(path.join(work, 'mirror.tgz')), SAME);
    const down = multi(await stateDir('all-down', { A: a }), { A: [deadUrl] }, [map(['demo/*'], ['A'], 1, true)]);
    await assert.rejects(down.download('demo/demo-1.0.tgz', path.join(work, 'down.tgz')), (err) =>
      isClientRefusal(
        err,
        'mapping_threshold_not_met',
        /fewer than 1 of its repositories vouch .+\n {2}A: Failed to download http:\/\/127\.0\.0\.1:\d+\/metadata\/2\.root\.json.+\[network\]/,
      ),
    );
  });

  test('repositories that vouch for a file but cannot serve it: the next agreeing one serves it; if none can, the search ends', async () => {
    const copyA = await metadataOnlyCopy(a.baseUrl);
    const c = multi(await stateDir('serve-b', { A: a, B: b }), { A: [copyA], B: [b.baseUrl] }, [map(['demo/*'], ['A', 'B'], 2, true)]);
    const result = await c.download('demo/demo-1.0.tgz', path.join(work, 'served.tgz'));
    assert.equal(result.servedBy, 'B');
    assert.deepEqual(fs.readFileSync(path.join(work, 'served.tgz')), SAME);
    const copyB = await metadataOnlyCopy(b.baseUrl);
    // The agreeing repositories cannot serve it: the search ends there, and a later mapping that
    // could (BB: the same repository B, reached directly) is not consulted.
    const none = multi(await stateDir('serve-none', { A: a, B: b, BB: b }), { A: [copyA], B: [copyB], BB: [b.baseUrl] }, [
      map(['demo/*'], ['A', 'B'], 2, false),
      map(['*'], ['BB'], 1, true),
    ]);
    await assert.rejects(none.download('demo/demo-1.0.tgz', path.join(work, 'none.tgz')), (err) =>
      isClientRefusal(
        err,
        'target_unavailable',
        /A, B agree on demo\/demo-1\.0\.tgz, and none of them served its bytes:\n {2}A: .+HTTP 404\n {2}B: .+HTTP 404/,
      ),
    );
  });

  test('a repository without its trusted root in DIR/NAME/root.json vouches for nothing, and says where to put it', async () => {
    const c = multi(await stateDir('no-root', { A: a }), { A: [a.baseUrl], C: [b.baseUrl] }, [map(['demo/*'], ['C', 'A'], 2, true)]);
    await assert.rejects(c.download('demo/demo-1.0.tgz', path.join(work, 'noroot.tgz')), (err) =>
      isClientRefusal(
        err,
        'mapping_threshold_not_met',
        /C: no trusted root for repository C: put its root\.json at \S+no-root\/C\/root\.json \[no_trusted_root\]/,
      ),
    );
  });
});

test('tuf-client fetch --map: agreement said on stderr; a disagreement exits 3 with its code', async () => {
  const dir = await stateDir('cli', { A: a, B: b });
  const mapFile = path.join(work, 'map.json');
  fs.writeFileSync(
    mapFile,
    JSON.stringify({ repositories: { A: [a.baseUrl], B: [b.baseUrl] }, mapping: [map(['demo/*'], ['A', 'B'], 2, true)] }),
  );
  const out = path.join(work, 'cli.tgz');
  const ok = await runCli('client/main.ts', ['fetch', 'demo/demo-1.0.tgz', '--map', mapFile, '--dir', dir, '--out', out]);
  assert.equal(ok.status, 0, ok.stderr);
  assert.match(ok.stderr, /^mapping 1 \(demo\/\*\): 2 of 2 repositories agree \(threshold 2\): A, B$/m);
  assert.match(ok.stdout, /verified and saved demo\/demo-1\.0\.tgz to \S+cli\.tgz \(from A\)/);
  assert.deepEqual(fs.readFileSync(out), SAME);
  const refused = await runCli('client/main.ts', ['fetch', 'demo/demo-2.0.tgz', '--map', mapFile, '--dir', dir, '--out', out]);
  assert.equal(refused.status, 3);
  assert.match(refused.stderr, /\[mapping_disagreement\]/);
});
