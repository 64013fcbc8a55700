// After a restore: the project releases a mirror serves above the database, published again from
// the mirror's own copies. Each version goes through the very upload path a maintainer's does
// (its Sigstore signatures verified offline against the delegation in force, next version, not
// expired, every file's length and hashes), so a hostile mirror can offer nothing a maintainer did
// not sign. Admin-signed roles (root, top-level targets, bins) are left to the admins, who hold
// the signed files (tuf-carry push); a release whose delegation the backup also lost waits for
// them and is reported.
import { isPlainObject } from '../../core/canonical.ts';
import type { Envelope } from '../../core/metadata.ts';
import { readLimitedBody } from './limitedBody.ts';
import { metadataBase } from './mirror.ts';
import type { LostRole } from './recovery.ts';

/** The upload path of the project service (projects/projectService.ts `upload`). */
export type Upload = (project: string, metadata: unknown, files: Map<string, Buffer>) => Promise<{ status: string }>;

const MAX_FILE_BYTES = 1024 * 1024 * 1024;

function isAdminRole(role: string): boolean {
  return role === 'root' || role === 'targets' || /^bin-[0-9a-f]{3}(-[0-9a-f]{3})?$/.test(role);
}

/** Where the mirror serves target files: MIRROR_TARGETS_URL, else its metadata URL with /metadata replaced by /targets. */
export function mirrorTargetsBase(metadataUrl: string, explicit?: string | null): string {
  if (explicit) return explicit.replace(/\/+$/, '');
  return metadataBase(metadataUrl).replace(/\/metadata$/, '/targets');
}

async function fetchBytes(url: string): Promise<Buffer> {
  const res = await fetch(url, { signal: AbortSignal.timeout(120_000) });
  if (res.status !== 200) throw new Error(`${url} answered ${res.status}`);
  return readLimitedBody(res, MAX_FILE_BYTES, url);
}

export interface RepublishOutcome {
  republished: string[];
  failed: string[];
}

export async function republishFromMirror(
  lost: LostRole[],
  mirror: { metadataUrl: string; targetsUrl: string },
  upload: Upload,
): Promise<RepublishOutcome> {
  const out: RepublishOutcome = { republished: [], failed: [] };
  for (const l of lost) {
    if (isAdminRole(l.role)) continue;
    for (let v = l.held + 1; v <= l.served; v++) {
      const what = `${l.role} v${v}`;
      try {
        const metadata = JSON.parse(
          (await fetchBytes(`${metadataBase(mirror.metadataUrl)}/${v}.${l.role}.json`)).toString('utf8'),
        ) as Envelope;
        const targets = isPlainObject(metadata.signed) && isPlainObject(metadata.signed.targets) ? metadata.signed.targets : {};
        const files = new Map<string, Buffer>();
        for (const [path, info] of Object.entries(targets)) {
          const sha256 = isPlainObject(info) && isPlainObject(info.hashes) ? info.hashes.sha256 : undefined;
          if (typeof sha256 !== 'string' || !/^[0-9a-f]{64}$/.test(sha256)) throw new Error(`${path}: no sha256 to fetch it by`);
          const slash = path.lastIndexOf('/');
          const url = `${mirror.targetsUrl}/${slash >= 0 ? `${path.slice(0, slash)}/` : ''}${sha256}.${path.slice(slash + 1)}`;
          files.set(path, await fetchBytes(url));
        }
        const result = await upload(l.role, metadata, files);
        if (result.status !== 'published') throw new Error(`not published: ${result.status}`);
        out.republished.push(what);
      } catch (err) {
        out.failed.push(`${what}: ${(err as Error).message}`);
        break; // later versions need this one
      }
    }
  }
  return out;
}
