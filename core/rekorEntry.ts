// Rekor log entries as a transparency monitor reads them: the v1 API's entry objects, the
// hashedrekord body inside (artifact digest, signing certificate), the identity the certificate
// names, and whether the entry is authentic: its signed entry timestamp verifies with a log key of
// the Sigstore trusted root, and its certificate chains to a trusted Fulcio CA at the entry's time.
// Anyone can log a self-signed certificate naming any e-mail; only an authentic entry may be flagged.
import { createRequire } from 'node:module';
import { canonicalize } from '@tufjs/canonical-json';
import { X509Certificate, crypto as sigCrypto } from '@sigstore/core';
import { TrustedRoot } from '@sigstore/protobuf-specs';
import { toTrustMaterial, type TrustMaterial } from '@sigstore/verify';
import { isPlainObject, sha256Hex } from './canonical.ts';
import { TufError } from './errors.ts';

// Not in the package index: the certificate checks the Verifier runs for a bundle (chain to a CA
// of the trusted root at a given time, SCTs), needed here for a certificate without an artifact.
const require = createRequire(import.meta.url);
const keyChecks = require('@sigstore/verify/dist/key/index.js') as {
  verifyCertificate(leaf: X509Certificate, timestamps: Date[], trust: TrustMaterial): unknown;
};

const OID_ISSUER_V2 = '1.3.6.1.4.1.57264.1.8';
const OID_ISSUER_V1 = '1.3.6.1.4.1.57264.1.1';

/** One entry of a Rekor v1 answer (`{uuid: {body, integratedTime, logID, logIndex, verification}}`). */
export interface LogEntry {
  uuid: string;
  logIndex: number;
  integratedTime: number;
  logID: string;
  body: Buffer;
  signedEntryTimestamp: Buffer | null;
}

/** Reads a v1 LogEntry object (one or more `uuid: entry` pairs); refuses anything else. */
export function parseLogEntries(json: unknown): LogEntry[] {
  if (!isPlainObject(json)) throw new TufError('malformed', 'a Rekor log entry answer must be an object');
  const out: LogEntry[] = [];
  for (const [uuid, raw] of Object.entries(json)) {
    // A UUID (64 hex), or an entry ID: 16 hex of the tree ID, then the UUID.
    if (!/^([0-9a-f]{16})?[0-9a-f]{64}$/.test(uuid))
      throw new TufError('malformed', `Rekor entry ID ${JSON.stringify(uuid.slice(0, 100))} is not hex`);
    const e = raw as Record<string, unknown>;
    if (!isPlainObject(e) || typeof e.body !== 'string' || !Number.isSafeInteger(e.logIndex) || !Number.isSafeInteger(e.integratedTime)) {
      throw new TufError('malformed', `Rekor entry ${uuid}: body, logIndex and integratedTime are required`);
    }
    const verification = isPlainObject(e.verification) ? e.verification : {};
    const set = typeof verification.signedEntryTimestamp === 'string' ? Buffer.from(verification.signedEntryTimestamp, 'base64') : null;
    out.push({
      uuid: uuid.length === 80 ? uuid.slice(16) : uuid,
      logIndex: e.logIndex as number,
      integratedTime: e.integratedTime as number,
      logID: typeof e.logID === 'string' ? e.logID : '',
      body: Buffer.from(e.body, 'base64'),
      signedEntryTimestamp: set,
    });
  }
  return out;
}

/** What a hashedrekord entry claims: who (the certificate) signed which artifact digest. */
export interface HashedRekordClaim {
  /** sha256 of the signed artifact, lowercase hex (for TUF metadata: of its canonical `signed`). */
  digest: string;
  certificate: X509Certificate;
}

/** The hashedrekord v0.0.1 inside an entry body; null for other kinds (DSSE, in-toto, ...) or a bare key. */
export function readHashedRekord(body: Buffer): HashedRekordClaim | null {
  let doc: unknown;
  try {
    doc = JSON.parse(body.toString('utf8'));
  } catch {
    return null;
  }
  const d = doc as {
    kind?: unknown;
    spec?: { data?: { hash?: { algorithm?: unknown; value?: unknown } }; signature?: { publicKey?: { content?: unknown } } };
  };
  if (!isPlainObject(doc) || d.kind !== 'hashedrekord') return null;
  const hash = d.spec?.data?.hash;
  const key = d.spec?.signature?.publicKey?.content;
  if (hash?.algorithm !== 'sha256' || typeof hash.value !== 'string' || typeof key !== 'string') return null;
  try {
    return { digest: hash.value.toLowerCase(), certificate: X509Certificate.parse(Buffer.from(key, 'base64').toString('utf8')) };
  } catch {
    return null; // a public key, not a certificate: names no identity
  }
}

/** The identity and issuer a Fulcio certificate names, read as the signature verifier reads them. */
export function certificateIdentity(cert: X509Certificate): { identity: string; issuer: string } | null {
  const identity = cert.subjectAltName;
  const v2 = cert.extension(OID_ISSUER_V2);
  const issuer = v2 ? v2.valueObj.subs?.[0]?.value.toString('ascii') : cert.extension(OID_ISSUER_V1)?.value.toString('ascii');
  return identity && issuer ? { identity, issuer } : null;
}

/** Verifies entries against one Sigstore trusted root (the one the repository verifies signatures with). */
export class LogEntryVerifier {
  private readonly trust: TrustMaterial;

  constructor(trustedRootJson: unknown) {
    try {
      this.trust = toTrustMaterial(TrustedRoot.fromJSON(trustedRootJson));
    } catch (err) {
      throw new TufError('malformed', `Sigstore trusted root is unusable: ${(err as Error).message}`);
    }
  }

  /** Whether `logID` (hex) is a log of the trusted root. */
  knowsLog(logID: string): boolean {
    return this.trust.tlogs.some((t) => t.logID.toString('hex') === logID);
  }

  /**
   * The identity of an authentic hashedrekord entry, or why it is not authentic. The log's promise
   * (signed entry timestamp) binds body, index and time; Rekor checked the signature over the digest.
   */
  verify(entry: LogEntry, claim: HashedRekordClaim): { ok: true; identity: string; issuer: string } | { ok: false; reason: string } {
    const at = new Date(entry.integratedTime * 1000);
    const logs = this.trust.tlogs.filter((t) => t.logID.toString('hex') === entry.logID && t.validFor.start <= at && at <= t.validFor.end);
    if (logs.length === 0) return { ok: false, reason: `log ${entry.logID.slice(0, 16)}… is not trusted at ${at.toISOString()}` };
    if (!entry.signedEntryTimestamp) return { ok: false, reason: 'entry has no signed entry timestamp' };
    const payload = Buffer.from(
      canonicalize({
        body: entry.body.toString('base64'),
        integratedTime: entry.integratedTime,
        logIndex: entry.logIndex,
        logID: entry.logID,
      }),
      'utf8',
    );
    if (!logs.some((t) => sigCrypto.verify(payload, t.publicKey, entry.signedEntryTimestamp!))) {
      return { ok: false, reason: 'signed entry timestamp does not verify' };
    }
    try {
      keyChecks.verifyCertificate(claim.certificate, [at], this.trust);
    } catch (err) {
      return { ok: false, reason: `certificate: ${(err as Error).message}` };
    }
    const named = certificateIdentity(claim.certificate);
    if (!named) return { ok: false, reason: 'certificate names no identity and issuer' };
    return { ok: true, ...named };
  }
}

/** What a signature's Sigstore bundle says about its log entry and signer (read, not verified). */
export interface BundleEvidence {
  identity: string;
  issuer: string;
  logIndex: number | null;
  /** Hex key ID of the log. */
  logID: string | null;
  /** SHA-256 (hex) of the canonicalized entry body the bundle carries. */
  bodySha256: string | null;
}

/** Reads a TAP 18 signature's bundle (v0.2 chain or v0.3 certificate); null when it has no readable certificate. */
export function bundleEvidence(signature: unknown): BundleEvidence | null {
  if (!isPlainObject(signature) || !isPlainObject(signature.bundle)) return null;
  const vm = (signature.bundle as { verificationMaterial?: Record<string, unknown> }).verificationMaterial;
  if (!isPlainObject(vm)) return null;
  const chain = (vm.x509CertificateChain as { certificates?: { rawBytes?: unknown }[] } | undefined)?.certificates;
  const raw = (vm.certificate as { rawBytes?: unknown } | undefined)?.rawBytes ?? chain?.[0]?.rawBytes;
  if (typeof raw !== 'string') return null;
  let named: { identity: string; issuer: string } | null;
  try {
    named = certificateIdentity(X509Certificate.parse(Buffer.from(raw, 'base64')));
  } catch {
    return null;
  }
  if (!named) return null;
  const tlog = Array.isArray(vm.tlogEntries) && isPlainObject(vm.tlogEntries[0]) ? (vm.tlogEntries[0] as Record<string, unknown>) : null;
  // protobuf JSON leaves out zero values: an entry without logIndex is at index 0.
  const index = tlog ? Number(tlog.logIndex ?? 0) : NaN;
  const keyId = (tlog?.logId as { keyId?: unknown } | undefined)?.keyId;
  const body = tlog?.canonicalizedBody;
  return {
    ...named,
    logIndex: Number.isSafeInteger(index) && index >= 0 ? index : null,
    logID: typeof keyId === 'string' ? Buffer.from(keyId, 'base64').toString('hex') : null,
    bodySha256: typeof body === 'string' ? sha256Hex(Buffer.from(body, 'base64')) : null,
  };
}
