// The transparency monitor's settings (MONITOR_*), read with the rest of the configuration.

export interface MonitorConfig {
  /** MONITOR_ENABLED: on by default with the local Sigstore of development mode; elsewhere off until set to true. */
  enabled: boolean;
  /** MONITOR_REKOR_URL: the log to watch; null: the Rekor the repository tells maintainers to use (SIGSTORE_REKOR_URL; development: the local one). */
  rekorUrl: string | null;
  /** MONITOR_INTERVAL_SECONDS, default 60: time between polls. */
  intervalSeconds: number;
  /** MONITOR_GRACE_SECONDS, default 60: an entry by a delegated identity is flagged once this old and still not received (a maintainer signs, then uploads). */
  graceSeconds: number;
  /** MONITOR_REKOR_REQUESTS_PER_SECOND, default 5: requests to the log, at most. */
  requestsPerSecond: number;
  /** MONITOR_MAX_ENTRIES_PER_POLL, default 5000: entries one poll reads from its position onward (the rest next time). */
  maxEntriesPerPoll: number;
  /** MONITOR_START: where a first poll starts reading: `beginning`, `now` (the tree size then) or an index. Default: beginning in development, now in production. */
  start: 'beginning' | 'now' | number;
  /** MONITOR_SEARCH_EMAIL, default true: also find e-mail identities' entries through the log's index search (their history before the start). */
  searchByEmail: boolean;
  /** The status reads stale when no poll succeeded for this long: 2 intervals and 30 s. */
  staleAfterSeconds: number;
}

type Env = Record<string, string | undefined>;

function positive(env: Env, name: string, fallback: number, min = 1): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isFinite(n) || n < min) throw new Error(`configuration: ${name} must be a number >= ${min}, got ${JSON.stringify(raw)}`);
  return n;
}

/** `localSigstore`: development with its local Sigstore, where the monitor is on unless turned off. */
export function loadMonitorConfig(env: Env, production: boolean, localSigstore: boolean): MonitorConfig {
  const enabled = env.MONITOR_ENABLED === undefined || env.MONITOR_ENABLED === '' ? localSigstore : env.MONITOR_ENABLED === 'true';
  const rawStart = env.MONITOR_START ?? (production ? 'now' : 'beginning');
  if (rawStart !== 'beginning' && rawStart !== 'now' && !/^\d{1,15}$/.test(rawStart)) {
    throw new Error(`configuration: MONITOR_START must be beginning, now or a log index, got ${JSON.stringify(rawStart)}`);
  }
  const intervalSeconds = positive(env, 'MONITOR_INTERVAL_SECONDS', 60, 0.1);
  const rekorUrl = env.MONITOR_REKOR_URL || null;
  if (rekorUrl !== null && !/^https?:\/\/\S+$/.test(rekorUrl)) throw new Error(`configuration: MONITOR_REKOR_URL must be an http(s) URL`);
  return {
    enabled,
    rekorUrl,
    intervalSeconds,
    graceSeconds: positive(env, 'MONITOR_GRACE_SECONDS', 60, 0),
    requestsPerSecond: positive(env, 'MONITOR_REKOR_REQUESTS_PER_SECOND', 5, 0.01),
    maxEntriesPerPoll: positive(env, 'MONITOR_MAX_ENTRIES_PER_POLL', 5000),
    start: rawStart === 'beginning' || rawStart === 'now' ? rawStart : Number(rawStart),
    searchByEmail: env.MONITOR_SEARCH_EMAIL !== 'false',
    staleAfterSeconds: intervalSeconds * 2 + 30,
  };
}
