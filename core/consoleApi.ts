// The JSON of the read-only catalog API the console reads (server/console/): every field is
// computed from published metadata, which anyone can fetch from /metadata/ already.

/** GET /api/v1/repository: the top-level roles and the bins, at a glance. */
export interface RepositoryOverviewJson {
  now: string;
  expiryWarningSeconds: number;
  roles: RoleSummaryJson[];
  bins: { count: number; expiringSoon: number; expired: number; soonest: RoleSummaryJson[] };
  /** The online keys root names for snapshot and timestamp. */
  onlineKeys: { role: 'snapshot' | 'timestamp'; keyid: string; keytype: string; scheme: string }[];
}

export interface RoleSummaryJson {
  role: string;
  version: number;
  expires: string;
  expiresInSeconds: number;
  /** Signatures by keys of the role (as root or the delegating role names them), and how many it needs. */
  signatures: number;
  threshold: number | null;
  keys: number | null;
  /** Signed offline (root, targets, bins): renewing it needs a ceremony. */
  offline: boolean;
}

/** GET /api/v1/projects: delegated projects, searched by name. */
export interface ProjectListJson {
  total: number;
  projects: ProjectSummaryJson[];
  /** Pass as `after` for the next page; null on the last. */
  next: string | null;
}

export interface ProjectSummaryJson {
  project: string;
  delegator: string;
  threshold: number;
  maintainers: { identity: string; issuer: string; keyid: string }[];
  version: number | null;
  expires: string | null;
}

/** GET /api/v1/projects/NAME/history: published versions, newest first, with who signed each. */
export interface ProjectHistoryJson {
  project: string;
  versions: ReleaseJson[];
  /** Pass as `before` for older versions; null when none are left. */
  next: number | null;
}

export interface ReleaseJson {
  version: number;
  publishedAt: string;
  expires: string;
  targets: { path: string; length: number }[];
  signatures: { keyid: string; identity: string | null; issuer: string | null; logIndex: number | null }[];
}
