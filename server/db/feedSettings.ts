// How a process learns of other processes' publications (db/publicationFeed.ts), as configured:
// read with the rest of the configuration, without loading the PostgreSQL driver.
type Env = Record<string, string | undefined>;

export interface FeedSettings {
  /** DATABASE_LISTEN: auto | on | off. */
  listen: 'auto' | 'on' | 'off';
  /** DATABASE_LISTEN_URL: a direct connection for LISTEN alone; null: DATABASE_URL. */
  listenUrl: string | null;
  /** PUBLICATION_POLL_MS: how often a process that cannot LISTEN reads the role heads (default 250). */
  pollMs: number;
}

export function loadFeedSettings(env: Env): FeedSettings {
  const listen = env.DATABASE_LISTEN || 'auto';
  if (listen !== 'auto' && listen !== 'on' && listen !== 'off')
    throw new Error(`configuration: DATABASE_LISTEN must be auto, on or off, got ${JSON.stringify(listen)}`);
  const raw = env.PUBLICATION_POLL_MS;
  if (raw !== undefined && raw !== '' && (!/^\d+$/.test(raw) || Number(raw) < 10))
    throw new Error(`configuration: PUBLICATION_POLL_MS must be an integer >= 10, got ${JSON.stringify(raw)}`);
  return { listen, listenUrl: env.DATABASE_LISTEN_URL || null, pollMs: raw ? Number(raw) : 250 };
}
