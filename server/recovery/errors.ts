// Refusals of the restore and recovery commands, each with a stable code (tests assert on it).
export type RecoveryErrorCode =
  | 'recovery_no_source' // restored, and nothing says which versions were published: give --mirror or the versions
  | 'mirror_unreachable' // the mirror did not answer with a timestamp
  | 'mirror_unverified' // the mirror's timestamp or snapshot is not signed by the repository's online keys
  | 'backup_unreadable' // not a backup file, or one written by another tool
  | 'restore_target_in_use' // other sessions are connected to the database a restore would replace
  | 'restore_target_not_empty' // the database holds a repository and --replace was not given
  | 'restore_schema_unknown' // the backup's migrations are not a prefix of this server's
  | 'restore_incomplete'; // a restore started and did not finish: run it again

export class RecoveryError extends Error {
  override readonly name = 'RecoveryError';
  constructor(
    readonly code: RecoveryErrorCode,
    message: string,
  ) {
    super(message);
  }
}
