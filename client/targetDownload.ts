// TUF 5.7.3: downloading a target file: `HASH.NAME` (the first listed hash, as tuf-js) under the
// target's directory when the repository uses consistent snapshots, at most its signed length,
// written to a temporary file and renamed into place only once its length and every listed hash
// match.
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { newHash, TrustError, type TargetInfo } from '../core/trustedSet.ts';
import { download, joinUrl } from './download.ts';

export interface TargetDownload {
  consistentSnapshot: boolean;
  targetBaseUrl: string;
  outFile: string;
  timeoutMs: number;
}

export async function downloadVerifiedTarget(target: TargetInfo, opts: TargetDownload): Promise<void> {
  let urlPath = target.path;
  if (opts.consistentSnapshot) {
    const { dir, base } = path.posix.parse(target.path);
    const name = `${target.hashes[0]![1]}.${base}`;
    urlPath = dir ? `${dir}/${name}` : name;
  }
  const what = target.path;
  const { outFile } = opts;
  const digests = target.hashes.map(([alg, hex]) => ({ alg, hex, hash: newHash(alg, what) }));
  fs.mkdirSync(path.dirname(path.resolve(outFile)), { recursive: true });
  const tmp = `${outFile}.${randomBytes(6).toString('hex')}.part`;
  const fh = await fs.promises.open(tmp, 'w');
  let received: number;
  try {
    try {
      received = await download(
        joinUrl(opts.targetBaseUrl, urlPath),
        target.length,
        async (chunk) => {
          for (const d of digests) d.hash.update(chunk);
          await fh.write(chunk);
        },
        { timeoutMs: opts.timeoutMs },
      );
    } finally {
      await fh.close();
    }
    if (received !== target.length) {
      throw new TrustError('length_or_hash_mismatch', `${what}: expected length ${target.length} but got ${received}`);
    }
    for (const d of digests) {
      const observed = d.hash.digest('hex');
      if (observed !== d.hex)
        throw new TrustError('length_or_hash_mismatch', `${what}: expected ${d.alg} hash ${d.hex} but got ${observed}`);
    }
    fs.renameSync(tmp, outFile);
  } catch (err) {
    fs.rmSync(tmp, { force: true });
    throw err;
  }
}
