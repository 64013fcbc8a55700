// The JSON of the transparency monitor's public API (GET /api/v1/monitor, .../findings), shared by
// the server, the console and `tuf-maintainer monitor`.

export type MonitorFindingKind = 'unknown_signature' | 'publication_not_in_log';

export interface MonitorFindingJson {
  id: number;
  kind: MonitorFindingKind;
  logUrl: string;
  identity: string;
  issuer: string;
  /** unknown_signature: the projects delegated to the identity; publication_not_in_log: the project published. */
  projects: string[];
  logIndex: number | null;
  uuid: string | null;
  /** sha256 of what was signed. */
  digest: string | null;
  version: number | null;
  detail: string;
  detectedAt: string;
}

export interface MonitorStatusJson {
  enabled: boolean;
  /** ok: the last poll read the log; stale: no successful poll within staleAfterSeconds (nothing is concluded meanwhile); starting: none yet; disabled. */
  state: 'ok' | 'stale' | 'starting' | 'disabled';
  logUrl: string | null;
  intervalSeconds: number;
  graceSeconds: number;
  staleAfterSeconds: number;
  /** Next log index to read, and the tree size at the last successful poll. */
  position: number | null;
  treeSize: number | null;
  entriesRead: number;
  lastPollAt: string | null;
  lastSuccessAt: string | null;
  lastError: string | null;
  lastErrorAt: string | null;
  watchedIdentities: number;
  /** Entries by delegated identities not received yet, waiting out the grace period. */
  candidatesWaiting: number;
  publishedSignatures: { checked: number; unchecked: number };
  findings: number;
  recentFindings: MonitorFindingJson[];
}

/** GET /api/v1/monitor/identity: what `tuf-maintainer monitor` shows a maintainer. */
export interface MonitorIdentityJson {
  identity: string;
  issuer: string;
  /** Projects delegated to this identity now (empty: the monitor does not watch it). */
  projects: string[];
  status: MonitorStatusJson;
  findings: MonitorFindingJson[];
  /** The signatures by this identity the repository received (newest first, at most 1,000), for a check of the log of one's own. */
  received: {
    source: 'published' | 'pending' | 'registration';
    project: string;
    version: number | null;
    digest: string;
    logIndex: number | null;
  }[];
}
