// The soak's steady traffic: readers walking timestamp -> snapshot -> a project role -> its file,
// maintainers uploading Sigstore-signed releases, new maintainers registering, and admins pushing
// the bins that delegate them. Every request goes to one of the running servers in turn; one that
// gets no answer (its server was killed) is sent again elsewhere. An upload counts as acknowledged
// only on a 201, or when a retry finds exactly its bytes published.
import { canonicalBytes, sha256Hex, type JsonObject } from '../core/canonical.ts';
import { registrationSigned } from '../core/delegations.ts';
import { identityKey, identityKeyid, IdentitySignatureVerifier } from '../core/identity.ts';
import type { Envelope } from '../core/metadata.ts';
import { signWithIdentity } from '../maintainer/identitySigner.ts';
import type { LocalSigstore } from '../sigstore-local/localSigstore.ts';
import { maintainerOf, type BenchRepo } from './benchRepo.ts';
import type { Kind, SoakStats } from './soakStats.ts';

export interface TrafficContext {
  stats: SoakStats;
  repo: BenchRepo;
  sigstore: LocalSigstore;
  /** Base URLs of the servers that run now. */
  live(): string[];
  stopped(): boolean;
  /** Admin pushes pause around the database restart (the bench repository's bin versions live in memory). */
  pushesPaused(): boolean;
  /** project -> version -> sha256 of the canonical signed bytes acknowledged. */
  acked: Map<string, Map<number, string>>;
  delegated: string[];
  registered: string[];
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
let turn = 0;
let localVerifier: IdentitySignatureVerifier | null = null;

/**
 * Whether our own verifier accepts what the local Sigstore signed. @sigstore/mock's Fulcio issues a
 * certificate whose chain does not verify about once in 30,000 signatures (measured: 1 in 29,616,
 * "Failed to verify certificate chain"); the server rightly refuses those, so the soak signs again
 * instead of sending them, and counts it. A refusal of anything that verified here stays fatal.
 */
function verifiesLocally(ctx: TrafficContext, identity: string, envelope: Envelope): boolean {
  localVerifier ??= new IdentitySignatureVerifier(ctx.sigstore.trustedRoot);
  const verdict = localVerifier.explain(
    identityKey(identity, ctx.sigstore.issuerUrl),
    envelope.signatures[0]!,
    canonicalBytes(envelope.signed),
  );
  if (!verdict.valid) ctx.stats.event(`the local Sigstore's signature for ${identity} does not verify (${verdict.reason}): signed again`);
  return verdict.valid;
}

function pick(ctx: TrafficContext): string | null {
  const live = ctx.live();
  return live.length === 0 ? null : live[turn++ % live.length]!;
}

/** One request, measured; null when no answer came. */
async function send(
  ctx: TrafficContext,
  kind: Kind,
  base: string,
  route: string,
  init?: RequestInit,
): Promise<{ status: number; body: Buffer } | null> {
  const t0 = performance.now();
  try {
    const res = await fetch(`${base}${route}`, { ...init, signal: AbortSignal.timeout(60_000) });
    const body = Buffer.from(await res.arrayBuffer());
    ctx.stats.request(kind, res.status, performance.now() - t0, route.replace(/\/[0-9a-f]{3}\/[^/]+\//, '/.../'));
    return { status: res.status, body };
  } catch {
    ctx.stats.connectionError(kind);
    return null;
  }
}

export async function reader(ctx: TrafficContext, pauseMs: number): Promise<void> {
  const snapshots = new Map<number, Record<string, { version: number }>>();
  while (!ctx.stopped()) {
    await sleep(pauseMs * (0.5 + Math.random()));
    const base = pick(ctx);
    if (!base) continue;
    const ts = await send(ctx, 'read', base, '/metadata/timestamp.json');
    if (ts?.status !== 200) continue;
    const snapshotVersion = (JSON.parse(ts.body.toString()) as Envelope).signed.meta as Record<string, { version: number }>;
    const sv = snapshotVersion['snapshot.json']!.version;
    let meta = snapshots.get(sv);
    if (!meta) {
      const snap = await send(ctx, 'read', base, `/metadata/${sv}.snapshot.json`);
      if (snap?.status !== 200) continue;
      meta = (JSON.parse(snap.body.toString()) as Envelope).signed.meta as Record<string, { version: number }>;
      snapshots.clear();
      snapshots.set(sv, meta);
    }
    const projects = Object.keys(meta).filter((f) => ctx.acked.has(f.slice(0, -5)));
    if (projects.length === 0) continue;
    const file = projects[Math.floor(Math.random() * projects.length)]!;
    await send(ctx, 'read', base, `/metadata/snapshot-merkle/${sv}/${file}`);
    const role = await send(ctx, 'read', base, `/metadata/${meta[file]!.version}.${file}`);
    if (role?.status !== 200) continue;
    const targets = (JSON.parse(role.body.toString()) as Envelope).signed.targets as Record<string, { hashes: { sha256: string } }>;
    const [path, info] = Object.entries(targets)[0] ?? [];
    if (!path || !info) continue;
    const dir = path.slice(0, path.lastIndexOf('/'));
    await send(ctx, 'read', base, `/targets/${dir}/${info.hashes.sha256}.${path.slice(path.lastIndexOf('/') + 1)}`);
  }
}

/** Uploads the next version of `project`, through kills and the database restart; false if it gave up. */
async function uploadNext(ctx: TrafficContext, project: string): Promise<boolean> {
  const versions = ctx.acked.get(project)!;
  const version = Math.max(0, ...versions.keys()) + 1;
  let body = await ctx.repo.release(project, version);
  for (let i = 0; i < 3 && !verifiesLocally(ctx, maintainerOf(project), (JSON.parse(body) as { metadata: Envelope }).metadata); i++)
    body = await ctx.repo.release(project, version);
  const signedSha = sha256Hex(canonicalBytes((JSON.parse(body) as { metadata: Envelope }).metadata.signed));
  const deadline = Date.now() + 5 * 60_000;
  while (Date.now() < deadline) {
    const base = pick(ctx);
    if (!base) {
      await sleep(500);
      continue;
    }
    const res = await send(ctx, 'upload', base, `/api/v1/projects/${project}/uploads`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body,
    });
    if (res?.status === 201) {
      versions.set(version, signedSha);
      return true;
    }
    if (res?.status === 409 && res.body.toString().includes('version_not_next')) {
      // An earlier attempt committed without its answer arriving: it must be exactly ours.
      const served = await send(ctx, 'read', base, `/metadata/${version}.${project}.json`);
      if (served?.status === 200) {
        const sha = sha256Hex(canonicalBytes((JSON.parse(served.body.toString()) as Envelope).signed));
        if (sha !== signedSha) throw new Error(`${project} v${version}: another upload took this version`);
        versions.set(version, signedSha);
        return true;
      }
    } else if (res && res.status < 500 && res.status !== 429) {
      throw new Error(`${project} v${version}: unexpected ${res.status} ${res.body.toString().slice(0, 300)}`);
    }
    await sleep(300);
  }
  return false;
}

export async function maintainer(ctx: TrafficContext, busy: Set<string>, pauseMs: number): Promise<void> {
  while (!ctx.stopped()) {
    await sleep(pauseMs * (0.5 + Math.random()));
    const free = ctx.delegated.filter((p) => !busy.has(p));
    if (free.length === 0) continue;
    const project = free[Math.floor(Math.random() * free.length)]!;
    busy.add(project);
    try {
      if (!(await uploadNext(ctx, project))) ctx.stats.event(`upload of ${project} gave up after 5 minutes`);
    } finally {
      busy.delete(project);
    }
  }
}

/** A new maintainer asks for a project every `everyMs`. */
export async function registrant(ctx: TrafficContext, everyMs: number, name: (i: number) => string): Promise<void> {
  for (let i = 0; !ctx.stopped(); i++) {
    await sleep(everyMs);
    const project = name(i);
    const identity = maintainerOf(project);
    const signed = registrationSigned(project, { identity, issuer: ctx.sigstore.issuerUrl }, new Date());
    const signOnce = async (): Promise<Envelope> => ({
      signed: signed as JsonObject,
      signatures: [
        await signWithIdentity(
          canonicalBytes(signed),
          identityKeyid(identity, ctx.sigstore.issuerUrl),
          { fulcioUrl: ctx.sigstore.fulcioUrl, rekorUrl: ctx.sigstore.rekorUrl },
          { getToken: () => ctx.sigstore.mintToken({ identity }) },
        ),
      ],
    });
    let request = await signOnce();
    for (let n = 0; n < 3 && !verifiesLocally(ctx, identity, request); n++) request = await signOnce();
    for (let attempt = 0; attempt < 100 && !ctx.stopped(); attempt++) {
      const base = pick(ctx);
      const res = base
        ? await send(ctx, 'registration', base, '/api/v1/registrations', {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: JSON.stringify(request),
          })
        : null;
      if (res?.status === 201 || res?.status === 200) {
        ctx.registered.push(project);
        break;
      }
      if (res && res.status < 500 && res.status !== 429)
        throw new Error(`registration ${project}: ${res.status} ${res.body.toString().slice(0, 300)}`);
      await sleep(500);
    }
  }
}

/** Every `everyMs`, the admins delegate what was registered since (bins signed, pushed to the first server, never killed). */
export async function admin(ctx: TrafficContext, everyMs: number, firstServer: () => string): Promise<void> {
  while (!ctx.stopped()) {
    await sleep(everyMs);
    if (ctx.pushesPaused()) continue;
    const approved = ctx.registered.splice(0);
    if (approved.length === 0) continue;
    for (const p of approved) ctx.repo.delegate(p);
    const t0 = performance.now();
    try {
      await ctx.repo.push();
      ctx.stats.request('push', 201, performance.now() - t0, `/admin/metadata/delegated (${firstServer()})`);
      for (const p of approved) {
        ctx.acked.set(p, new Map());
        ctx.delegated.push(p);
      }
    } catch (err) {
      const status = Number(/: (\d{3}) /.exec((err as Error).message)?.[1] ?? 0);
      if (status) ctx.stats.request('push', status, performance.now() - t0, '/admin/metadata/delegated');
      else ctx.stats.connectionError('push');
      throw new Error(`admin push failed: ${(err as Error).message}`);
    }
  }
}
