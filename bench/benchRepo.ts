// A repository in the layered layout, driven as its people would drive it: the admins bootstrap it
// with root, top-level targets and empty bins, then approve maintainers by pushing new bin
// versions (signed here with the bins key) through the admin API; maintainers sign releases through
// the local Sigstore and upload them. Bin contents are kept in memory so that delegating a million
// projects edits each bin once per push instead of re-reading it.
import fs from 'node:fs';
import path from 'node:path';
import { binOf, binsOf, binnedProjectDirectory } from '../core/bins.ts';
import { canonicalBytes, type JsonObject } from '../core/canonical.ts';
import { DEFAULT_BIN_EXPIRY_SECONDS, DEFAULT_ROOT_EXPIRY_SECONDS, initialTargetsSigned, rootSigned } from '../core/ceremony.ts';
import { identityKey, identityKeyid } from '../core/identity.ts';
import { generatePrivateKey, type TufKey } from '../core/keys.ts';
import { buildTargetsSigned, describeTarget, expiresAfter, servedBytes, signEnvelope, type Envelope } from '../core/metadata.ts';
import { privateKeySigner } from '../core/signer.ts';
import { signWithIdentity } from '../maintainer/identitySigner.ts';
import type { LocalSigstore } from '../sigstore-local/localSigstore.ts';
import { adminPoster } from './common.ts';

interface BinState {
  version: number;
  keys: Record<string, JsonObject>;
  roles: JsonObject[];
}

/** Bench project i: 13 characters like a typical package name, but hex, so it compresses worse than real names. */
export function projectName(i: number): string {
  return `p${(Math.imul(i + 1, 2654435761) >>> 0).toString(16).padStart(8, '0')}${(i % 4096).toString(16).padStart(3, '0')}`;
}

export const maintainerOf = (project: string): string => `${project}@bench.example`;

export class BenchRepo {
  readonly rootFile: string;
  private readonly bins = new Map<string, BinState>();
  private readonly dirty = new Set<string>();
  private readonly binsSigner = privateKeySigner(generatePrivateKey('ed25519'));
  private readonly binExpires = expiresAfter(new Date(), DEFAULT_BIN_EXPIRY_SECONDS);
  private post: (route: string, body: unknown) => Promise<unknown>;

  /** Sends admin requests another way (the soak retries them across servers that may be killed). */
  usePoster(post: (route: string, body: unknown) => Promise<unknown>): void {
    this.post = post;
  }

  private constructor(
    readonly base: string,
    token: string,
    readonly binCount: number,
    private readonly sigstore: LocalSigstore,
    work: string,
  ) {
    this.post = adminPoster(base, token);
    this.rootFile = path.join(work, `root-${binCount}.json`);
    for (const b of binsOf(binCount)) this.bins.set(b.name, { version: 1, keys: {}, roles: [] });
  }

  /** Root v1, top-level targets v1 delegating to `binCount` bins, and every bin v1 (empty), in one bootstrap. */
  static async bootstrap(opts: {
    base: string;
    token: string;
    binCount: number;
    sigstore: LocalSigstore;
    online: { snapshot: TufKey; timestamp: TufKey };
    work: string;
  }): Promise<BenchRepo> {
    const repo = new BenchRepo(opts.base, opts.token, opts.binCount, opts.sigstore, opts.work);
    const rootKey = privateKeySigner(generatePrivateKey('ed25519'));
    const targetsKey = privateKeySigner(generatePrivateKey('ed25519'));
    const now = new Date();
    const root = await signEnvelope(
      rootSigned({
        version: 1,
        expires: expiresAfter(now, DEFAULT_ROOT_EXPIRY_SECONDS),
        rootKeys: [rootKey.publicKey],
        rootThreshold: 1,
        targetsKeys: [targetsKey.publicKey],
        targetsThreshold: 1,
        snapshotKey: opts.online.snapshot,
        timestampKey: opts.online.timestamp,
      }),
      [rootKey],
    );
    const layout = { count: opts.binCount, keys: [repo.binsSigner.publicKey], threshold: 1 };
    const targets = await signEnvelope(initialTargetsSigned(now, {}, undefined, layout), [targetsKey]);
    const delegated: Record<string, Envelope> = {};
    for (const name of repo.bins.keys()) delegated[name] = await repo.signBin(name);
    await repo.post('/admin/bootstrap', { root, targets, delegated });
    fs.writeFileSync(repo.rootFile, JSON.stringify(root));
    repo.topLevelTargetsBytes = servedBytes(targets).length;
    return repo;
  }

  /** The size of top-level targets as served: it lists the bins, never the projects. */
  topLevelTargetsBytes = 0;

  /** Delegates `project` to its maintainer's identity in its bin (in memory until `push`). */
  delegate(project: string): string {
    const bin = binOf(project, this.binCount).name;
    const state = this.bins.get(bin)!;
    const key = identityKey(maintainerOf(project), this.sigstore.issuerUrl);
    const keyid = identityKeyid(maintainerOf(project), this.sigstore.issuerUrl);
    state.keys[keyid] = key as unknown as JsonObject;
    state.roles.push({ name: project, keyids: [keyid], threshold: 1, paths: [`${binnedProjectDirectory(project)}/*`], terminating: true });
    this.dirty.add(bin);
    return bin;
  }

  /**
   * Bin N+1 of every bin changed since the last push, signed, sent in requests of at most
   * `maxBytes` (as the runbook pushes them: in batches well under MAX_ADMIN_METADATA_BYTES); returns their sizes.
   */
  async push(maxBytes = 4 * 1024 * 1024, onBatch?: (bins: number, ms: number) => void): Promise<number[]> {
    const sizes: number[] = [];
    let batch: Record<string, Envelope> = {};
    let batchBytes = 0;
    const send = async () => {
      if (batchBytes === 0) return;
      const t0 = performance.now();
      await this.post('/admin/metadata/delegated', { delegated: batch });
      onBatch?.(Object.keys(batch).length, performance.now() - t0);
      batch = {};
      batchBytes = 0;
    };
    for (const name of [...this.dirty].sort()) {
      this.bins.get(name)!.version += 1;
      const envelope = await this.signBin(name);
      const size = servedBytes(envelope).length;
      sizes.push(size);
      if (batchBytes + size > maxBytes) await send();
      batch[name] = envelope;
      batchBytes += size;
    }
    this.dirty.clear();
    await send();
    return sizes;
  }

  private signBin(name: string): Promise<Envelope> {
    const state = this.bins.get(name)!;
    const signed = buildTargetsSigned({ version: state.version, expires: this.binExpires, targets: {} });
    return signEnvelope({ ...signed, delegations: { keys: state.keys, roles: state.roles } as unknown as JsonObject }, [this.binsSigner]);
  }

  /** Where a release file of `project` lives. */
  targetPath(project: string, file: string): string {
    return `${binnedProjectDirectory(project)}/${file}`;
  }

  /**
   * Version `version` of `project`'s role with `count` files (one by default), signed by its
   * maintainer through the local Sigstore; the upload body, files inline.
   */
  async release(project: string, version: number, count = 1): Promise<string> {
    const files: Record<string, Buffer> = {};
    for (let i = 0; i < count; i++) {
      files[this.targetPath(project, count === 1 ? `r${version}.tgz` : `r${version}-${i}.tgz`)] = Buffer.from(`${project} ${version} ${i}`);
    }
    const signed = buildTargetsSigned({
      version,
      expires: expiresAfter(new Date(), 30 * 86_400),
      targets: Object.fromEntries(Object.entries(files).map(([p, f]) => [p, describeTarget(f)])),
    });
    const inline = Object.fromEntries(Object.entries(files).map(([p, f]) => [p, f.toString('base64')]));
    return JSON.stringify({ metadata: await this.signAsMaintainer(project, signed), files: inline });
  }

  async signAsMaintainer(project: string, signed: JsonObject): Promise<Envelope> {
    const identity = maintainerOf(project);
    const sig = await signWithIdentity(
      canonicalBytes(signed),
      identityKeyid(identity, this.sigstore.issuerUrl),
      { fulcioUrl: this.sigstore.fulcioUrl, rekorUrl: this.sigstore.rekorUrl },
      { getToken: () => this.sigstore.mintToken({ identity }) },
    );
    return { signed, signatures: [sig] };
  }

  /** Uploads a release body; resolves with the time to the answer (given after snapshot and timestamp include it). */
  async upload(project: string, body: string): Promise<number> {
    const t0 = performance.now();
    const res = await fetch(`${this.base}/api/v1/projects/${project}/uploads`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body,
    });
    const text = await res.text();
    if (res.status !== 201) throw new Error(`upload ${project}: ${res.status} ${text.slice(0, 500)}`);
    return performance.now() - t0;
  }
}
