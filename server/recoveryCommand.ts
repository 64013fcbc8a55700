// `tuf-server backup`, `restore` and `recover` (docs/runbooks.md, "Restoring from a backup").
// The command line is checked by commandLine.ts before anything here runs.
import type { Knex } from 'knex';
import { systemClock } from '../core/clock.ts';
import { EXIT } from '../platform/cli.ts';
import type { ServerCommandLine } from './commandLine.ts';
import type { Config } from './config.ts';
import { migrateLatest } from './db/knex.ts';
import { withKnex } from './operatorCommands.ts';
import { CurrentMetadata } from './publication/currentMetadata.ts';
import { OnlineSigners } from './publication/onlineSigners.ts';
import { Publication } from './publication/publication.ts';
import { INSTANCE } from './publication/signing.ts';
import { backupDatabase, restoreDatabase } from './recovery/backup.ts';
import { runRecovery } from './recovery/gate.ts';
import { describe } from './recovery/recovery.ts';
import type { RecoverySources } from './recovery/recovery.ts';
import { keyStoreFor, publicationSettings } from './runtime.ts';
import { workerTreeBuilder } from './treeBuilder.ts';
import { recoverySources } from './recovery/sources.ts';

function say(line: string): void {
  process.stdout.write(`${line}\n`);
}

/** backup, restore or recover; returns the exit status. */
export async function recoveryCommand(config: Config, cli: ServerCommandLine): Promise<number> {
  switch (cli.command) {
    case 'backup':
      await withKnex(config, (knex) => backupCommand(knex, cli.out!, say), { migrate: false, connections: 1 });
      return EXIT.ok;
    case 'restore':
      // One connection: the check for other sessions must not count this command's own.
      await withKnex(config, (knex) => restoreCommand(knex, cli.sub!, cli.replace, say), { migrate: false, connections: 1 });
      return EXIT.ok;
    case 'recover': {
      const lost = await withKnex(config, (knex) => recoverCommand(config, knex, recoverySources(config, cli), say), {
        migrate: true,
        connections: 4,
      });
      return lost > 0 ? EXIT.refused : EXIT.ok;
    }
    default:
      throw new Error(`not a recovery command: ${cli.command}`);
  }
}

async function migrationNames(knex: Knex): Promise<string[]> {
  if (!(await knex.schema.hasTable('knex_migrations'))) return [];
  return (await knex('knex_migrations').orderBy('id').select('name')).map((r: { name: string }) => r.name);
}

async function backupCommand(knex: Knex, file: string, out: (line: string) => void): Promise<void> {
  const s = await backupDatabase(knex, file);
  const total = Object.values(s.rows).reduce((a, b) => a + b, 0);
  out(`backup written to ${file}: ${total} rows, ${s.bytes} bytes (gzip), taken at ${s.header.created_at}`);
  out(`it holds root v${s.header.heads.root}, targets v${s.header.heads.targets}, ${describe(s.header.heads)}`);
}

async function restoreCommand(knex: Knex, file: string, replace: boolean, out: (line: string) => void): Promise<void> {
  const s = await restoreDatabase(knex, file, {
    replace,
    listMigrations: migrationNames,
    migrateUp: async (k) => {
      const [, names] = (await k.migrate.up()) as [number, string[]];
      return names[0] ?? '';
    },
    migrateLatest,
  });
  const total = Object.values(s.rows).reduce((a, b) => a + b, 0);
  out(`restored ${total} rows from ${file} (taken at ${s.header.created_at}): root v${s.header.heads.root}, ${describe(s.header.heads)}`);
  out(
    'The database is marked restored: no server serves or signs from it until the recovery establishes the highest ' +
      'snapshot and timestamp versions ever published. Start the server where its published mark is (PUBLISHED_MARK_FILE), ' +
      'or run `tuf-server recover --mirror URL` (or give --snapshot-version/--timestamp-version).',
  );
}

/** Returns how many roles the mirror serves above the database (lost with the backup). */
async function recoverCommand(config: Config, knex: Knex, sources: RecoverySources, out: (line: string) => void): Promise<number> {
  const current = new CurrentMetadata(knex, config.parsedBinsCached);
  const signers = new OnlineSigners(keyStoreFor(config));
  await signers.load();
  const settings = publicationSettings(config);
  const mark = settings.mark;
  const publication = new Publication({
    knex,
    origin: `${INSTANCE}/recover`,
    clock: systemClock,
    signers,
    current,
    ...settings,
    treeBuilder: workerTreeBuilder(),
  });
  const report = await runRecovery({ knex, publication, current, mark }, sources);
  if (!report.outcome.recovered) out(`no recovery needed: the database holds ${describe(report.outcome.heads)}, no source is above it`);
  for (const line of report.lines) out(line);
  return report.lostCount;
}
