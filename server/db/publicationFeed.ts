// How a server process learns what the others published: LISTEN on NOTIFY (db/notifications.ts),
// or polling the role heads. LISTEN needs a session of its own; behind a connection pooler in
// transaction mode (PgBouncer's `pool_mode = transaction`) the session that ran LISTEN goes back
// to the pool after the statement, and notifications never reach this process. So the listener
// is proved at start: a NOTIFY is sent through DATABASE_URL, as every announcement is, and must
// arrive within a few seconds.
//
// DATABASE_LISTEN: auto (the default) falls back to polling, with a warning, when the proof
// fails; on refuses to start instead; off polls from the start. DATABASE_LISTEN_URL gives LISTEN a
// connection of its own that bypasses the pooler (NOTIFY still goes through DATABASE_URL).
// Everything else the server does holds in transaction mode: its advisory locks are all
// transaction-level (pg_advisory_xact_lock), SET is always LOCAL, statements are unnamed.
import pg from 'pg';
import type { Logger } from 'pino';
import { AnnouncementListener, NOTIFY_CHANNEL, type AnnouncedRole } from './notifications.ts';
import { displayDatabaseUrl } from './embeddedPostgres.ts';
import type { FeedSettings } from './feedSettings.ts';

export type FeedErrorCode = 'listen_unavailable';

export class FeedError extends Error {
  override readonly name = 'FeedError';
  constructor(
    readonly code: FeedErrorCode,
    message: string,
  ) {
    super(message);
  }
}

export interface FeedOptions {
  databaseUrl: string;
  settings: FeedSettings;
  /** This process's announcements are skipped (already applied). */
  origin: string;
  log: Logger;
  onAnnouncement(published: AnnouncedRole[]): void;
  /** Read everything again (after a lost connection, or a too large announcement). */
  onReconnected(): Promise<void>;
}

export interface PublicationFeed {
  mode: 'listen' | 'poll';
  stop(): Promise<void>;
}

/** How long a NOTIFY sent through DATABASE_URL may take to reach the listener at start. */
const PROOF_MS = 3000;

export async function startPublicationFeed(opts: FeedOptions): Promise<PublicationFeed> {
  if (opts.settings.listen !== 'off') {
    const listener = new AnnouncementListener({
      databaseUrl: opts.settings.listenUrl ?? opts.databaseUrl,
      origin: opts.origin,
      log: opts.log,
      onAnnouncement: opts.onAnnouncement,
      onReconnected: opts.onReconnected,
    });
    await listener.start();
    if (await listener.proves((payload) => notifyThrough(opts.databaseUrl, payload), PROOF_MS)) {
      return { mode: 'listen', stop: () => listener.stop() };
    }
    await listener.stop();
    const where = opts.settings.listenUrl ? `DATABASE_LISTEN_URL (${displayDatabaseUrl(opts.settings.listenUrl)})` : 'DATABASE_URL';
    const why =
      `a NOTIFY sent through DATABASE_URL did not reach a LISTEN on ${where} within ${PROOF_MS / 1000} s: ` +
      'is a connection pooler in transaction mode (PgBouncer pool_mode = transaction) in between? LISTEN needs a session of its own';
    if (opts.settings.listen === 'on')
      throw new FeedError(
        'listen_unavailable',
        `${why}. Set DATABASE_LISTEN_URL to a direct connection to PostgreSQL, or DATABASE_LISTEN=auto (poll)`,
      );
    opts.log.warn(
      `${why}. Following publications by polling every ${opts.settings.pollMs} ms instead (DATABASE_LISTEN=auto); ` +
        'set DATABASE_LISTEN_URL to a direct connection to PostgreSQL to be told at once',
    );
  }
  return startPolling(opts);
}

/** One NOTIFY through `url` on a connection of its own, as an announcement travels. */
async function notifyThrough(url: string, payload: string): Promise<void> {
  const client = new pg.Client({ connectionString: url, application_name: 'tuf-repository-listen-proof' });
  client.on('error', () => {});
  await client.connect();
  try {
    await client.query('select pg_notify($1, $2)', [NOTIFY_CHANNEL, payload]);
  } finally {
    await client.end().catch(() => {});
  }
}

/**
 * Polls the role heads: every head whose change is newer than what the current snapshot covers.
 * Only a snapshot's `covers_seq` moves the cursor: every role change at or below it committed
 * before that snapshot did, so none can appear later below it; changes above it (uncovered role
 * commits, snapshot, timestamp, root) are read again at each poll until a snapshot covers them,
 * and announced once per version.
 */
function startPolling(opts: FeedOptions): PublicationFeed {
  const pool = new pg.Pool({ connectionString: opts.databaseUrl, max: 1, application_name: 'tuf-repository-poller' });
  pool.on('error', () => {});
  let cursor: string | null = null;
  const announced = new Map<string, number>();
  let stopped = false;
  let timer: NodeJS.Timeout | null = null;
  let failing = false;
  const poll = async () => {
    const res = await pool.query<{ role: string; version: number; horizon: string | null }>(
      `select h.role, h.version,
              (select m.covers_seq from metadata_versions m join role_heads s on s.role = m.role and s.version = m.version
               where m.role = 'snapshot')::text as horizon
       from role_heads h where h.change_seq > $1::bigint`,
      [cursor ?? '0'],
    );
    const fresh = res.rows.filter((r) => (announced.get(r.role) ?? 0) < r.version);
    for (const r of fresh) announced.set(r.role, r.version);
    const horizon = res.rows[0]?.horizon ?? null;
    if (horizon !== null && BigInt(horizon) > BigInt(cursor!)) cursor = horizon;
    if (fresh.length > 0) opts.onAnnouncement(fresh.map(({ role, version }) => ({ role, version })));
  };
  const first = async () => {
    // The cursor starts at the current snapshot's horizon, then everything is read once more: what
    // was published between the cache's first read and this moment is not missed.
    const res = await pool.query<{ horizon: string | null }>(
      `select m.covers_seq::text as horizon from metadata_versions m join role_heads s on s.role = m.role and s.version = m.version where m.role = 'snapshot'`,
    );
    cursor = res.rows[0]?.horizon ?? '0';
    await opts.onReconnected();
  };
  const loop = () => {
    if (stopped) return;
    (cursor === null ? first() : poll())
      .then(
        () => {
          if (failing) {
            failing = false;
            // Whatever was published while the database could not be read.
            opts.onReconnected().catch(() => {});
          }
        },
        (err) => {
          if (!failing) opts.log.warn({ err: String(err) }, 'polling for publications failed; trying again');
          failing = true;
        },
      )
      .finally(() => {
        if (!stopped) {
          timer = setTimeout(loop, opts.settings.pollMs);
          timer.unref();
        }
      });
  };
  loop();
  return {
    mode: 'poll',
    async stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      await pool.end().catch(() => {});
    },
  };
}
