// Where the highest published versions may be learnt from after a restore, as the command line and
// configuration give them (the published mark file is read by the gate itself: recovery/gate.ts).
import type { ServerCommandLine } from '../commandLine.ts';
import type { Config } from '../config.ts';
import type { RecoverySources } from './recovery.ts';

/** --mirror URL, --snapshot-version N, --timestamp-version M (and MIRROR_URL). */
export function recoverySources(config: Config, cli: ServerCommandLine): RecoverySources {
  const { snapshotVersion: snapshot, timestampVersion: timestamp } = cli;
  return {
    mirrorUrl: cli.mirror || config.mirrorUrl || null,
    operator:
      snapshot !== undefined || timestamp !== undefined
        ? { ...(snapshot !== undefined ? { snapshot } : {}), ...(timestamp !== undefined ? { timestamp } : {}) }
        : null,
  };
}
