import http from 'node:http';
import express from 'express';
import { createLocalSigstore, type LocalSigstore } from '../../sigstore-local/localSigstore.ts';
import { listen } from '../../server/runtime.ts';
import type { SigstoreSetup } from '../../server/runtime.ts';
import { recordSecret } from './secrets.ts';

export interface LocalSigstoreServer {
  sigstore: LocalSigstore;
  setup: SigstoreSetup;
  close(): Promise<void>;
}

/** A local Sigstore on its own real HTTP server (ephemeral keys). */
export async function startLocalSigstore(): Promise<LocalSigstoreServer> {
  const app = express();
  const server: http.Server = await listen(app, '127.0.0.1', 0);
  const addr = server.address();
  const port = typeof addr === 'object' && addr ? addr.port : 0;
  const sigstore = await createLocalSigstore({ baseUrl: `http://127.0.0.1:${port}`, extraIssuers: ['other'], onMint: recordSecret });
  app.use(sigstore.router);
  return {
    sigstore,
    setup: {
      trustedRoot: sigstore.trustedRoot,
      advert: {
        fulcioUrl: sigstore.fulcioUrl,
        rekorUrl: sigstore.rekorUrl,
        oidcIssuer: sigstore.issuerUrl,
        devTokenUrl: `${sigstore.issuerUrl}/token`,
      },
    },
    async close() {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    },
  };
}
