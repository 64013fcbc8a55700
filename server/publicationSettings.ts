// What a Publication takes from the configuration: the same for the server and for the recovery
// command (tuf-server recover), which publishes without serving.
import type { Config } from './config.ts';
import { PublishedMark } from './publication/publishedMark.ts';

export function publicationSettings(config: Config) {
  return {
    snapshotExpirySeconds: config.snapshotExpirySeconds,
    timestampExpirySeconds: config.timestampExpirySeconds,
    resignRemainingFraction: config.resignRemainingFraction,
    snapshotVersionOnly: config.snapshotVersionOnly,
    snapshotMerkleTrees: config.snapshotMerkleTrees,
    snapshotCheckpointVersions: config.snapshotCheckpointVersions,
    mark: new PublishedMark(config.publishedMarkFile),
  };
}
