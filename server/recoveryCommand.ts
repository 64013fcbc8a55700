// `tuf-server backup`, `restore` and `recover` (docs/runbooks.md, "Restoring from a backup").
import type { Knex } from 'knex';
import { systemClock } from '../core/clock.ts';
import type { Config } from './config.ts';
import { createKnex, migrateLatest } from './db/knex.ts';
import { CurrentMetadata } from './publication/currentMetadata.ts';
import { OnlineSigners } from './publication/onlineSigners.ts';
import { Publication } from './publication/publication.ts';
import { PublishedMark } from './publication/publishedMark.ts';
import { INSTANCE } from './publication/signing.ts';
import { backupDatabase, restoreDatabase } from './recovery/backup.ts';
import { runRecovery } from './recovery/gate.ts';
import { describe } from './recovery/recovery.ts';
import type { RecoverySources } from './recovery/recovery.ts';
import { keyStoreFor } from './runtime.ts';

function option(args: string[], name: string): string | undefined {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
}

function versionOption(args: string[], name: string): number | undefined {
  const raw = option(args, name);
  if (raw === undefined) return undefined;
  if (!/^[1-9]\d{0,14}$/.test(raw)) throw new Error(`${name} needs a version number, got ${JSON.stringify(raw)}`);
  return Number(raw);
}

/** --mirror URL, --snapshot-version N, --timestamp-version M (and MIRROR_URL). */
export function recoverySources(config: Config, args: string[]): RecoverySources {
  const snapshot = versionOption(args, '--snapshot-version');
  const timestamp = versionOption(args, '--timestamp-version');
  const mirrorUrl = option(args, '--mirror') ?? config.mirrorUrl;
  if (args.includes('--mirror') && !option(args, '--mirror')) throw new Error('--mirror needs the metadata URL of a mirror');
  return {
    mirrorUrl: mirrorUrl ?? null,
    operator:
      snapshot !== undefined || timestamp !== undefined ? { ...(snapshot ? { snapshot } : {}), ...(timestamp ? { timestamp } : {}) } : null,
  };
}

async function migrationNames(knex: Knex): Promise<string[]> {
  if (!(await knex.schema.hasTable('knex_migrations'))) return [];
  return (await knex('knex_migrations').orderBy('id').select('name')).map((r: { name: string }) => r.name);
}

export async function backupCommand(url: string, args: string[], out: (line: string) => void): Promise<void> {
  const file = option(args, '--out');
  if (!file) throw new Error('usage: tuf-server backup --out FILE');
  const knex = createKnex(url, 1);
  try {
    const s = await backupDatabase(knex, file);
    const total = Object.values(s.rows).reduce((a, b) => a + b, 0);
    out(`backup written to ${file}: ${total} rows, ${s.bytes} bytes (gzip), taken at ${s.header.created_at}`);
    out(`it holds root v${s.header.heads.root}, targets v${s.header.heads.targets}, ${describe(s.header.heads)}`);
  } finally {
    await knex.destroy();
  }
}

export async function restoreCommand(url: string, args: string[], out: (line: string) => void): Promise<void> {
  const file = args.find((a, i) => i > 0 && !a.startsWith('--'));
  if (!file) throw new Error('usage: tuf-server restore FILE [--replace]');
  // One connection: the check for other sessions must not count this command's own.
  const knex = createKnex(url, 1);
  try {
    const s = await restoreDatabase(knex, file, {
      replace: args.includes('--replace'),
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
  } finally {
    await knex.destroy();
  }
}

/** Returns the exit code: 1 when the mirror serves roles the database lost. */
export async function recoverCommand(config: Config, url: string, args: string[], out: (line: string) => void): Promise<number> {
  const sources = recoverySources(config, args);
  const knex = createKnex(url, 4);
  try {
    await migrateLatest(knex);
    const current = new CurrentMetadata(knex, config.parsedBinsCached);
    const signers = new OnlineSigners(keyStoreFor(config));
    await signers.load();
    const mark = new PublishedMark(config.publishedMarkFile);
    const publication = new Publication({
      knex,
      origin: `${INSTANCE}/recover`,
      clock: systemClock,
      signers,
      current,
      snapshotExpirySeconds: config.snapshotExpirySeconds,
      timestampExpirySeconds: config.timestampExpirySeconds,
      resignRemainingFraction: config.resignRemainingFraction,
      snapshotVersionOnly: config.snapshotVersionOnly,
      snapshotMerkleTrees: config.snapshotMerkleTrees,
      snapshotCheckpointVersions: config.snapshotCheckpointVersions,
      mark,
    });
    const report = await runRecovery({ knex, publication, current, mark }, sources);
    if (!report.outcome.recovered) out(`no recovery needed: the database holds ${describe(report.outcome.heads)}, no source is above it`);
    for (const line of report.lines) out(line);
    return report.lostCount > 0 ? 1 : 0;
  } finally {
    await knex.destroy();
  }
}
