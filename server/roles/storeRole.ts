// Storing one version of a targets role (top-level or delegated): its served bytes, the role's
// new head, and the target records clients may download, each backed by a file already held.
import { sha256Hex } from '../../core/canonical.ts';
import { TufError } from '../../core/errors.ts';
import { servedBytes, type Envelope, type ParsedMetadata } from '../../core/metadata.ts';
import type { Db } from '../db/knex.ts';
import { insertMetadataVersion } from '../db/metadataRepo.ts';
import { blobExists, replaceTargetRecords, type TargetRecord } from '../db/targetsRepo.ts';
import type { PublishedFile } from '../serving/published.ts';

/** Every listed target is downloadable: its bytes must already be held. */
export async function targetRecordsWithFiles(db: Db, targets: ParsedMetadata<'targets'>): Promise<TargetRecord[]> {
  const records: TargetRecord[] = [];
  for (const [path, file] of Object.entries(targets.model.targets)) {
    const sha256 = file.hashes.sha256!;
    if (!(await blobExists(db, sha256))) {
      throw new TufError('target_file_missing', `target ${path}: upload its file (sha256 ${sha256}) with or before the metadata`, {
        path,
        sha256,
      });
    }
    const custom = file.unrecognizedFields.custom as Record<string, unknown> | undefined;
    records.push({ path, length: file.length, hashes: file.hashes, ...(custom ? { custom } : {}) });
  }
  return records;
}

export interface StoredRole {
  /** What a snapshot must cover to include this version (role_heads.change_seq). */
  changeSeq: string;
  records: TargetRecord[];
  /** The stored file, for this process's cache. */
  published: PublishedFile;
}

/**
 * Stores `doc` as role `role`, served with `envelope`'s signatures (the document's own unless the
 * caller kept only some). The caller has verified it and holds the locks.
 */
export async function storeTargetsVersion(
  db: Db,
  role: string,
  doc: ParsedMetadata<'targets'>,
  envelope: Envelope = doc.envelope,
): Promise<StoredRole> {
  const records = await targetRecordsWithFiles(db, doc);
  const bytes = servedBytes(envelope);
  const sha256 = sha256Hex(bytes);
  const changeSeq = await insertMetadataVersion(db, { role, version: doc.version, bytes, sha256, expires: doc.expires });
  await replaceTargetRecords(db, role, doc.version, records);
  return { changeSeq, records, published: { role, version: doc.version, file: { bytes, sha256, expires: doc.expires } } };
}
