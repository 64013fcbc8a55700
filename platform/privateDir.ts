// Folders that hold secrets (development keys, the local Sigstore's keys, online keys) are created
// private (0700); their parents are created with the default mode, so that a sibling folder (the
// embedded PostgreSQL's DATA_DIR beside DEV_DIR, run as an unprivileged user) stays reachable.
import fs from 'node:fs';
import path from 'node:path';

/** Creates `dir` with mode 0700 if it is missing, and its missing parents with the default mode. */
export function ensurePrivateDir(dir: string): void {
  const full = path.resolve(dir);
  fs.mkdirSync(path.dirname(full), { recursive: true });
  try {
    fs.mkdirSync(full, { mode: 0o700 });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  }
}

/** `ensurePrivateDir` without blocking the event loop (the server's upload staging folder). */
export async function ensurePrivateDirAsync(dir: string): Promise<void> {
  const full = path.resolve(dir);
  await fs.promises.mkdir(path.dirname(full), { recursive: true });
  try {
    await fs.promises.mkdir(full, { mode: 0o700 });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  }
}
