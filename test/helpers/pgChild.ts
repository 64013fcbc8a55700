// Child process for the embedded PostgreSQL test: starts a cluster, prints its port, waits.
import { startEmbeddedPostgres } from '../../server/db/embeddedPostgres.ts';

const pg = await startEmbeddedPostgres({ dataDir: process.argv[2]!, fsync: false });
process.stdout.write(`${pg.port}\n`);
setInterval(() => {}, 1000);
