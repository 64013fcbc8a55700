// Target files as clients download them: only a file some role lists, with that path and hash.
import type { Knex } from 'knex';
import { findTargetRecord, getBlob } from '../db/targetsRepo.ts';

export class TargetFiles {
  constructor(private readonly knex: Knex) {}

  /** The bytes of `path` with this sha256, or null when no role lists such a target. */
  async get(path: string, sha256: string): Promise<Buffer | null> {
    const record = await findTargetRecord(this.knex, path, sha256);
    const blob = record ? await getBlob(this.knex, sha256) : undefined;
    return blob ? blob.content : null;
  }
}
