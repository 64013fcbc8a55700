// Where a maintainer's OIDC token comes from. The token is a credential: it is never printed,
// logged or put into an error message.
import fs from 'node:fs';
import { CIContextProvider } from '@sigstore/sign';
import type { TokenSource } from './identitySigner.ts';

export interface TokenOptions {
  tokenFile?: string;
  /** Dev mode only: mint a token for this identity from the local issuer. */
  devIdentity?: string;
  /** Dev mode only: the issuer URL of that token (the local one by default; a CI issuer the local Sigstore plays). */
  devIssuer?: string;
  devTokenUrl?: string | null;
}

/** In order: --token-file, SIGSTORE_ID_TOKEN, --dev-identity (local issuer), GitHub Actions. */
export function tokenSource(opts: TokenOptions): TokenSource {
  if (opts.tokenFile) {
    const file = opts.tokenFile;
    return { getToken: async () => fs.readFileSync(file, 'utf8').trim() };
  }
  const fromEnv = process.env.SIGSTORE_ID_TOKEN;
  if (fromEnv) return { getToken: async () => fromEnv.trim() };
  if (opts.devIdentity) {
    const url = opts.devTokenUrl;
    if (!url) throw new Error('--dev-identity works only against a server in development mode (it advertises no local issuer)');
    const identity = opts.devIdentity;
    const issuer = opts.devIssuer;
    return {
      getToken: async () => {
        const res = await fetch(url, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ identity, ...(issuer !== undefined ? { issuer } : {}) }),
        });
        if (!res.ok) {
          const why = ((await res.json().catch(() => ({}))) as { error?: unknown }).error;
          throw new Error(`local OIDC issuer refused: ${res.status}${typeof why === 'string' ? `: ${why}` : ''}`);
        }
        return ((await res.json()) as { id_token: string }).id_token;
      },
    };
  }
  if (process.env.ACTIONS_ID_TOKEN_REQUEST_URL && process.env.ACTIONS_ID_TOKEN_REQUEST_TOKEN) {
    return new CIContextProvider('sigstore');
  }
  throw new Error(
    'no OIDC token: give --token-file FILE, set SIGSTORE_ID_TOKEN, run in GitHub Actions with id-token: write, or (dev mode) --dev-identity EMAIL',
  );
}

export interface TokenIdentity {
  identity: string;
  issuer: string;
}

/** The identity Fulcio will certify for this token (read, not verified: Fulcio verifies it). */
export function identityOfToken(token: string): TokenIdentity {
  const part = token.split('.')[1];
  if (!part) throw new Error('the OIDC token is not a JWT');
  let claims: Record<string, unknown>;
  try {
    claims = JSON.parse(Buffer.from(part, 'base64url').toString('utf8'));
  } catch {
    throw new Error('the OIDC token is not a JWT');
  }
  const issuer = typeof claims.iss === 'string' ? claims.iss : '';
  let identity = '';
  if (typeof claims.email === 'string') identity = claims.email;
  else if (typeof claims.job_workflow_ref === 'string') identity = `https://github.com/${claims.job_workflow_ref}`;
  else if (typeof claims.sub === 'string') identity = claims.sub;
  if (!identity || !issuer) throw new Error('the OIDC token names no identity or issuer');
  return { identity, issuer };
}
