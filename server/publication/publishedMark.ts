// The published mark: the highest snapshot and timestamp versions this host ever published, kept
// in a small file outside the database (PUBLISHED_MARK_FILE). A database restored from a backup
// is older than what clients hold; were the server to continue from the restored heads, it would
// sign versions clients already have under a higher number, and every updated client would refuse
// them (a freeze that looks like an attack). The mark is raised inside each publishing
// transaction, before it commits and so before any answer or announcement, and every later
// version is signed above it (signing.ts: `versionFloor`). A commit lost after the mark was raised
// costs a skipped version number, recorded in version_jumps; a version clients hold is never
// signed again.
//
// The mark belongs to one repository (the sha256 of its root v1): a file left by another
// repository, a development database recreated for example, is neither a floor nor evidence.
import fs from 'node:fs';
import path from 'node:path';
import { writeFileAtomicAsync } from '../../platform/atomicFile.ts';

export interface MarkVersions {
  snapshot: number;
  timestamp: number;
}

interface MarkFile extends MarkVersions {
  /** sha256 of root v1: which repository these versions were published for. */
  repository: string;
  updated_at: string;
}

export type PublishedMarkErrorCode =
  | 'published_mark_unreadable' // the file exists but is not a mark: nothing is signed until an operator decides
  | 'recovery_required'; // the database was restored and the recovery has not run: nothing is signed

export class PublishedMarkError extends Error {
  override readonly name = 'PublishedMarkError';
  constructor(
    readonly code: PublishedMarkErrorCode,
    message: string,
  ) {
    super(message);
  }
}

function isVersion(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}

export class PublishedMark {
  constructor(readonly file: string) {}

  /**
   * What the file holds, whatever repository it names; null when there is no file. A file that
   * exists but cannot be read is an error: publishing without knowing the mark could reuse a
   * version clients hold (fail closed).
   */
  readFile(): MarkFile | null {
    let text: string;
    try {
      text = fs.readFileSync(this.file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw new PublishedMarkError('published_mark_unreadable', `published mark ${this.file}: ${(err as Error).message}`);
    }
    try {
      const value = JSON.parse(text) as Partial<MarkFile>;
      if (typeof value.repository !== 'string' || !isVersion(value.snapshot) || !isVersion(value.timestamp))
        throw new Error('unexpected shape');
      return { repository: value.repository, snapshot: value.snapshot, timestamp: value.timestamp, updated_at: String(value.updated_at) };
    } catch (err) {
      throw new PublishedMarkError(
        'published_mark_unreadable',
        `published mark ${this.file} is not a mark file (${(err as Error).message}): move it away only if you know the highest snapshot and timestamp versions published (tuf-server recover)`,
      );
    }
  }

  /** The mark of `repository`, or null (no file, or another repository's). */
  read(repository: string): MarkVersions | null {
    const file = this.readFile();
    return file && file.repository === repository ? { snapshot: file.snapshot, timestamp: file.timestamp } : null;
  }

  /**
   * Raises the mark of `repository` to at least `versions`; never lowers it. Callers hold the
   * publishing lock exclusively, so processes sharing this file never interleave their writes.
   * The file and its directory are flushed before this returns.
   */
  async raise(repository: string, versions: Partial<MarkVersions>): Promise<MarkVersions> {
    const current = this.read(repository) ?? { snapshot: 0, timestamp: 0 };
    const next: MarkVersions = {
      snapshot: Math.max(current.snapshot, versions.snapshot ?? 0),
      timestamp: Math.max(current.timestamp, versions.timestamp ?? 0),
    };
    if (next.snapshot === current.snapshot && next.timestamp === current.timestamp && this.read(repository)) return next;
    const content: MarkFile = { repository, ...next, updated_at: new Date().toISOString() };
    // Flushed without blocking the event loop: reads go on being answered meanwhile (the
    // publication itself waits, as it must: the mark is raised before the commit).
    await writeFileAtomicAsync(this.file, `${JSON.stringify(content, null, 2)}\n`, { mode: 0o644 });
    // The rename is durable only once the directory entry is.
    const dir = await fs.promises.open(path.dirname(path.resolve(this.file)), 'r');
    try {
      await dir.sync();
    } finally {
      await dir.close();
    }
    return next;
  }
}
