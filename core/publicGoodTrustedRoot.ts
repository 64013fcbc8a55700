// The public-good Sigstore trusted root, as shipped inside @sigstore/tuf's seeds.json (the
// embedded snapshot of Sigstore's own TUF repository).
import { createRequire } from 'node:module';

const SEEDS_URL = 'https://tuf-repo-cdn.sigstore.dev';

export function publicGoodTrustedRoot(): unknown {
  const require = createRequire(import.meta.url);
  const seeds = require('@sigstore/tuf/seeds.json') as Record<string, { targets: Record<string, string> }>;
  const encoded = seeds[SEEDS_URL]?.targets['trusted_root.json'];
  if (!encoded) throw new Error('@sigstore/tuf seeds.json has no public-good trusted_root.json');
  return JSON.parse(Buffer.from(encoded, 'base64').toString('utf8'));
}
