// tuf-server: the repository server and its operator commands.
import { loadConfig } from './config.ts';
import { parseServerCommandLine } from './commandLine.ts';
import { EXIT, exitStatusHelp, runTool } from '../platform/cli.ts';

const HELP = `tuf-server: a TUF repository server with identity delegations

Usage: npm start [-- --production]          (same as: tuf-server start)
       tuf-server <command> [options]

Commands:
  start [--production] [--workers N] [--mirror URL]
                               Serve the repository. Without DATABASE_URL an embedded PostgreSQL
                               is started under DATA_DIR. In development mode (the default) online
                               keys, an admin token and a throwaway ceremony are created as needed.
                               Production mode (--production or NODE_ENV=production) needs
                               DATABASE_URL and online keys, and never bootstraps by itself.
                               --workers N (or WEB_CONCURRENCY): server processes sharing the
                               port, one per core by default; a supervising process restarts one
                               that dies and sums their /metrics. 1 serves from this one process.
  migrate                      Apply database migrations and exit.
  migrate:down                 Revert every migration (destroys the schema; for development).
  online-keys show [--json]    Print the public snapshot/timestamp keys as JSON, for the ceremony
                               (tuf-offline init-root --online-keys FILE). Reads the server's key
                               folder: run it where the server runs (same folder and environment),
                               or give the server's ONLINE_KEYS_DIR or DATA_DIR.
  online-keys create           Create the online keys if there are none (key files, or inside the
                               PKCS#11 token PKCS11_MODULE names: see README, "Online keys in a
                               hardware token").
  online-keys rotate ROLE      Add a new key for ROLE (snapshot|timestamp); put it in the next root.
  admin-token create --name N  Create an admin API token; printed once, stored only as a hash.
  admin-token list [--json]    List tokens (names and dates, never the tokens).
  admin-token revoke --name N  Revoke a token.
  gc [--dry-run]               Remove what nobody needs any more: pending versions older than
                               PENDING_VERSION_MAX_AGE_SECONDS (14 days), old rejected and stale
                               pending registrations, and files no stored or pending version lists
                               (last uploaded more than BLOB_GC_GRACE_SECONDS ago), and the records
                               of dropped files past SUPERSEDED_TARGET_GRACE_SECONDS. --dry-run lists
                               what it would remove. Each server also runs it every
                               GC_INTERVAL_SECONDS (3600; 0: never).
  audit verify [--data-dir DIR] [--mirror URL] [--json]
                               Check that the stored history is consistent with what was published:
                               hashes, gapless versions, signatures under the root and delegation in
                               force, snapshot/timestamp entries resolving to stored bytes, audit
                               entries. Prints the database it looked at; exits 3 and lists the
                               problems if any, and 1 when the database holds no repository or no
                               version was checked. Read-only; runs beside a running server: in
                               development mode it uses the embedded PostgreSQL the server runs on
                               DATA_DIR (or --data-dir DIR), with DEV_DIR's local Sigstore root.
                               --mirror URL also lists the roles a mirror serves above the database
                               (lost with a restored backup; exit 3 if any).
  backup --out FILE            Write a consistent copy of the database to FILE (gzip), beside a
                               running server.
  restore FILE [--replace]     Load a backup into the database (every server stopped; --replace
                               drops the repository it holds) and mark it restored: servers then
                               neither serve nor sign until the recovery below has run.
  recover [--mirror URL] [--snapshot-version N] [--timestamp-version M]
                               Establish the highest snapshot and timestamp versions ever published
                               (this host's PUBLISHED_MARK_FILE, the mirror's timestamp, the versions
                               given) and publish fresh ones above them; exit 3 when the mirror
                               serves roles the database lost. \`start\` does the same before it
                               listens (with MIRROR_URL or --mirror, it also publishes again the
                               releases the mirror serves above the database), and refuses to start
                               on a restored database when no source is at hand.
  blobs migrate --to URL [--dry-run] [--json]
                               Move every held target file to URL: s3://BUCKET[/PREFIX] (object
                               storage, with the AWS_* variables) or postgres. Each file's SHA-256
                               is checked as it is read and again once written; each file moves in
                               its own transaction, beside running servers. Ctrl-C stops after the
                               files in flight; run it again to move the rest. Prints each file
                               moved; exits 3 if a file's bytes did not match its SHA-256 (not
                               moved), 1 if it stopped before the end. Set BLOB_STORE_URL to the
                               same URL on every server first, so that new files go there too.
  publish-to status [--json]   The copy to the PUBLISH_TO bucket: how far behind, what waits, who
                               copies, the last error.
  publish-to stop              Stop recording publications for the bucket (when no server copies to
                               it any more); a server started with PUBLISH_TO sets it again.

Without DATABASE_URL, the commands other than start use the embedded PostgreSQL a running server
has started on DATA_DIR, and start their own on it only when none runs.

Environment (see README for all): DATABASE_URL, PORT (8080), HOST, PUBLIC_URL, DATA_DIR (.data),
DEV_DIR (.dev), ONLINE_KEYS_DIR (DATA_DIR/online-keys), TUF_SNAPSHOT_KEY / TUF_TIMESTAMP_KEY (PEM),
TIMESTAMP_EXPIRY_SECONDS (86400), SNAPSHOT_EXPIRY_SECONDS (604800), LOG_LEVEL (info),
WEB_CONCURRENCY (one per core).
Object storage: BLOB_STORE_URL (postgres | s3://BUCKET[/PREFIX]), TARGET_DOWNLOADS (redirect|stream),
BLOB_PUBLIC_URL, PUBLISH_TO (s3://BUCKET[/PREFIX]); AWS_ENDPOINT_URL_S3, AWS_REGION, AWS_ACCESS_KEY_ID,
AWS_SECRET_ACCESS_KEY (the AWS SDK's own; never printed), S3_FORCE_PATH_STYLE.

--json (admin-token list, audit verify, blobs migrate, publish-to status; online-keys show prints JSON always): one JSON document on
stdout (on failure: {"error": {...}}). A command takes only the options its line above lists.

${exitStatusHelp('audit verify: the stored history has problems, or a mirror serves roles the database lost; recover: the mirror serves roles the database lost')}`;

async function main(argv: string[]): Promise<number | void> {
  // The whole command line is checked before anything is started, created or connected to.
  const cli = parseServerCommandLine(argv);
  if (cli.help) {
    process.stdout.write(HELP);
    return EXIT.ok;
  }
  if (cli.command === undefined) {
    // Nothing is started, created or connected to without a command (`npm start` says `start`).
    process.stderr.write(`tuf-server: give a command (\`tuf-server start\` serves the repository)\n\n${HELP}`);
    return EXIT.usage;
  }
  const config = loadConfig(process.env, argv);
  switch (cli.command) {
    // Each command loads only its own modules: the whole server takes about a second to load.
    case 'start':
      return (await import('./startCommand.ts')).start(config, cli);
    case 'online-keys':
      await (await import('./onlineKeysCommand.ts')).onlineKeysCommand(config, cli.sub, cli.rest[0]);
      return EXIT.ok;
    case 'audit':
      return (await import('./auditCommand.ts')).auditVerify(config, { dataDir: cli.dataDir, json: cli.json, mirrorUrl: cli.mirror });
    case 'backup':
    case 'restore':
    case 'recover':
      return (await import('./recoveryCommand.ts')).recoveryCommand(config, cli);
    case 'blobs':
    case 'publish-to':
      return (await import('./storageCommands.ts')).storageCommand(config, cli);
    default:
      return (await import('./operatorCommands.ts')).operatorCommand(config, cli);
  }
}

// start returns once it serves, and the process keeps running; every other command exits.
runTool(
  'tuf-server',
  process.argv.slice(2),
  () => main(process.argv.slice(2)),
  () => ({}),
  { stayAlive: true },
);
