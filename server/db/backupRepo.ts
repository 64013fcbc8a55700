// The SQL of `tuf-server backup` and `restore` (server/recovery/backup.ts): every table of the
// repository's schema, read in one consistent snapshot and written back in foreign-key order.
// Rows travel as PostgreSQL's own JSON of the row (row_to_json) and come back through
// json_populate_recordset, so every column type round-trips through PostgreSQL's input and output
// functions (bytea as \x hex, bigint as written, timestamps with their zone) without this process
// interpreting a value.
import type { Knex } from 'knex';
import type { Db } from './knex.ts';

/** Tables knex's migrator owns: recreated by running the migrations, never copied. */
export const MIGRATOR_TABLES = new Set(['knex_migrations', 'knex_migrations_lock']);

/** Tables of the current schema, each after the tables its foreign keys point to. */
export async function tablesInDependencyOrder(db: Db): Promise<string[]> {
  const tables: string[] = (
    await db.raw(`select tablename from pg_tables where schemaname = current_schema() order by tablename`)
  ).rows.map((r: { tablename: string }) => r.tablename);
  const edges: { child: string; parent: string }[] = (
    await db.raw(
      `select c.conrelid::regclass::text as child, c.confrelid::regclass::text as parent
         from pg_constraint c join pg_namespace n on n.oid = c.connamespace
        where c.contype = 'f' and n.nspname = current_schema()`,
    )
  ).rows;
  const parents = new Map<string, Set<string>>(tables.map((t) => [t, new Set<string>()]));
  for (const e of edges) if (e.child !== e.parent) parents.get(e.child.replace(/"/g, ''))?.add(e.parent.replace(/"/g, ''));
  const ordered: string[] = [];
  const placed = new Set<string>();
  while (ordered.length < tables.length) {
    const next = tables.filter((t) => !placed.has(t) && [...parents.get(t)!].every((p) => placed.has(p) || !parents.has(p)));
    if (next.length === 0) throw new Error('foreign keys form a cycle: cannot order the tables');
    for (const t of next) {
      ordered.push(t);
      placed.add(t);
    }
  }
  return ordered;
}

/** Whether a table has bytea columns (its rows may be megabytes: read a few at a time). */
export async function hasLargeColumns(db: Db, table: string): Promise<boolean> {
  const r = await db.raw(
    `select 1 from information_schema.columns where table_schema = current_schema() and table_name = ? and data_type = 'bytea' limit 1`,
    [table],
  );
  return r.rows.length > 0;
}

/** Every sequence of the schema and its position (serial columns and free-standing ones such as role_change_seq). */
export async function sequencePositions(db: Db): Promise<{ name: string; lastValue: string | null }[]> {
  const r = await db.raw(
    `select sequencename as name, last_value::text as "lastValue" from pg_sequences where schemaname = current_schema()`,
  );
  return r.rows;
}

export async function setSequencePosition(db: Db, name: string, lastValue: string | null): Promise<void> {
  if (lastValue === null) await db.raw(`select setval(?::regclass, 1, false)`, [name]);
  else await db.raw(`select setval(?::regclass, ?::bigint, true)`, [name, lastValue]);
}

/** Starts a read-only transaction that sees one snapshot of the whole database. */
export async function beginConsistentRead(trx: Knex.Transaction): Promise<void> {
  await trx.raw('set transaction isolation level repeatable read, read only');
}

/** Rows of `table` as JSON texts, `batch` at a time, through a cursor inside `trx`. */
export async function* tableRows(trx: Knex.Transaction, table: string, batch: number): AsyncGenerator<string[]> {
  const cursor = `backup_${table}`;
  await trx.raw(`declare ?? no scroll cursor for select row_to_json(t)::text as j from ?? t`, [cursor, table]);
  for (;;) {
    const r = await trx.raw(`fetch ${Math.max(1, Math.floor(batch))} from ??`, [cursor]);
    if (r.rows.length === 0) break;
    yield r.rows.map((row: { j: string }) => row.j);
  }
  await trx.raw(`close ??`, [cursor]);
}

/** Inserts rows given as JSON texts of whole rows (what tableRows read). */
export async function insertRowTexts(db: Db, table: string, rows: string[]): Promise<void> {
  if (rows.length === 0) return;
  await db.raw(`insert into ?? select * from json_populate_recordset(null::??, ?::json)`, [table, table, `[${rows.join(',')}]`]);
}

/**
 * Empties `tables` in one statement (foreign keys among them allowed): the rows migrations seed
 * (the transparency monitor's cursor) make way for the backup's own.
 */
export async function emptyTables(db: Db, tables: string[]): Promise<void> {
  if (tables.length === 0) return;
  await db.raw(`truncate table ${tables.map(() => '??').join(', ')}`, tables);
}

export async function rowCount(db: Db, table: string): Promise<number> {
  const r = await db.raw(`select count(*)::int as n from ??`, [table]);
  return r.rows[0].n;
}

/** Sessions other than this one connected to the current database (servers that must be stopped first). */
export async function otherSessions(db: Db): Promise<{ pid: number; application: string; client: string | null }[]> {
  const r = await db.raw(
    `select pid, application_name as application, client_addr::text as client from pg_stat_activity
      where datname = current_database() and pid <> pg_backend_pid() and backend_type = 'client backend'`,
  );
  return r.rows;
}

/** Drops and recreates the current schema: what `restore --replace` does before loading. */
export async function recreateSchema(db: Db): Promise<void> {
  await db.raw(`drop schema if exists public cascade`);
  await db.raw(`create schema public`);
}

export async function tableExists(db: Db, table: string): Promise<boolean> {
  const r = await db.raw(`select to_regclass(?) is not null as e`, [table]);
  return r.rows[0].e;
}
