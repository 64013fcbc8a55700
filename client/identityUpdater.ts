// An unmodified tuf-js Updater, extended so that roles delegated to identities (TAP 18) verify.
//
// tuf-js verifies each delegated role by calling Key.verifySignature synchronously, and its
// Signature model drops the Sigstore bundle. So: a fetcher records the signatures (bundles
// included) of every metadata document before tuf-js parses it, and Key.verifySignature is
// extended, for sigstore-oidc keys only, to verify synchronously against those records with the
// verifier of the client that is running (AsyncLocalStorage). Anything missing fails closed.
import { AsyncLocalStorage } from 'node:async_hooks';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { Key, type TargetFile } from '@tufjs/models';
import { Updater, type Fetcher } from 'tuf-js';
import { canonicalBytes, isPlainObject, sha256Hex } from '../core/canonical.ts';
import { IDENTITY_KEYTYPE, IdentitySignatureVerifier, SIGSTORE_TRUSTED_ROOT_TARGET } from '../core/identity.ts';
import type { TufKey } from '../core/keys.ts';
import type { SignatureJson } from '../core/metadata.ts';

const require = createRequire(import.meta.url);
// Not exported from tuf-js's index; tuf-js is pinned to an exact version in package.json.
const { DefaultFetcher } = require('tuf-js/dist/fetcher.js') as { DefaultFetcher: new (opts?: object) => Fetcher };

interface VerificationContext {
  verifier: IdentitySignatureVerifier | null;
  /** sha256 of canonical `signed` -> the document's signatures as served (bundles included). */
  documents: Map<string, SignatureJson[]>;
}

const current = new AsyncLocalStorage<VerificationContext>();
const INSTALLED = Symbol.for('tuf-identity-repository/identity-verification');

export class IdentityVerificationError extends Error {
  override readonly name = 'IdentityVerificationError';
}

function record(ctx: VerificationContext, bytes: Buffer): void {
  let doc: unknown;
  try {
    doc = JSON.parse(bytes.toString('utf8'));
  } catch {
    return; // tuf-js refuses it itself
  }
  if (!isPlainObject(doc) || !isPlainObject(doc.signed) || !Array.isArray(doc.signatures)) return;
  try {
    ctx.documents.set(sha256Hex(canonicalBytes(doc.signed)), doc.signatures as unknown as SignatureJson[]);
  } catch {
    // not canonicalizable: no identity signature can verify over it
  }
}

/** Extends Key.verifySignature for sigstore-oidc keys, once per process. Idempotent. */
export function installIdentityVerification(): void {
  const proto = Key.prototype as unknown as Record<symbol | string, unknown>;
  if (proto[INSTALLED]) return;
  const original = Key.prototype.verifySignature;
  Key.prototype.verifySignature = function verifySignature(this: Key, metadata) {
    if (this.keyType !== IDENTITY_KEYTYPE) return original.call(this, metadata);
    const ctx = current.getStore();
    if (!ctx?.verifier) throw new IdentityVerificationError(`no Sigstore verifier for identity key ${this.keyID}`);
    const bytes = canonicalBytes(metadata.signed.toJSON());
    const signature = ctx.documents.get(sha256Hex(bytes))?.find((s) => s.keyid === this.keyID);
    if (!signature) throw new IdentityVerificationError(`no recorded signature by identity key ${this.keyID}`);
    if (ctx.verifier.verify(this.toJSON() as unknown as TufKey, signature, bytes) !== true) {
      throw new IdentityVerificationError(`identity signature ${this.keyID} does not verify`);
    }
  };
  proto[INSTALLED] = true;
}

/** Whether the extension is in place (tests assert it, so it cannot silently stop taking effect). */
export function identityVerificationInstalled(): boolean {
  return Boolean((Key.prototype as unknown as Record<symbol, unknown>)[INSTALLED]);
}

export interface IdentityClientOptions {
  metadataBaseUrl: string;
  targetBaseUrl: string;
  /** Holds root.json (the trusted root, placed there once) and the metadata tuf-js persists. */
  metadataDir: string;
  targetDir: string;
  /** The Sigstore trusted root; by default the repository's own target sigstore/trusted_root.json. */
  sigstoreTrustedRoot?: unknown;
}

export class IdentityClient {
  private readonly ctx: VerificationContext = { verifier: null, documents: new Map() };
  private readonly updater: Updater;
  private refreshed = false;

  constructor(private readonly opts: IdentityClientOptions) {
    installIdentityVerification();
    if (opts.sigstoreTrustedRoot !== undefined) this.ctx.verifier = new IdentitySignatureVerifier(opts.sigstoreTrustedRoot);
    const ctx = this.ctx;
    const inner = new DefaultFetcher({ timeout: 30_000 });
    const fetcher: Fetcher = {
      downloadFile: (url, maxLength, handler) => inner.downloadFile(url, maxLength, handler),
      downloadBytes: async (url, maxLength) => {
        const bytes = await inner.downloadBytes(url, maxLength);
        record(ctx, bytes);
        return bytes;
      },
    };
    this.updater = new Updater({
      metadataBaseUrl: opts.metadataBaseUrl,
      targetBaseUrl: opts.targetBaseUrl,
      metadataDir: opts.metadataDir,
      targetDir: opts.targetDir,
      fetcher,
    });
  }

  private run<T>(work: () => Promise<T>): Promise<T> {
    return current.run(this.ctx, work);
  }

  /** Metadata tuf-js kept from earlier runs is read from disk, not fetched: record it too. */
  private recordLocalMetadata(): void {
    if (!fs.existsSync(this.opts.metadataDir)) return;
    for (const name of fs.readdirSync(this.opts.metadataDir)) {
      if (name.endsWith('.json')) record(this.ctx, fs.readFileSync(path.join(this.opts.metadataDir, name)));
    }
  }

  /** root -> timestamp -> snapshot -> targets; then the Sigstore trusted root, through TUF. */
  async refresh(): Promise<void> {
    this.recordLocalMetadata();
    await this.run(() => this.updater.refresh());
    this.refreshed = true;
    if (!this.ctx.verifier) {
      const info = await this.run(() => this.updater.getTargetInfo(SIGSTORE_TRUSTED_ROOT_TARGET));
      if (!info) {
        throw new IdentityVerificationError(`the repository publishes no ${SIGSTORE_TRUSTED_ROOT_TARGET}; give the Sigstore trusted root explicitly`);
      }
      fs.mkdirSync(this.opts.targetDir, { recursive: true });
      const file = await this.run(() => this.updater.downloadTarget(info, path.join(this.opts.targetDir, 'sigstore-trusted_root.json')));
      this.ctx.verifier = new IdentitySignatureVerifier(JSON.parse(fs.readFileSync(file, 'utf8')));
    }
  }

  async getTargetInfo(targetPath: string): Promise<TargetFile | undefined> {
    if (!this.refreshed) await this.refresh();
    return this.run(() => this.updater.getTargetInfo(targetPath));
  }

  /** Downloads a target into `outFile`; length and hashes verified by tuf-js. */
  async download(targetPath: string, outFile: string): Promise<string> {
    const info = await this.getTargetInfo(targetPath);
    if (!info) throw new IdentityVerificationError(`no target ${targetPath} in the repository`);
    fs.mkdirSync(path.dirname(path.resolve(outFile)), { recursive: true });
    return this.run(() => this.updater.downloadTarget(info, outFile));
  }
}
