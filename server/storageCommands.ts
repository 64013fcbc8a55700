// Operator commands of object storage (issue 20): `blobs migrate --to URL` moves held target files
// between PostgreSQL and a bucket; `publish-to status|stop` shows or stops the copy to PUBLISH_TO.
import type { Config } from './config.ts';
import { migrateBlobs, MigrationFailed, type MigrateReport } from './blobs/migrate.ts';
import { forgetMirror } from './db/mirrorRepo.ts';
import { takePublishLock } from './db/locks.ts';
import { describePublishStatus, publishStatus } from './mirror/publishStatus.ts';
import { ObjectStorage } from './objectStore/objectStorage.ts';
import { describeS3Endpoint } from './objectStore/s3Settings.ts';
import { parseS3Url } from './objectStore/s3Url.ts';
import { EXIT, printJson, usage } from '../platform/cli.ts';
import type { ServerCommandLine } from './commandLine.ts';
import { withKnex } from './operatorCommands.ts';

function say(line: string): void {
  process.stdout.write(`${line}\n`);
}

export async function storageCommand(config: Config, cli: ServerCommandLine): Promise<number> {
  if (cli.command === 'blobs') return blobsMigrate(config, cli);
  if (cli.sub === 'status') return publishToStatus(config, cli.json);
  return publishToStop(config);
}

function destinationOf(to: string) {
  if (to === 'postgres') return null;
  try {
    return parseS3Url(to, '--to');
  } catch (err) {
    return usage(`${(err as Error).message}, or postgres`);
  }
}

async function blobsMigrate(config: Config, cli: ServerCommandLine): Promise<number> {
  const to = destinationOf(cli.to!);
  const objects = new ObjectStorage(config.storage.s3);
  if (to) await objects.check();
  const controller = new AbortController();
  let signals = 0;
  const onSignal = () => {
    signals += 1;
    if (signals > 1) process.exit(EXIT.failure); // a second Ctrl-C: now (each file's move is one transaction)
    if (!cli.json) process.stderr.write('stopping after the files in flight (Ctrl-C again to stop now)\n');
    controller.abort();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  let report: MigrateReport;
  try {
    report = await withKnex(
      config,
      async (knex) => {
        if (!cli.json) say(`destination: ${cli.to}${to ? ` (${describeS3Endpoint()})` : ''}`);
        return migrateBlobs(knex, objects, {
          to,
          stagingDir: config.uploadStagingDir,
          dryRun: cli.dryRun,
          signal: controller.signal,
          onMoved: (m) => {
            if (!cli.json) say(`moved ${m.sha256} (${m.length} bytes) from ${m.from} to ${m.to}`);
          },
          onDamaged: (d) => {
            if (!cli.json) say(`NOT MOVED ${d.sha256} (in ${d.from}): ${d.problem}`);
          },
        });
      },
      { migrate: true },
    );
  } catch (err) {
    if (err instanceof MigrationFailed && cli.json) printJson({ ...summary(err.report), error: { code: err.code, message: err.message } });
    throw err;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    objects.close();
  }
  if (cli.json) printJson(summary(report));
  else for (const line of describe(report)) say(line);
  if (report.damaged.length > 0) return EXIT.refused;
  return report.interrupted ? EXIT.failure : EXIT.ok;
}

function summary(r: MigrateReport) {
  return {
    destination: r.destination,
    dryRun: r.dryRun,
    alreadyThere: r.alreadyThere,
    toMove: r.toMove,
    toMoveBytes: r.toMoveBytes,
    moved: r.moved,
    movedBytes: r.movedBytes,
    damaged: r.damaged,
    skipped: r.skipped,
    interrupted: r.interrupted,
  };
}

function describe(r: MigrateReport): string[] {
  if (r.dryRun)
    return [`dry run: ${r.toMove} file(s) (${r.toMoveBytes} bytes) would move to ${r.destination}; ${r.alreadyThere} there already`];
  const lines = [
    `moved ${r.moved.length} file(s) (${r.movedBytes} bytes) to ${r.destination}; ${r.alreadyThere} were there already` +
      (r.skipped.length > 0 ? `; ${r.skipped.length} changed meanwhile (removed or moved by another run) and left alone` : ''),
  ];
  if (r.damaged.length > 0) lines.push(`${r.damaged.length} file(s) NOT moved: their bytes do not match their SHA-256 (listed above)`);
  if (r.interrupted)
    lines.push(
      `interrupted: ${r.toMove - r.moved.length - r.damaged.length - r.skipped.length} file(s) left; run the command again to move them`,
    );
  else if (r.damaged.length === 0) lines.push(`every file is held at ${r.destination}`);
  return lines;
}

async function publishToStatus(config: Config, json: boolean): Promise<number> {
  const status = await withKnex(config, (knex) => publishStatus(knex), { migrate: true });
  if (json) {
    printJson(status ?? { url: null });
    return EXIT.ok;
  }
  if (!status) {
    say('no bucket: publications are not recorded for a copy (start a server with PUBLISH_TO=s3://BUCKET[/PREFIX])');
    return EXIT.ok;
  }
  say(describePublishStatus(status));
  say(`timestamp.json in the bucket: v${status.timestampVersion}; ${status.objectsWritten} object(s) written`);
  say(status.copiedBy ? `copied by ${status.copiedBy} (lease until ${status.leaseUntil})` : 'no server process holds the copy now');
  if (status.lastSuccessAt) say(`last success: ${status.lastSuccessAt}`);
  if (status.lastError) say(`last error (${status.lastErrorAt}): ${status.lastError}`);
  return EXIT.ok;
}

async function publishToStop(config: Config): Promise<number> {
  const row = await withKnex(
    config,
    (knex) =>
      knex.transaction(async (trx) => {
        await takePublishLock(trx, 'exclusive');
        return forgetMirror(trx);
      }),
    { migrate: true },
  );
  say(
    row
      ? `publications are no longer recorded for ${row.url}; the bucket keeps what it holds. A server started with PUBLISH_TO sets a bucket again (and copies the repository to it).`
      : 'no bucket was set: nothing to stop',
  );
  return EXIT.ok;
}
