// The snapshot's entries, kept in memory between publications so that the next one only reads
// the roles changed since (role_heads.change_seq) and only canonicalizes those.
import type { SnapshotMetaEntry } from '../../core/metadata.ts';
import { SnapshotEntries } from '../../core/snapshotText.ts';
import type { Db } from '../db/knex.ts';
import { maxSnapshotChangeSeq, snapshotEntriesChanged, snapshotHeadInfo, type SnapshotHeadInfo } from '../db/metadataRepo.ts';

/** The highest role change and the current snapshot, when the caller read them in this transaction. */
export interface SnapshotState {
  upto: string;
  head: SnapshotHeadInfo | undefined;
}

export interface BuiltSnapshotMeta {
  metaText: string;
  size: number;
  coversSeq: string;
  /** Call once the snapshot over `metaText` is stored: the next build starts from it. */
  remember(version: number, sha256: string): void;
}

/**
 * Keyed by the version and digest of the snapshot the entries describe: after a rolled-back or
 * foreign publication they do not match, and are rebuilt from every role.
 */
export class SnapshotMeta {
  /**
   * @param versionOnly list delegated roles by version alone (TUF allows it; the snapshot shrinks
   *   to about a third); top-level targets keeps its length and hash.
   */
  constructor(private readonly versionOnly: boolean) {}

  private state: { version: number; sha256: string; coversSeq: string; entries: SnapshotEntries } | null = null;

  async build(db: Db, known?: SnapshotState): Promise<BuiltSnapshotMeta> {
    const upto = known ? known.upto : await maxSnapshotChangeSeq(db);
    const head = known ? known.head : await snapshotHeadInfo(db);
    const s = this.state;
    const incremental = s && head && head.covers_seq !== null && s.version === head.version && s.sha256 === head.sha256;
    const entries = incremental ? s.entries : new SnapshotEntries();
    const rows = await snapshotEntriesChanged(db, incremental ? s.coversSeq : null, upto);
    const changes = new Map<string, SnapshotMetaEntry>();
    for (const r of rows) {
      const full = !this.versionOnly || r.role === 'targets';
      changes.set(`${r.role}.json`, full ? { version: r.version, length: r.length, hashes: { sha256: r.sha256 } } : { version: r.version });
    }
    const next = entries.withChanges(changes);
    return {
      metaText: next.metaText,
      size: next.size,
      coversSeq: upto,
      remember: (version, sha256) => {
        next.commit();
        this.state = { version, sha256, coversSeq: upto, entries };
      },
    };
  }
}
