// `tuf-server blobs migrate --to URL`: moves held target files to another store (a bucket, or back
// into PostgreSQL) beside running servers, one file at a time, each in its own transaction:
// 1. read from where the file's row says it is, hashing the bytes as they pass;
// 2. write them at the destination: a new object (recorded in object_cleanup first, as uploads
//    are) whose bytes are then read back and hashed again, or pieces staged and checked on disk;
// 3. one transaction points the row at the new place, if it is still where step 1 found it (a
//    file garbage collection removed or another run moved meanwhile is left alone), claims the new
//    object and records the old one for deletion after a grace period (downloads in flight, cached
//    redirects), or deletes the old pieces from PostgreSQL.
// A file whose bytes do not hash to its SHA-256 is not moved and is reported. Stopping (Ctrl-C) lets
// the files in flight finish; nothing is half moved whenever it stops, and running the command
// again moves what is left.
import { createHash } from 'node:crypto';
import { Transform } from 'node:stream';
import type { Knex } from 'knex';
import {
  blobPlacement,
  blobsToMove,
  claimObject,
  deleteBlobChunks,
  lockBlobAt,
  queueObjectCleanup,
  switchBlobLocation,
  type BlobToMove,
} from '../db/blobRepo.ts';
import type { ObjectBucket } from '../objectStore/bucket.ts';
import type { ObjectStorage } from '../objectStore/objectStorage.ts';
import { formatS3Url, type S3Location } from '../objectStore/s3Url.ts';
import { BlobStore } from './blobStore.ts';
import { writeNewObject } from './objectBackend.ts';
import { PostgresBackend, writeChunks } from './postgresBackend.ts';
import { discard, stage } from './staging.ts';

/** Replaced objects stay this long: downloads in flight and redirects cached for a minute still find them. */
const REPLACED_GRACE_SECONDS = 3600;
/** A move's new object may be collected after this long if the move never claims it (a killed run). */
const MOVE_GRACE_SECONDS = 86_400;

export interface MoveResult {
  sha256: string;
  length: number;
  from: string;
  to: string;
}

export interface MigrateReport {
  destination: string;
  /** Files held at the destination before this run, and left to move at its start. */
  alreadyThere: number;
  toMove: number;
  toMoveBytes: number;
  moved: MoveResult[];
  movedBytes: number;
  /** Bytes that do not hash to the file's SHA-256, at the source or after writing: not moved. */
  damaged: { sha256: string; from: string; problem: string }[];
  /** Changed by someone else while being moved (removed by garbage collection, moved by another run): left alone. */
  skipped: string[];
  /** Stopped before the end; run again to move the rest. */
  interrupted: boolean;
  dryRun: boolean;
}

export interface MigrateOptions {
  /** The destination: a bucket, or null for PostgreSQL. */
  to: S3Location | null;
  stagingDir: string;
  dryRun?: boolean;
  /** Files moved at once (default 4). */
  concurrency?: number;
  /** Stops taking new files; those in flight finish. */
  signal?: AbortSignal;
  /** Each file as it is moved (progress). */
  onMoved?: (moved: MoveResult) => void;
  onDamaged?: (damaged: { sha256: string; from: string; problem: string }) => void;
}

class Damaged extends Error {}

/** The run stopped on a failure of a store; `report` says what was moved before it. */
export class MigrationFailed extends Error {
  override readonly name = 'MigrationFailed';
  readonly code = 'migration_failed' as const;
  constructor(
    override readonly cause: unknown,
    readonly report: MigrateReport,
  ) {
    super(
      `${cause instanceof Error ? cause.message : String(cause)} (after moving ${report.moved.length} file(s); run the command again to go on)`,
    );
  }
}

function sourceName(location: string | null): string {
  return location ?? 'postgres';
}

export async function migrateBlobs(knex: Knex, objects: ObjectStorage, opts: MigrateOptions): Promise<MigrateReport> {
  const destination = opts.to ? formatS3Url(opts.to) : 'postgres';
  // Objects under s3://BUCKET/PREFIX/ are at the destination; keys there are PREFIX/SHA256-NONCE.
  const prefix = opts.to ? `${destination}/` : null;
  const placement = await blobPlacement(knex, prefix);
  const report: MigrateReport = {
    destination,
    alreadyThere: placement.there,
    toMove: placement.left,
    toMoveBytes: placement.leftBytes,
    moved: [],
    movedBytes: 0,
    damaged: [],
    skipped: [],
    interrupted: false,
    dryRun: opts.dryRun === true,
  };
  if (opts.dryRun) return report;
  const bucket = opts.to ? objects.bucket(opts.to) : null;
  const reader = new BlobStore(knex, opts.stagingDir, new PostgresBackend(knex), objects);
  let after = '';
  const queue: BlobToMove[] = [];
  let refill: Promise<void> | null = null;
  // One page at a time, whichever worker needs it: each file is handed to one worker only.
  const next = async (): Promise<BlobToMove | undefined> => {
    while (queue.length === 0) {
      refill ??= blobsToMove(knex, prefix, after, 100)
        .then((page) => {
          queue.push(...page);
          if (page.length > 0) after = page.at(-1)!.sha256;
          else exhausted = true;
        })
        .finally(() => (refill = null));
      await refill;
      if (exhausted) break;
    }
    return queue.shift();
  };
  let exhausted = false;
  let failure: unknown = null;
  const worker = async () => {
    for (;;) {
      if (failure !== null) return;
      if (opts.signal?.aborted) {
        report.interrupted = true;
        return;
      }
      const file = await next();
      if (!file) return;
      try {
        const to = bucket ? await toBucket(knex, reader, objects, bucket, file) : await toPostgres(knex, reader, opts.stagingDir, file);
        if (to === null) {
          report.skipped.push(file.sha256);
          continue;
        }
        const moved = { sha256: file.sha256, length: file.length, from: sourceName(file.location), to };
        report.moved.push(moved);
        report.movedBytes += file.length;
        opts.onMoved?.(moved);
      } catch (err) {
        if (!(err instanceof Damaged)) {
          // The store or the database failed: the other files in flight finish, then the run stops.
          failure ??= err;
          return;
        }
        const damaged = { sha256: file.sha256, from: sourceName(file.location), problem: err.message };
        report.damaged.push(damaged);
        opts.onDamaged?.(damaged);
      }
    }
  };
  await Promise.all(Array.from({ length: opts.concurrency ?? 4 }, worker));
  if (failure !== null) throw new MigrationFailed(failure, report);
  return report;
}

/**
 * Counts and hashes what passes, and fails the stream (so the upload is abandoned) the moment the
 * bytes cannot be the file: more than its length, or fewer at the end.
 */
function hashing(expectedLength: number): { stream: Transform; result(): { sha256: string; length: number } } {
  const hash = createHash('sha256');
  let length = 0;
  const stream = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      hash.update(chunk);
      length += chunk.length;
      callback(
        length > expectedLength ? new Damaged(`the bytes held are longer than the file's ${expectedLength}: left where it is`) : null,
        chunk,
      );
    },
    flush(callback) {
      callback(
        length < expectedLength
          ? new Damaged(`the bytes held (${length} bytes) are shorter than the file's ${expectedLength}: left where it is`)
          : null,
      );
    },
  });
  return { stream, result: () => ({ sha256: hash.digest('hex'), length }) };
}

/** SHA-256 and length of an object's bytes as the store serves them; null when it is missing. */
async function readBack(objects: ObjectStorage, location: string): Promise<{ sha256: string; length: number } | null> {
  const { bucket, key } = objects.object(location);
  const got = await bucket.get(key);
  if (!got) return null;
  const hash = createHash('sha256');
  let length = 0;
  for await (const chunk of got.body as AsyncIterable<Buffer>) {
    hash.update(chunk);
    length += chunk.length;
  }
  return { sha256: hash.digest('hex'), length };
}

async function toBucket(
  knex: Knex,
  reader: BlobStore,
  objects: ObjectStorage,
  bucket: ObjectBucket,
  file: BlobToMove,
): Promise<string | null> {
  const content = await reader.open(file.sha256);
  if (!content) return null; // removed meanwhile
  const passing = hashing(file.length);
  const source = content.stream();
  source.on('error', (err) => passing.stream.destroy(err));
  let damaged: Damaged | null = null;
  passing.stream.on('error', (err) => {
    if (err instanceof Damaged) damaged = err;
  });
  let location: string;
  try {
    location = await writeNewObject(knex, bucket, file.sha256, file.length, source.pipe(passing.stream), MOVE_GRACE_SECONDS);
  } catch (err) {
    throw damaged ?? err; // writeNewObject left what it wrote to the next collection
  }
  const drop = () => queueObjectCleanup(knex, location, new Date(), 'failed');
  const read = passing.result();
  if (read.sha256 !== file.sha256 || read.length !== file.length) {
    await drop();
    throw new Damaged(`the bytes held (${read.length} bytes) hash to ${read.sha256}, not to the file's sha256: left where it is`);
  }
  // Read back what the store holds now.
  const written = await readBack(objects, location);
  if (!written || written.sha256 !== file.sha256 || written.length !== file.length) {
    await drop();
    throw new Damaged(`the object written (${location}) does not read back as the file: left where it was`);
  }
  const switched = await knex.transaction(async (trx) => {
    if (!(await switchBlobLocation(trx, file.sha256, file.location, location))) return false;
    if (!(await claimObject(trx, location))) throw new Error(`${location}: the new object is being collected; run the migration again`);
    if (file.location) await queueObjectCleanup(trx, file.location, new Date(Date.now() + REPLACED_GRACE_SECONDS * 1000), 'replaced');
    return true;
  });
  if (!switched) {
    await drop();
    return null;
  }
  return location;
}

async function toPostgres(knex: Knex, reader: BlobStore, stagingDir: string, file: BlobToMove): Promise<string | null> {
  const content = await reader.open(file.sha256);
  if (!content) return null;
  let staged;
  try {
    staged = await stage(stagingDir, content.stream(), {
      length: file.length,
      sha256: file.sha256,
      maxBytes: file.length,
      what: `file ${file.sha256}`,
    });
  } catch (err) {
    if ((err as { code?: string }).code === 'target_hash_mismatch') throw new Damaged(`${(err as Error).message}: left where it is`);
    throw err;
  }
  try {
    const switched = await knex.transaction(async (trx) => {
      if (!(await lockBlobAt(trx, file.sha256, file.location))) return false;
      await deleteBlobChunks(trx, file.sha256); // left by a run that died half way? (none: its transaction rolled back)
      await writeChunks(trx, file.sha256, staged.file);
      if (!(await switchBlobLocation(trx, file.sha256, file.location, null))) return false;
      if (file.location) await queueObjectCleanup(trx, file.location, new Date(Date.now() + REPLACED_GRACE_SECONDS * 1000), 'replaced');
      return true;
    });
    return switched ? 'postgres' : null;
  } finally {
    await discard(staged.file);
  }
}
