// Shared by the test/projects*.test.ts files that go through the whole HTTP server on the local
// Sigstore. Each file is its own process with its own repository (node's test runner), so each
// starts one here and builds the state its tests assume (a delegated project, a published release).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import request from 'supertest';
import type { JsonObject } from '../../core/canonical.ts';
import { buildTargetsSigned, describeTarget, expiresAfter, type Envelope } from '../../core/metadata.ts';
import { IdentityClient, type IdentityClientOptions } from '../../client/identityUpdater.ts';
import { bootstrappedWithSigstore, type CeremonyKeys, type TestRepo } from './repo.ts';

export const ALICE = 'alice@example.com';
export const BOB = 'bob@example.com';
export const MALLORY = 'mallory@example.com';

/** A bootstrapped repository with the local Sigstore, and a scratch directory for clients and CLI files. */
export async function startProjectsRepo(): Promise<{ t: TestRepo; keys: CeremonyKeys; work: string }> {
  const { t, keys } = await bootstrappedWithSigstore();
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'tuf-projects-'));
  return { t, keys, work };
}

/** Root v1 as `work/root.json`: the trusted root every client of these tests starts from. */
export async function saveTrustedRoot(t: TestRepo, work: string): Promise<void> {
  fs.writeFileSync(path.join(work, 'root.json'), (await request(t.baseUrl).get('/metadata/1.root.json')).text);
}

/**
 * Uploads, releases, row counts and clients against the repository `env` names. `env` is read at
 * each call, so the tools can be made at a file's top level, before `before()` has started it.
 */
export function projectTools(env: () => { t: TestRepo; work: string }) {
  const upload = (project: string, metadata: Envelope, files: Record<string, Buffer> = {}) =>
    request(env().t.baseUrl)
      .post(`/api/v1/projects/${project}/uploads`)
      .send({ metadata, files: Object.fromEntries(Object.entries(files).map(([p, b]) => [p, b.toString('base64')])) });

  function release(version: number, files: Record<string, Buffer>, days = 90): JsonObject {
    const targets = Object.fromEntries(Object.entries(files).map(([p, b]) => [p, describeTarget(b)]));
    return buildTargetsSigned({ version, expires: expiresAfter(env().t.clock.now(), days * 86_400), targets });
  }

  async function state() {
    const { t } = env();
    const count = async (table: string) => Number((await t.repo.knex(table).count({ n: '*' }))[0]!.n);
    return {
      metadata: await count('metadata_versions'),
      pending: await count('pending_uploads'),
      registrations: await count('registrations'),
      blobs: await count('target_blobs'),
    };
  }

  function client(name: string, sigstoreTrustedRoot?: unknown, extra: Partial<IdentityClientOptions> = {}): IdentityClient {
    const { t, work } = env();
    const dir = path.join(work, name);
    const metadataDir = path.join(dir, 'metadata');
    if (!fs.existsSync(metadataDir)) {
      fs.mkdirSync(metadataDir, { recursive: true });
      fs.writeFileSync(path.join(metadataDir, 'root.json'), fs.readFileSync(path.join(work, 'root.json')));
    }
    return new IdentityClient({
      metadataBaseUrl: `${t.baseUrl}/metadata`,
      targetBaseUrl: `${t.baseUrl}/targets`,
      metadataDir,
      targetDir: path.join(dir, 'targets'),
      ...(sigstoreTrustedRoot !== undefined ? { sigstoreTrustedRoot } : {}),
      ...extra,
    });
  }

  return { upload, release, state, client };
}
