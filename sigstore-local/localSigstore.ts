// A local Sigstore for development and tests: an OIDC issuer that mints tokens for any identity,
// Fulcio served from @sigstore/mock's request handler, and a Rekor of our own that keeps a
// searchable log (rekorLog.ts, Rekor's v1 API). The mock Fulcio trusts any token, so this wrapper
// verifies each token for real (signature, issuer, audience, expiry) before a certificate is
// issued. Never run it in production: it hands out identities to anyone who asks.
import crypto, { type KeyObject } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import express, { Router } from 'express';
import * as jose from 'jose';
import { HashAlgorithm, PublicKeyDetails, TrustedRoot } from '@sigstore/protobuf-specs';
import { ensurePrivateDir } from '../platform/privateDir.ts';
import { RekorError, RekorLog, type SearchQuery } from './rekorLog.ts';

// Deep imports: the package index loads nock, which patches node:http globally (DESIGN.md section 5).
const require = createRequire(import.meta.url);
const fulcio = require('@sigstore/mock/dist/fulcio/index.js') as typeof import('@sigstore/mock/dist/fulcio/index.js');

/**
 * Issuers of real CI systems the local Sigstore plays as well, under their real URL (with a key of
 * its own), so a development repository and the tests can name a GitHub Actions workflow identity
 * exactly as production does. Only clients that trust this local Sigstore's root accept what it
 * certifies; the public-good Fulcio certifies GitHub's issuer only for GitHub's tokens.
 */
export const PLAYED_CI_ISSUERS: Readonly<Record<string, string>> = { 'https://token.actions.githubusercontent.com': 'github-actions' };

export interface LocalSigstoreOptions {
  /** Where the router is reachable, e.g. http://127.0.0.1:8080/dev/sigstore (no trailing slash). */
  baseUrl: string;
  /** Persist keys and the trusted root here, so signatures stay valid across restarts. */
  stateDir?: string;
  /** More issuers Fulcio trusts, served at /oidc/<name> (tests use one to check issuer matching). */
  extraIssuers?: string[];
  /** Sees every token minted (tests record them to check that no log ever contains one). */
  onMint?: (token: string) => void;
}

export interface MintOptions {
  /** An e-mail (becomes `email`, verified) or a URI such as a CI workflow identity (becomes `sub`). */
  identity: string;
  expiresInSeconds?: number;
  audience?: string;
  /** One of extraIssuers, or the URL of a played CI issuer (PLAYED_CI_ISSUERS); the main issuer by default. */
  issuer?: string;
}

export interface LocalSigstore {
  issuerUrl: string;
  /** URL of an extra issuer. */
  issuerUrlOf(name: string): string;
  fulcioUrl: string;
  rekorUrl: string;
  /** Sigstore trusted root (protobuf JSON) for this instance. */
  trustedRoot: unknown;
  mintToken(opts: MintOptions): Promise<string>;
  /** The transparency log behind rekorUrl (tests read it directly). */
  rekorLog: RekorLog;
  router: Router;
}

type KeyPair = { publicKey: KeyObject; privateKey: KeyObject };

function loadOrCreateKey(stateDir: string | undefined, name: string): KeyPair {
  const file = stateDir ? path.join(stateDir, `${name}.pem`) : null;
  if (file && fs.existsSync(file)) {
    const privateKey = crypto.createPrivateKey(fs.readFileSync(file, 'utf8'));
    return { privateKey, publicKey: crypto.createPublicKey(privateKey) };
  }
  const pair = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
  if (file) {
    ensurePrivateDir(path.dirname(file));
    fs.writeFileSync(file, pair.privateKey.export({ format: 'pem', type: 'pkcs8' }), { mode: 0o600 });
  }
  return pair;
}

function spki(key: KeyObject): Buffer {
  return key.export({ format: 'der', type: 'spki' });
}

function buildTrustedRoot(
  urls: { fulcio: string; rekor: string },
  caCert: Buffer,
  tlogKey: Buffer,
  ctKey: Buffer,
  ctLogId: Buffer,
): unknown {
  // Back-dated: integrated times are whole seconds and would fall before a precise start.
  const start = new Date(Date.now() - 3600_000);
  const log = (baseUrl: string, key: Buffer, keyId: Buffer) => ({
    baseUrl,
    hashAlgorithm: HashAlgorithm.SHA2_256,
    publicKey: { rawBytes: key, keyDetails: PublicKeyDetails.PKIX_ECDSA_P256_SHA_256, validFor: { start, end: undefined } },
    logId: { keyId },
    checkpointKeyId: undefined,
    operator: 'local',
  });
  return TrustedRoot.toJSON({
    mediaType: 'application/vnd.dev.sigstore.trustedroot+json;version=0.1',
    tlogs: [log(urls.rekor, tlogKey, crypto.createHash('sha256').update(tlogKey).digest())],
    certificateAuthorities: [
      {
        subject: { organization: 'sigstore.mock', commonName: 'sigstore' },
        uri: urls.fulcio,
        certChain: { certificates: [{ rawBytes: caCert }] },
        validFor: { start, end: undefined },
        operator: 'local',
      },
    ],
    ctlogs: [log(`${urls.fulcio}/ct`, ctKey, ctLogId)],
    timestampAuthorities: [],
  } as never);
}

/** The trusted root names the URLs; state made for one URL cannot serve another. */
function checkStateUrl(stateDir: string | undefined, base: string): void {
  if (!stateDir) return;
  const file = path.join(stateDir, 'base-url');
  if (fs.existsSync(file)) {
    const recorded = fs.readFileSync(file, 'utf8').trim();
    if (recorded !== base) {
      throw new Error(
        `local Sigstore state in ${stateDir} was made for ${recorded}, not ${base}: use the same PUBLIC_URL, or remove ${stateDir} (and the repository data signed with it)`,
      );
    }
  } else {
    ensurePrivateDir(stateDir);
    fs.writeFileSync(file, `${base}\n`);
  }
}

export async function createLocalSigstore(opts: LocalSigstoreOptions): Promise<LocalSigstore> {
  const base = opts.baseUrl.replace(/\/$/, '');
  checkStateUrl(opts.stateDir, base);
  const issuerUrl = `${base}/oidc`;
  const fulcioUrl = `${base}/fulcio`;
  const rekorUrl = `${base}/rekor`;
  const caKey = loadOrCreateKey(opts.stateDir, 'fulcio-ca');
  const ctKey = loadOrCreateKey(opts.stateDir, 'ct-log');
  const tlogKey = loadOrCreateKey(opts.stateDir, 'rekor');
  const oidcKey = loadOrCreateKey(opts.stateDir, 'oidc');

  const ctLog = await fulcio.initializeCTLog(ctKey);
  const ca = await fulcio.initializeCA(caKey, ctLog);
  // The checkpoint's signer name is this URL's host; the trusted root's tlog baseUrl must contain it.
  const rekorLog = new RekorLog(new URL(rekorUrl).host, tlogKey, opts.stateDir ? path.join(opts.stateDir, 'rekor-log.jsonl') : null);
  const fulcioFn = fulcio.fulcioHandler(ca, { strict: true, subjectClaim: 'sub' }).fn;

  // The CA certificate is regenerated at every start (same key, same name); the first one is kept
  // in the trusted root, and leaf certificates signed by the same key chain to it.
  const rootFile = opts.stateDir ? path.join(opts.stateDir, 'trusted_root.json') : null;
  let trustedRoot: unknown;
  if (rootFile && fs.existsSync(rootFile)) {
    trustedRoot = JSON.parse(fs.readFileSync(rootFile, 'utf8'));
  } else {
    trustedRoot = buildTrustedRoot(
      { fulcio: fulcioUrl, rekor: rekorUrl },
      ca.rootCertificate as unknown as Buffer,
      spki(tlogKey.publicKey),
      spki(ctKey.publicKey),
      Buffer.from(ctLog.logID.buffer),
    );
    if (rootFile) fs.writeFileSync(rootFile, `${JSON.stringify(trustedRoot, null, 2)}\n`);
  }

  // One signing key per issuer; Fulcio accepts a token from any of them, verified for real.
  const issuers = new Map<string, { url: string; key: KeyPair; jwk: jose.JWK }>();
  for (const name of ['', ...(opts.extraIssuers ?? [])]) {
    if (name !== '' && !/^[a-z0-9-]{1,32}$/.test(name)) throw new Error(`issuer name ${name}: lowercase letters, digits and -`);
    const key = name === '' ? oidcKey : loadOrCreateKey(opts.stateDir, `oidc-${name}`);
    const kid = name === '' ? 'local-1' : `local-${name}`;
    const jwk = { ...(await jose.exportJWK(key.publicKey)), kid, alg: 'ES256', use: 'sig' };
    issuers.set(name, { url: name === '' ? issuerUrl : `${issuerUrl}/${name}`, key, jwk });
  }
  // Played CI issuers: named by their URL, never served (nobody fetches their keys from here).
  const served = new Set(issuers.keys());
  for (const [url, short] of Object.entries(PLAYED_CI_ISSUERS)) {
    const key = loadOrCreateKey(opts.stateDir, `oidc-${short}`);
    const jwk = { ...(await jose.exportJWK(key.publicKey)), kid: `local-${short}`, alg: 'ES256', use: 'sig' };
    issuers.set(url, { url, key, jwk });
  }
  const issuerUrlOf = (name: string) => {
    const i = issuers.get(name);
    if (!i) throw new Error(`no issuer ${name}`);
    return i.url;
  };

  const mintToken = async ({ identity, expiresInSeconds = 300, audience = 'sigstore', issuer = '' }: MintOptions) => {
    const iss = issuers.get(issuer);
    if (!iss) throw new Error(`no issuer ${issuer}`);
    const isEmail = identity.includes('@') && !identity.includes('/');
    const claims = isEmail ? { email: identity, email_verified: true } : {};
    return new jose.SignJWT(claims)
      .setProtectedHeader({ alg: 'ES256', kid: String(iss.jwk.kid) })
      .setIssuer(iss.url)
      .setSubject(identity)
      .setAudience(audience)
      .setIssuedAt()
      .setExpirationTime(Math.floor(Date.now() / 1000) + expiresInSeconds)
      .sign(iss.key.privateKey)
      .then((token) => {
        opts.onMint?.(token);
        return token;
      });
  };

  /** Verifies signature, issuer, audience and expiry; returns the subject Fulcio certifies. */
  const verifyToken = async (token: string): Promise<{ subject: string; issuer: string }> => {
    const { iss } = jose.decodeJwt(token);
    const known = [...issuers.values()].find((i) => i.url === iss);
    if (!known) throw new Error('unknown issuer');
    const { payload } = await jose.jwtVerify(token, jose.createLocalJWKSet({ keys: [known.jwk] }), {
      issuer: known.url,
      audience: 'sigstore',
      algorithms: ['ES256'],
    });
    if (typeof payload.email === 'string') {
      if (payload.email_verified !== true) throw new Error('e-mail not verified');
      return { subject: payload.email, issuer: known.url };
    }
    if (typeof payload.sub === 'string') return { subject: payload.sub, issuer: known.url };
    throw new Error('token has no subject');
  };

  const router = Router();
  const text = express.text({ type: () => true, limit: '64kb' });

  for (const [name, issuer] of issuers) {
    if (!served.has(name)) continue;
    const prefix = name === '' ? '/oidc' : `/oidc/${name}`;
    router.get(`${prefix}/.well-known/openid-configuration`, (_req, res) => {
      res.json({ issuer: issuer.url, jwks_uri: `${issuer.url}/jwks`, id_token_signing_alg_values_supported: ['ES256'] });
    });
    router.get(`${prefix}/jwks`, (_req, res) => {
      res.json({ keys: [issuer.jwk] });
    });
  }
  router.post('/oidc/token', express.json({ limit: '4kb' }), async (req, res) => {
    const { identity, issuer } = (req.body ?? {}) as { identity?: unknown; issuer?: unknown };
    if (typeof identity !== 'string' || identity.length === 0 || identity.length > 512) {
      res.status(400).json({ error: 'give {"identity": "<e-mail or URI>"} (and "issuer": a URL this local Sigstore plays)' });
      return;
    }
    // The issuer by its URL: the main one, an extra one, or a played CI issuer.
    const name = issuer === undefined ? '' : [...issuers].find(([, i]) => i.url === issuer)?.[0];
    if (name === undefined) {
      const known = [...issuers.values()].map((i) => i.url).join(', ');
      res.status(400).json({ error: `unknown issuer ${JSON.stringify(issuer)}; this local Sigstore issues for ${known}` });
      return;
    }
    res.json({ id_token: await mintToken({ identity, issuer: name }) });
  });

  router.post('/fulcio/api/v2/signingCert', text, async (req, res) => {
    let body: { credentials?: { oidcIdentityToken?: string } };
    try {
      body = JSON.parse(String(req.body));
    } catch {
      res.status(400).type('text/plain').send('request is not JSON');
      return;
    }
    const token = body.credentials?.oidcIdentityToken;
    if (typeof token !== 'string') {
      res.status(400).type('text/plain').send('no OIDC token');
      return;
    }
    let verified: { subject: string; issuer: string };
    try {
      verified = await verifyToken(token);
    } catch (err) {
      // The token itself is never echoed.
      res
        .status(401)
        .type('text/plain')
        .send(`OIDC token refused: ${(err as Error).message}`);
      return;
    }
    // Hand the mock only what it needs, from the verified token.
    const claims = { sub: verified.subject, iss: verified.issuer };
    body.credentials = {
      oidcIdentityToken: `${jose.base64url.encode(JSON.stringify({ alg: 'none' }))}.${jose.base64url.encode(JSON.stringify(claims))}.`,
    };
    const result = await fulcioFn(JSON.stringify(body));
    res
      .status(result.statusCode)
      .type(result.contentType ?? 'text/plain')
      .send(result.response);
  });

  rekorRoutes(router, rekorLog);

  router.get('/trusted_root.json', (_req, res) => {
    res.json(trustedRoot);
  });

  return { issuerUrl, issuerUrlOf, fulcioUrl, rekorUrl, trustedRoot, mintToken, rekorLog, router };
}

/** Rekor's v1 read and write API over the local log; errors as Rekor's `{code, message}`. */
function rekorRoutes(router: Router, log: RekorLog): void {
  const json = express.json({ limit: '256kb', type: () => true });
  const answer = (res: express.Response, work: () => unknown, status = 200) => {
    try {
      res.status(status).json(work());
    } catch (err) {
      if (!(err instanceof RekorError)) throw err;
      if (err.location) res.setHeader('Location', err.location);
      res.status(err.status).json({ code: err.status, message: err.message });
    }
  };
  router.post('/rekor/api/v1/log/entries', json, (req, res) => {
    answer(
      res,
      () => {
        const created = log.append(req.body);
        const uuid = Object.keys(created)[0]!;
        res.setHeader('ETag', uuid);
        res.setHeader('Location', `/api/v1/log/entries/${uuid}`);
        return created;
      },
      201,
    );
  });
  router.get('/rekor/api/v1/log/entries', (req, res) => {
    const raw = String(req.query.logIndex ?? '');
    if (!/^\d{1,15}$/.test(raw)) {
      res.status(400).json({ code: 400, message: 'logIndex must be a non-negative integer' });
      return;
    }
    answer(res, () => log.byIndex(Number(raw)));
  });
  router.post('/rekor/api/v1/log/entries/retrieve', json, (req, res) => {
    answer(res, () => log.retrieve((req.body ?? {}) as { entryUUIDs?: unknown; logIndexes?: unknown }));
  });
  router.get('/rekor/api/v1/log/entries/:id', (req, res) => {
    answer(res, () => log.byUuidOrId(String(req.params.id)));
  });
  router.post('/rekor/api/v1/index/retrieve', json, (req, res) => {
    answer(res, () => log.search((req.body ?? {}) as SearchQuery));
  });
  router.get('/rekor/api/v1/log', (_req, res) => {
    answer(res, () => log.info());
  });
}
