// Debian packages the tests and benchmarks run for real (Ceph's S3 gateway, PgBouncer, nginx):
// installed here when missing and this process may (root), as .ci/run does; otherwise the error
// says which package to install.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';

/** Makes sure `binary` exists, installing `packages` with apt-get when it does not and we are root. */
export function ensureDebianPackages(binary: string, packages: string[]): void {
  if (fs.existsSync(binary)) return;
  if (process.getuid?.() !== 0)
    throw new Error(`${binary} is missing: install Debian's ${packages.join(' ')} (apt-get install ${packages.join(' ')})`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  // The package lists may be missing or stale on a fresh machine; an update that fails (no
  // network) still leaves the install to try what is known.
  try {
    execFileSync('apt-get', ['update', '-qq'], { stdio: 'ignore', env, timeout: 300_000 });
  } catch {
    // the install below says what is wrong
  }
  execFileSync('apt-get', ['install', '-y', '-qq', ...packages], { stdio: 'ignore', env, timeout: 900_000 });
  if (!fs.existsSync(binary)) throw new Error(`apt-get install ${packages.join(' ')} did not install ${binary}`);
}
