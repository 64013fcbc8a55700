// One file from the first copy of a repository that has it (TAP 4: "try contacting every known
// mirror until the file is found"). With one copy, its error as it is; with several, what each
// said. A copy answering 404 or 403 is taken at its word when no copy has the file (the client
// asks for `N+1.root.json` to learn there is none), before a copy that could not be reached.
import { isTrustError } from '../core/trustedSet.ts';
import { isDownloadError } from './download.ts';
import { ClientError } from './errors.ts';

/** Errors that mean "not from this copy": anything a download or the file's own check raises. */
function worthAnotherCopy(err: unknown): boolean {
  return isDownloadError(err) || isTrustError(err, 'length_or_hash_mismatch');
}

export async function fromMirrors<T>(bases: readonly string[], what: string, attempt: (base: string) => Promise<T>): Promise<T> {
  if (bases.length === 1) return attempt(bases[0]!);
  const failures: { base: string; err: unknown }[] = [];
  for (const base of bases) {
    try {
      return await attempt(base);
    } catch (err) {
      if (!worthAnotherCopy(err)) throw err;
      failures.push({ base, err });
    }
  }
  const absent = failures.find(({ err }) => isDownloadError(err, 'http_status') && (err.status === 404 || err.status === 403));
  if (absent && failures.every(({ err }) => isDownloadError(err))) throw absent.err;
  const lines = failures.map(({ base, err }) => `${base}: ${(err as Error).message}`);
  throw new ClientError('mirrors_failed', `no copy of the repository served ${what}: ${lines.join('; ')}`, { cause: failures[0]!.err });
}
