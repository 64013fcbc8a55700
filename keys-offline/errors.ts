// tuf-offline's own refusals that scripts and tests tell apart by their code.

/** Refusals of tuf-offline that scripts and tests tell apart: printed with the code after the message. */
export type OfflineErrorCode =
  | 'no_change' // edit-root given nothing that changes root: a version bump alone is bump-root
  | 'bins_out_is_a_file' // a bin-layout delegation writes bin files into a directory, not one .json file
  | 'bin_not_pulled'; // the project's bin is not in the bins directory: pull it first

export class OfflineError extends Error {
  override readonly name = 'OfflineError';
  constructor(
    readonly code: OfflineErrorCode,
    message: string,
  ) {
    super(message);
  }
}
