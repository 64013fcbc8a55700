// Where the online key files live (ONLINE_KEYS_DIR). The default follows DATA_DIR
// (DATA_DIR/online-keys). It used to be `.data/online-keys` under TUF_HOME (the current directory)
// whatever DATA_DIR said: a repository whose keys are still there keeps them, with a warning
// saying how to move them, and no second key set is ever created beside them.
import fs from 'node:fs';
import path from 'node:path';

/** The default before ONLINE_KEYS_DIR followed DATA_DIR, relative to TUF_HOME. */
export const LEGACY_ONLINE_KEYS_DIR = path.join('.data', 'online-keys');

export type OnlineKeysLocationErrorCode = 'online_keys_in_two_places';

export class OnlineKeysLocationError extends Error {
  override readonly name = 'OnlineKeysLocationError';
  constructor(
    readonly code: OnlineKeysLocationErrorCode,
    message: string,
  ) {
    super(message);
  }
}

export interface OnlineKeysLocation {
  dir: string;
  /**
   * ONLINE_KEYS_DIR: set explicitly; default: DATA_DIR/online-keys; legacy: the old default
   * (TUF_HOME/.data/online-keys), kept because it holds this repository's keys.
   */
  source: 'ONLINE_KEYS_DIR' | 'default' | 'legacy';
  /** DATA_DIR/online-keys. */
  defaultDir: string;
  /** TUF_HOME/.data/online-keys. */
  legacyDir: string;
  /** Set when the old default is used: what to do about it. */
  warning: string | null;
}

/** Whether `dir` holds online key files (what FileKeyStore reads). */
export function holdsOnlineKeys(dir: string): boolean {
  try {
    return fs.readdirSync(dir).some((f) => /^(snapshot|timestamp)-.*\.json$/.test(f));
  } catch {
    return false;
  }
}

/**
 * ONLINE_KEYS_DIR if set; else DATA_DIR/online-keys, unless that holds no keys and the old default
 * does (then the old one, and a warning). Keys in both default places are refused: which set the
 * repository's root names is for an operator to say.
 */
export function resolveOnlineKeysDir(opts: {
  explicit: string | undefined;
  home: string;
  dataDir: string;
  /** False when the keys come from the environment (TUF_SNAPSHOT_KEY/TUF_TIMESTAMP_KEY): no folder is read. */
  probe?: boolean;
}): OnlineKeysLocation {
  const defaultDir = path.join(opts.dataDir, 'online-keys');
  const legacyDir = path.resolve(opts.home, LEGACY_ONLINE_KEYS_DIR);
  if (opts.explicit)
    return { dir: path.resolve(opts.home, opts.explicit), source: 'ONLINE_KEYS_DIR', defaultDir, legacyDir, warning: null };
  // DATA_DIR not set (or set to .data): the old default and the new one are the same folder.
  if (opts.probe === false || defaultDir === legacyDir || !holdsOnlineKeys(legacyDir))
    return { dir: defaultDir, source: 'default', defaultDir, legacyDir, warning: null };
  if (holdsOnlineKeys(defaultDir)) {
    throw new OnlineKeysLocationError(
      'online_keys_in_two_places',
      `configuration: online keys in two places: ${defaultDir} (DATA_DIR/online-keys, the default) and ${legacyDir} ` +
        "(.data/online-keys, the default before it followed DATA_DIR). Only one of them is this repository's: set " +
        "ONLINE_KEYS_DIR to the folder whose keys the repository's root names (`ONLINE_KEYS_DIR=DIR tuf-server " +
        'online-keys show` prints the keys of DIR; compare them with the snapshot and timestamp keys of the current ' +
        'root), and move the other folder away',
    );
  }
  return {
    dir: legacyDir,
    source: 'legacy',
    defaultDir,
    legacyDir,
    warning:
      `online keys: using ${legacyDir}, the default before ONLINE_KEYS_DIR followed DATA_DIR: it holds this ` +
      `repository's keys and ${defaultDir} (DATA_DIR/online-keys, the default now) holds none, so no new keys are ` +
      `created there. To move them, stop the server, run \`mv ${legacyDir} ${defaultDir}\` (${defaultDir} must not ` +
      `exist yet) and start it again; or keep them where they are with ONLINE_KEYS_DIR=${legacyDir}`,
  };
}
