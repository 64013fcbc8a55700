// Connects the published mark (publishedMark.ts) to the publishing transaction: the floor every
// new snapshot and timestamp version is signed above, and the raise before the commit.
import type { Db } from '../db/knex.ts';
import { firstRootSha256, recoveryRequired } from '../db/recoveryRepo.ts';
import type { PublishedFile } from '../serving/published.ts';
import { PublishedMarkError, type MarkVersions, type PublishedMark } from './publishedMark.ts';

export class MarkGuard {
  /** The SHA-256 of root v1 once stored: it never changes, so it is read once, not twice a publication. */
  private repository: string | null = null;

  constructor(readonly mark: PublishedMark) {}

  private async repositoryOf(db: Db): Promise<string | null> {
    this.repository ??= (await firstRootSha256(db)) ?? null;
    return this.repository;
  }

  /**
   * The mark of the repository in `db` (read inside the caller's transaction); empty before
   * bootstrap. Refuses while the database is marked restored: nothing is signed before the
   * recovery (recovery/recovery.ts) established what was published.
   */
  async floor(db: Db): Promise<Partial<MarkVersions>> {
    const restored = await recoveryRequired(db);
    if (restored)
      throw new PublishedMarkError(
        'recovery_required',
        `the database was restored (${restored.reason}): run the recovery first (tuf-server recover)`,
      );
    const repository = await this.repositoryOf(db);
    return repository ? (this.mark.read(repository) ?? {}) : {};
  }

  /**
   * Raises the mark to the snapshot and timestamp versions this transaction stored. Called under
   * the exclusive publishing lock, before the commit: if it fails, nothing is published.
   */
  async record(db: Db, published: PublishedFile[]): Promise<void> {
    const versions: Partial<MarkVersions> = {};
    for (const p of published)
      if (p.role === 'snapshot' || p.role === 'timestamp') versions[p.role] = Math.max(versions[p.role] ?? 0, p.version);
    if (versions.snapshot === undefined && versions.timestamp === undefined) return;
    const repository = await this.repositoryOf(db);
    if (!repository) throw new Error('a snapshot or timestamp was signed before root v1 was stored');
    await this.mark.raise(repository, versions);
  }
}
