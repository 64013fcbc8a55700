// What a mirror or CDN currently serves: the newest timestamp it holds (and the snapshot that
// timestamp names), verified against the repository's own root before any number is believed. A
// mirror that copied the repository before its database was restored is the best witness of what
// clients hold: its timestamp and snapshot versions are floors for the recovery, and its snapshot
// lists the roles the restored database lost.
import type { Root } from '@tufjs/models';
import { canonicalBytes, isPlainObject } from '../../core/canonical.ts';
import type { Envelope } from '../../core/metadata.ts';
import { rootKeys, rootRole } from '../../core/updates.ts';
import { checkThreshold } from '../../core/verify.ts';
import { RecoveryError } from './errors.ts';
import { readLimitedBody } from './limitedBody.ts';

export interface MirrorState {
  url: string;
  timestampVersion: number;
  snapshotVersion: number;
  /** `ROLE` -> version, from the mirror's snapshot (null when the mirror does not serve that snapshot). */
  roles: Map<string, number> | null;
}

const MAX_METADATA_BYTES = 64 * 1024 * 1024;

async function get(url: string): Promise<{ status: number; bytes: Buffer }> {
  const res = await fetch(url, { signal: AbortSignal.timeout(30_000), headers: { 'cache-control': 'no-cache' } });
  return { status: res.status, bytes: await readLimitedBody(res, MAX_METADATA_BYTES, url) };
}

function signedBy(doc: unknown, root: Root, role: 'timestamp' | 'snapshot'): doc is Envelope {
  if (!isPlainObject(doc) || !isPlainObject(doc.signed) || !Array.isArray(doc.signatures)) return false;
  const env = doc as unknown as Envelope;
  return checkThreshold(env.signatures, canonicalBytes(env.signed), rootKeys(root), rootRole(root, role)).met;
}

/** The metadata base URL (…/metadata) of a mirror, without a trailing slash. */
export function metadataBase(url: string): string {
  return url.replace(/\/+$/, '');
}

/**
 * Reads the mirror's timestamp.json and the snapshot it names, each verified against `root`'s
 * keys (TUF 5.4.2, 5.5.3). A timestamp signed by other keys proves nothing and is refused.
 */
export async function readMirror(url: string, root: Root): Promise<MirrorState> {
  const base = metadataBase(url);
  let ts: { status: number; bytes: Buffer };
  try {
    ts = await get(`${base}/timestamp.json`);
  } catch (err) {
    throw new RecoveryError('mirror_unreachable', `mirror ${base}: no answer for timestamp.json (${(err as Error).message})`);
  }
  if (ts.status !== 200) throw new RecoveryError('mirror_unreachable', `mirror ${base}: timestamp.json answered ${ts.status}`);
  let doc: unknown;
  try {
    doc = JSON.parse(ts.bytes.toString('utf8'));
  } catch {
    throw new RecoveryError('mirror_unverified', `mirror ${base}: timestamp.json is not JSON`);
  }
  if (!signedBy(doc, root, 'timestamp'))
    throw new RecoveryError(
      'mirror_unverified',
      `mirror ${base}: timestamp.json is not signed by the timestamp key(s) of root v${root.version} in the database. If root versions were lost with the backup, push them again first (tuf-carry push N.root.json), or give the versions yourself (--snapshot-version, --timestamp-version)`,
    );
  const signed = doc.signed;
  const entry = isPlainObject(signed.meta) ? signed.meta['snapshot.json'] : undefined;
  const snapshotVersion = isPlainObject(entry) ? entry.version : undefined;
  if (!Number.isSafeInteger(signed.version) || !Number.isSafeInteger(snapshotVersion))
    throw new RecoveryError('mirror_unverified', `mirror ${base}: timestamp.json has no usable version or snapshot version`);
  const state: MirrorState = {
    url: base,
    timestampVersion: signed.version as number,
    snapshotVersion: snapshotVersion as number,
    roles: null,
  };
  const snap = await get(`${base}/${snapshotVersion}.snapshot.json`).catch(() => null);
  if (snap?.status === 200) {
    let sdoc: unknown = null;
    try {
      sdoc = JSON.parse(snap.bytes.toString('utf8'));
    } catch {
      // refused below
    }
    if (!signedBy(sdoc, root, 'snapshot') || sdoc.signed.version !== snapshotVersion)
      throw new RecoveryError(
        'mirror_unverified',
        `mirror ${base}: ${snapshotVersion}.snapshot.json is not the snapshot its timestamp names`,
      );
    const meta = isPlainObject(sdoc.signed.meta) ? sdoc.signed.meta : {};
    state.roles = new Map();
    for (const [file, e] of Object.entries(meta)) {
      if (isPlainObject(e) && Number.isSafeInteger(e.version)) state.roles.set(file.replace(/\.json$/, ''), e.version as number);
    }
  }
  return state;
}

/** Root versions the mirror serves above `held` (probed one by one, as a client's root update does). */
export async function mirrorRootVersions(url: string, held: number, max = 100): Promise<number[]> {
  const found: number[] = [];
  for (let v = held + 1; v <= held + max; v++) {
    const res = await get(`${metadataBase(url)}/${v}.root.json`).catch(() => null);
    if (res?.status !== 200) break;
    found.push(v);
  }
  return found;
}
