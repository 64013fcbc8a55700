// TAP 16 snapshot Merkle metadata: one proof per role per snapshot version, at
// /metadata/snapshot-merkle/VERSION/ROLE.json (ROLE URL-encoded as in N.ROLE.json). A proof is a
// function of its snapshot version and role, so the URL is consistent-snapshot style and the
// answer immutable. A folder of its own: `N.ROLE-snapshot.json` beside the metadata would be the
// name of version N of a role called `ROLE-snapshot`.
import { Router } from 'express';
import type { MetadataCache } from '../serving/metadataCache.ts';
import type { SnapshotFollower } from '../serving/snapshotFollower.ts';
import { HttpError } from './errors.ts';
import { IMMUTABLE, sendCached } from './metadataRoutes.ts';

export const SNAPSHOT_MERKLE_PATH = '/metadata/snapshot-merkle';

const VERSION = /^[1-9][0-9]{0,9}$/;
const FILE = /^[a-z0-9][a-z0-9._-]{0,63}\.json$/;

export function merkleRoutes(snapshots: SnapshotFollower, cache: MetadataCache): Router {
  const router = Router();
  router.get(`${SNAPSHOT_MERKLE_PATH}/:version/:file`, async (req, res, next) => {
    const { version, file } = req.params;
    if (!VERSION.test(version) || !FILE.test(file)) return next(new HttpError(404, 'not_found', 'no such snapshot Merkle proof'));
    const proof = await snapshots.proof(Number(version), file, cache.head('snapshot')?.version);
    if (!proof) {
      const why = `no snapshot Merkle proof of ${file} in snapshot v${version}`;
      return next(
        new HttpError(404, 'not_found', `${why} (proofs are served for the current snapshot and recent ones; read timestamp.json again)`),
      );
    }
    sendCached(res, req.get('if-none-match'), proof.etag, IMMUTABLE, 'application/json', proof.bytes);
  });
  return router;
}
