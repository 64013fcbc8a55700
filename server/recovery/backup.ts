// `tuf-server backup` and `tuf-server restore`: a logical copy of the repository's database, taken
// in one consistent snapshot while the server runs, written back into an empty database (or one
// whose schema --replace drops first). The embedded PostgreSQL ships without pg_dump, and a
// pg_dump older than the server refuses to run; this needs neither. With an external PostgreSQL,
// pg_dump/pg_restore (or the provider's snapshots) work as well: what matters is the recovery step
// after any restore (recovery.ts), which this command prepares by marking the database restored.
//
// Format: gzip of text lines. `#tuf-backup\t{header}`, then one `TABLE\tROW_JSON` line per row (the
// row's JSON as PostgreSQL wrote it: never parsed here), then `#end\t{counts}`. A file without its
// end line is refused: it was cut short.
import fs from 'node:fs';
import readline from 'node:readline';
import { once } from 'node:events';
import zlib from 'node:zlib';
import type { Knex } from 'knex';
import {
  emptyTables,
  MIGRATOR_TABLES,
  beginConsistentRead,
  hasLargeColumns,
  insertRowTexts,
  otherSessions,
  recreateSchema,
  rowCount,
  sequencePositions,
  setSequencePosition,
  tableExists,
  tableRows,
  tablesInDependencyOrder,
} from '../db/backupRepo.ts';
import { getHead } from '../db/metadataRepo.ts';
import { firstRootSha256, setRecoveryRequired } from '../db/recoveryRepo.ts';
import { RecoveryError } from './errors.ts';

const FORMAT = 'tuf-repository-backup/1';
/** Rows of a table with bytea columns read at once (target file chunks are 1 MiB each). */
const LARGE_BATCH = 8;
const BATCH = 500;
/** Rows inserted per statement, bounded by their text size too. */
const INSERT_BYTES = 8 * 1024 * 1024;

export interface BackupHeader {
  format: string;
  created_at: string;
  /** Applied migrations, in order: the schema the rows fit. */
  migrations: string[];
  repository: string | null;
  heads: { root: number; targets: number; snapshot: number; timestamp: number };
  sequences: { name: string; lastValue: string | null }[];
}

export interface BackupSummary {
  header: BackupHeader;
  rows: Record<string, number>;
  bytes: number;
}

async function write(out: NodeJS.WritableStream, text: string): Promise<void> {
  if (!out.write(text)) await once(out, 'drain');
}

/** Writes a backup of the database to `file` (replaced atomically once complete). */
export async function backupDatabase(knex: Knex, file: string): Promise<BackupSummary> {
  const tmp = `${file}.${process.pid}.partial`;
  const gzip = zlib.createGzip({ level: 6 });
  const sink = fs.createWriteStream(tmp, { mode: 0o600 });
  gzip.pipe(sink);
  const rows: Record<string, number> = {};
  let header: BackupHeader;
  try {
    header = await knex.transaction(async (trx) => {
      await beginConsistentRead(trx);
      const head = async (role: string) => (await getHead(trx, role))?.version ?? 0;
      const h: BackupHeader = {
        format: FORMAT,
        created_at: new Date().toISOString(),
        migrations: (await trx('knex_migrations').orderBy('id').select('name')).map((r: { name: string }) => r.name),
        repository: await firstRootSha256(trx),
        heads: {
          root: await head('root'),
          targets: await head('targets'),
          snapshot: await head('snapshot'),
          timestamp: await head('timestamp'),
        },
        sequences: await sequencePositions(trx),
      };
      await write(gzip, `#tuf-backup\t${JSON.stringify(h)}\n`);
      for (const table of await tablesInDependencyOrder(trx)) {
        if (MIGRATOR_TABLES.has(table)) continue;
        rows[table] = 0;
        for await (const batch of tableRows(trx, table, (await hasLargeColumns(trx, table)) ? LARGE_BATCH : BATCH)) {
          for (const row of batch) await write(gzip, `${table}\t${row}\n`);
          rows[table] += batch.length;
        }
      }
      return h;
    });
    await write(gzip, `#end\t${JSON.stringify({ rows })}\n`);
    gzip.end();
    await once(sink, 'close');
    const fd = fs.openSync(tmp, 'r');
    fs.fsyncSync(fd);
    fs.closeSync(fd);
    fs.renameSync(tmp, file);
  } catch (err) {
    gzip.destroy();
    sink.destroy();
    fs.rmSync(tmp, { force: true });
    throw err;
  }
  return { header, rows, bytes: fs.statSync(file).size };
}

async function* lines(file: string): AsyncGenerator<string> {
  const input = fs.createReadStream(file).pipe(zlib.createGunzip());
  const rl = readline.createInterface({ input, crlfDelay: Infinity });
  try {
    for await (const line of rl) yield line;
  } catch (err) {
    throw new RecoveryError('backup_unreadable', `${file}: ${(err as Error).message}`);
  }
}

export interface RestoreOptions {
  /** Drop the schema of a database that holds a repository already (all servers stopped). */
  replace: boolean;
  /** Brings the schema to the backup's migrations, and later to this server's. */
  migrateUp(knex: Knex): Promise<string>;
  migrateLatest(knex: Knex): Promise<unknown>;
  listMigrations(knex: Knex): Promise<string[]>;
}

/**
 * Loads `file` into the database: refuses while other sessions are connected, or when the database
 * holds a repository and `replace` is false. Marks the database restored (recovery_required), so
 * no server serves or signs from it before the recovery.
 */
export async function restoreDatabase(knex: Knex, file: string, opts: RestoreOptions): Promise<BackupSummary> {
  const it = lines(file);
  const first = await it.next();
  const [tag, json] = first.done ? [] : first.value.split('\t', 2);
  let header: BackupHeader;
  try {
    if (tag !== '#tuf-backup') throw new Error('no backup header');
    header = JSON.parse(json!) as BackupHeader;
    if (header.format !== FORMAT) throw new Error(`format ${header.format}, expected ${FORMAT}`);
  } catch (err) {
    if (err instanceof RecoveryError) throw err;
    throw new RecoveryError('backup_unreadable', `${file} is not a backup written by tuf-server backup (${(err as Error).message})`);
  }
  // Read the whole file once before anything is dropped: a backup cut short must not cost the
  // database it was meant to replace.
  let complete = false;
  for await (const line of lines(file)) if (line.startsWith('#end\t')) complete = true;
  if (!complete)
    throw new RecoveryError('backup_unreadable', `${file} ends before its last line: the backup was cut short; nothing was changed`);
  const others = await otherSessions(knex);
  if (others.length > 0)
    throw new RecoveryError(
      'restore_target_in_use',
      `${others.length} other session(s) are connected to this database (${others.map((o) => `pid ${o.pid} ${o.application || '?'}`).join(', ')}): stop every server first`,
    );
  if ((await tableExists(knex, 'role_heads')) && (await rowCount(knex, 'role_heads')) > 0 && !opts.replace)
    throw new RecoveryError(
      'restore_target_not_empty',
      'this database holds a repository: give --replace to drop it and load the backup instead',
    );
  await recreateSchema(knex);
  // The schema exactly as it was when the backup was taken, so that its rows fit.
  for (;;) {
    const applied = await opts.listMigrations(knex);
    const wanted = header.migrations;
    if (applied.some((name, i) => wanted[i] !== name))
      throw new RecoveryError('restore_schema_unknown', `the backup's schema (${wanted.at(-1)}) is not one this server knows`);
    if (applied.length === wanted.length) break;
    const name = await opts.migrateUp(knex);
    if (!name)
      throw new RecoveryError(
        'restore_schema_unknown',
        `the backup needs migration ${wanted[applied.length]}, which this server does not have`,
      );
  }
  // Marked restored before any row is loaded: a load that fails leaves a database no server uses.
  await setRecoveryRequired(knex, `restore from the backup taken at ${header.created_at} did not complete`);
  // One transaction: the rows, the sequences and the restored mark land together or not at all
  // (every backup this command writes has the recovery_required table).
  const rows: Record<string, number> = {};
  await knex.transaction(async (trx) => {
    // The tables were just created: whatever they hold, a migration seeded, and the backup holds
    // those rows as they were (a seeded row inserted again would break its primary key).
    // Only tables that hold rows: some refuse TRUNCATE outright (audit_log is append-only).
    const seeded: string[] = [];
    for (const t of await tablesInDependencyOrder(trx)) if (!MIGRATOR_TABLES.has(t) && (await rowCount(trx, t)) > 0) seeded.push(t);
    await emptyTables(trx, seeded);
    let batch: { table: string; rows: string[]; bytes: number } | null = null;
    const flush = async () => {
      if (batch) await insertRowTexts(trx, batch.table, batch.rows);
      batch = null;
    };
    let ended = false;
    for await (const line of it) {
      const tab = line.indexOf('\t');
      const table = line.slice(0, tab);
      if (table === '#end') {
        ended = true;
        break;
      }
      const row = line.slice(tab + 1);
      if (!batch || batch.table !== table || batch.bytes > INSERT_BYTES) {
        await flush();
        batch = { table, rows: [], bytes: 0 };
      }
      batch.rows.push(row);
      batch.bytes += row.length;
      rows[table] = (rows[table] ?? 0) + 1;
    }
    await flush();
    if (!ended)
      throw new RecoveryError('backup_unreadable', `${file} ends before its last line: the backup was cut short; nothing was restored`);
    for (const s of header.sequences) await setSequencePosition(trx, s.name, s.lastValue);
    await setRecoveryRequired(trx, `restored from the backup taken at ${header.created_at}`);
  });
  await opts.migrateLatest(knex);
  return { header, rows, bytes: fs.statSync(file).size };
}
