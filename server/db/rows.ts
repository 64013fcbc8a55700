// Row types of every table, in one place. bigint columns arrive from pg as strings.

export interface MetadataVersionRow {
  id: string;
  role: string;
  version: number;
  /** The served file; null only for a snapshot version stored as a delta (snapshot_delta). */
  bytes: Buffer | null;
  /** Snapshot versions only: what changed since the previous version (core/snapshotDelta.ts), when bytes is null. */
  snapshot_delta: string | null;
  sha256: string;
  length: number;
  expires: Date;
  created_at: Date;
  covers_seq: string | null;
}

export interface SnapshotCheckpointRow {
  version: number;
  bytes: Buffer;
  created_at: Date;
}

export interface RoleHeadRow {
  role: string;
  version: number;
  expires: Date;
  updated_at: Date;
  /** bigint: a string */
  change_seq: string;
}

export interface TargetRecordRow {
  role: string;
  path: string;
  length: string;
  hashes: Record<string, string>;
  custom: Record<string, unknown> | null;
  role_version: number;
}

/** A target a newer version of its role no longer lists, still served for a grace period (migrations/20261222120000). */
export interface SupersededTargetRow {
  path: string;
  sha256: string;
  role: string;
  role_version: number;
  superseded_at: Date;
}

export interface TargetBlobRow {
  sha256: string;
  length: string;
  /** The whole file; null when it is stored in pieces (target_blob_chunks, db/blobRepo.ts) or in object storage. */
  content: Buffer | null;
  created_at: Date;
  /** Last upload of these bytes; garbage collection's grace period counts from here. */
  touched_at: Date;
  /** null: in PostgreSQL; s3://BUCKET/KEY: the object holding the bytes (server/blobs/). */
  location: string | null;
}

export interface ObjectCleanupRow {
  /** s3://BUCKET/KEY */
  location: string;
  not_before: Date;
  reason: 'upload' | 'removed' | 'replaced' | 'failed';
  deleting: boolean;
  created_at: Date;
}

/** The bucket the repository is copied to (PUBLISH_TO), one row (server/mirror/). */
export interface PublishMirrorRow {
  id: number;
  url: string;
  sync_snapshot_version: string;
  sync_timestamp_version: number;
  synced: boolean;
  sync_cursor: string | null;
  timestamp_version: number;
  lease_holder: string | null;
  lease_until: Date | null;
  last_success_at: Date | null;
  last_error: string | null;
  last_error_at: Date | null;
  objects_written: string;
  created_at: Date;
}

export interface PublishOutboxRow {
  id: string;
  published: { role: string; version: number }[];
  created_at: Date;
}

export interface ListedBlobRow {
  sha256: string;
  first_listed_at: Date;
}

export interface DevelopmentStateRow {
  id: number;
  marked_at: Date;
  reason: string;
}

export interface AuditLogRow {
  id: string;
  at: Date;
  actor: string;
  action: string;
  role: string | null;
  version: number | null;
  details: Record<string, unknown> | null;
}

export interface AdminTokenRow {
  id: number;
  name: string;
  token_sha256: string;
  created_at: Date;
  revoked_at: Date | null;
  /** Created by development mode: never authenticates in production. */
  development: boolean;
}

export interface RegistrationRow {
  id: string;
  project: string;
  identity: string;
  issuer: string;
  requested_at: Date;
  request_sha256: string;
  signature: Record<string, unknown>;
  status: 'pending' | 'approved' | 'rejected';
  created_at: Date;
  decided_at: Date | null;
}

export interface PendingUploadRow {
  id: string;
  role: string;
  version: number;
  signed_sha256: string;
  envelope: { signed: Record<string, unknown>; signatures: Record<string, unknown>[] };
  status: 'pending' | 'published' | 'dropped';
  reason: string | null;
  created_at: Date;
  updated_at: Date;
}

export interface ResignNeededRow {
  role: string;
  role_version: number;
  /** The top-level targets version in force when it was found (rows from before `delegator`: the delegator's version). */
  targets_version: number;
  /** The role whose delegation it fails ('targets' or a bin); null for rows recorded before the column. */
  delegator: string | null;
  delegator_version: number | null;
  reason: string;
  detected_at: Date;
}

/** A snapshot or timestamp version skipped on purpose (after a restore, or a publication whose commit was lost). */
export interface VersionJumpRow {
  id: string;
  role: string;
  from_version: number;
  to_version: number;
  reason: string;
  sources: Record<string, unknown>;
  created_at: Date;
}

/** The transparency monitor's position in one Rekor log (bigints as strings). */
export interface MonitorStateRow {
  log_url: string;
  next_log_index: string | null;
  tree_size: string | null;
  last_poll_at: Date | null;
  last_success_at: Date | null;
  last_error: string | null;
  last_error_at: Date | null;
  entries_read: string;
  lease_holder: string | null;
  lease_until: Date | null;
}

/** An identity signature the repository received, as the monitor indexed it. */
export interface MonitorSignatureRow {
  id: string;
  source: 'published' | 'pending' | 'registration';
  role: string;
  version: number | null;
  signed_sha256: string;
  identity: string;
  issuer: string;
  log_index: string | null;
  log_id: string | null;
  body_sha256: string | null;
  received_at: Date;
  log_check: 'found' | 'missing' | 'mismatch' | 'other_log' | null;
  log_checked_at: Date | null;
}

/** A log entry by a delegated identity over a digest not received yet, waiting out the grace period. */
export interface MonitorCandidateRow {
  log_url: string;
  uuid: string;
  log_index: string | number;
  identity: string;
  issuer: string;
  digest: string;
  integrated_at: Date;
}

export interface MonitorFindingRow {
  id: string;
  dedupe_key: string;
  kind: 'unknown_signature' | 'publication_not_in_log';
  log_url: string;
  identity: string;
  issuer: string;
  projects: string[];
  log_index: string | null;
  uuid: string | null;
  digest: string | null;
  version: number | null;
  detail: string;
  detected_at: Date;
}
