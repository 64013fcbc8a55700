// A TUF client for repositories whose projects are delegated to identities (TAP 18), linear in the
// size of the metadata it reads.
//
// The trust decisions live in core/trustedSet.ts (pure: bytes in, verdicts out, every check tagged
// with its step of the TUF client workflow). This file is the I/O side, following python-tuf's
// ngclient Updater: it decides what to fetch (consistent-snapshot names `N.ROLE.json`,
// `timestamp.json`, targets as `HASH.NAME`), bounds every download, reads back and persists verified
// metadata in the metadata directory under tuf-js's file names (root.json, timestamp.json,
// snapshot.json, targets.json, ROLE.json with the role name URL-encoded), so a state directory
// written by the earlier tuf-js-based client keeps working, and downloads and verifies targets.
//
// Signatures by sigstore-oidc keys are verified synchronously by IdentitySignatureVerifier against
// the Sigstore trusted root (given, or learned through TUF as the top-level target
// sigstore/trusted_root.json); until it is known, identity signatures never count.
import { binnedProjectDirectory } from '../core/bins.ts';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { TargetFile } from '@tufjs/models';
import { IdentitySignatureVerifier, SIGSTORE_TRUSTED_ROOT_TARGET } from '../core/identity.ts';
import { isTrustError, TrustError, TrustedSet, type TargetFound, type TargetInfo } from '../core/trustedSet.ts';
import {
  attestationFile,
  DEFAULT_LIMITS,
  metadataFileName,
  sigstoreRootFile,
  type ClientLimits,
  type IdentityClientOptions,
} from './clientOptions.ts';
import { fromMirrors } from './mirrors.ts';
import { checkRelease, type ReleaseVerdict } from './releaseChecks.ts';
import { downloadBytes, isDownloadError, joinUrl } from './download.ts';
import { clientSignatureVerifier } from './signatureDispatch.ts';
import { downloadVerifiedTarget } from './targetDownload.ts';
import { ClientError, IdentityVerificationError } from './errors.ts';
import { delegatedToIdentities, unmetDelegationError } from './delegationChange.ts';

export { clientSignatureVerifier, identityVerificationInstalled, installIdentityVerification } from './signatureDispatch.ts';
export { ClientError, DelegationNotMetError, IdentityVerificationError, type ClientErrorCode, type CurrentDelegation } from './errors.ts';

export { DEFAULT_LIMITS, sigstoreRootFile, type ClientLimits, type IdentityClientOptions, type MirrorUrls } from './clientOptions.ts';

/** A target found, verified as far as it can be without its bytes: its role, provenance and the user's pins. */
export interface VouchedTarget {
  target: TargetInfo;
  /** The role that lists it. */
  role: string;
  release: ReleaseVerdict;
}

export class IdentityClient {
  private readonly limits: ClientLimits;
  private identityVerifier: IdentitySignatureVerifier | null = null;
  private sigstoreRootFrom: 'given' | 'repository' | 'none' = 'none';
  private readonly verifier = clientSignatureVerifier(() => this.identityVerifier);
  private set: TrustedSet | null = null;
  /** How this refresh learns each role's version: TAP 16 proofs, or snapshot.json. */
  private snapshotSource: 'proofs' | 'snapshot' = 'snapshot';

  constructor(private readonly opts: IdentityClientOptions) {
    this.limits = { ...DEFAULT_LIMITS, ...opts.limits };
    if (opts.sigstoreTrustedRoot !== undefined) {
      this.identityVerifier = new IdentitySignatureVerifier(opts.sigstoreTrustedRoot);
      this.sigstoreRootFrom = 'given';
    }
  }

  /** TUF 5.1 - 5.6.6: root -> timestamp -> snapshot -> targets; then the Sigstore trusted root, through TUF. */
  async refresh(): Promise<void> {
    const set = this.loadTrustedRoot();
    await this.updateRoot(set);
    await this.updateTimestamp(set);
    const merkleRoot = set.timestamp!.merkleRoot;
    if (merkleRoot !== undefined && this.opts.snapshotMerkleProofs !== false) {
      // TAP 16: the timestamp names a tree; each role's version comes from its proof.
      this.snapshotSource = 'proofs';
      this.say(`snapshot: v${set.timestamp!.snapshotMeta.version} by TAP 16 proofs (merkle_root ${merkleRoot.slice(0, 16)}...)`);
    } else {
      this.snapshotSource = 'snapshot';
      await this.updateSnapshot(set);
    }
    await this.loadTargets(set, 'targets', 'root');
    this.set = set;
    if (!this.identityVerifier) {
      // Without one, plain targets still download; identity-signed roles are refused when met.
      const found = await this.findTarget(set, SIGSTORE_TRUSTED_ROOT_TARGET);
      if (!found) return;
      const file = sigstoreRootFile(this.opts.targetDir);
      await this.downloadTarget(set, found.target, file);
      this.identityVerifier = new IdentitySignatureVerifier(JSON.parse(fs.readFileSync(file, 'utf8')));
      this.sigstoreRootFrom = 'repository';
    }
  }

  private say(line: string): void {
    this.opts.log?.(line);
  }

  /** How the last refresh learned the roles' versions: TAP 16 proofs, or the whole snapshot.json. */
  snapshotMode(): 'proofs' | 'snapshot' {
    return this.snapshotSource;
  }

  /** Where identity signatures are checked: a root given by the caller, the repository's (through TUF), or none. */
  sigstoreRootSource(): 'given' | 'repository' | 'none' {
    return this.sigstoreRootFrom;
  }

  /** The target's signed length, hashes and custom data, from the most trusted role listing it. */
  async getTargetInfo(targetPath: string): Promise<TargetFile | undefined> {
    const set = await this.trusted();
    const found = await this.findTarget(set, targetPath);
    return found ? TargetFile.fromJSON(targetPath, structuredClone(found.target.fields) as never) : undefined;
  }

  /**
   * The target path a project's file has in this repository: `PROJECT/FILE` as given when it is
   * listed so (flat layout, migrated projects), else its place in the bin layout,
   * `<prefix>/PROJECT/FILE`. Null when neither is listed.
   */
  async resolveTargetPath(targetPath: string): Promise<string | null> {
    const set = await this.trusted();
    if (await this.findTarget(set, targetPath)) return targetPath;
    const parts = targetPath.split('/');
    if (parts.length !== 2) return null;
    const binned = `${binnedProjectDirectory(parts[0]!)}/${parts[1]}`;
    return (await this.findTarget(set, binned)) ? binned : null;
  }

  /**
   * Downloads a target into `outFile`, verifying its length and every listed hash, once its
   * build provenance (when its delegations or the user's pins ask for it) and pins are met.
   */
  async download(targetPath: string, outFile: string): Promise<string> {
    await this.downloadVouched(await this.vouch(targetPath), outFile);
    return outFile;
  }

  /**
   * Everything the client checks about a target short of its bytes: found through verified
   * metadata, its attestation verified when required, the user's pins met. Null when no role
   * within reach lists it.
   */
  async vouchFor(targetPath: string): Promise<VouchedTarget | null> {
    const set = await this.trusted();
    const found = await this.findTarget(set, targetPath);
    if (!found) return null;
    const release = await checkRelease({
      found,
      role: set.getRole(found.role)!,
      pins: this.opts.pins ?? [],
      identities: this.identityVerifier,
      fetch: async (target) => {
        const file = attestationFile(this.opts.targetDir, target.hashes.find(([alg]) => alg === 'sha256')?.[1] ?? target.hashes[0]![1]);
        await this.downloadTarget(set, target, file);
        return fs.readFileSync(file);
      },
    });
    if (release.provenance) this.say(`provenance: ${found.target.path} built by ${release.provenance.builder.identity}`);
    return { target: found.target, role: found.role, release };
  }

  /** `vouchFor`, refusing a target no role lists. */
  async vouch(targetPath: string): Promise<VouchedTarget> {
    const vouched = await this.vouchFor(targetPath);
    if (!vouched) throw new IdentityVerificationError('target_not_found', `no target ${targetPath} in the repository`);
    return vouched;
  }

  /** The bytes of a target `vouch` returned, into `outFile` (written only once they verified). */
  async downloadVouched(vouched: VouchedTarget, outFile: string): Promise<void> {
    await this.downloadTarget(await this.trusted(), vouched.target, outFile);
  }

  private async trusted(): Promise<TrustedSet> {
    if (!this.set) await this.refresh();
    return this.set!;
  }

  // --- Metadata I/O ------------------------------------------------------------------------------

  private readLocal(role: string): Buffer | null {
    try {
      return fs.readFileSync(path.join(this.opts.metadataDir, metadataFileName(role)));
    } catch {
      return null; // absent or unreadable: fetched instead
    }
  }

  /** Only verified bytes are written, each file replaced whole (rename), never half-written. */
  private persist(role: string, bytes: Buffer): void {
    const file = path.join(this.opts.metadataDir, metadataFileName(role));
    const tmp = `${file}.${randomBytes(6).toString('hex')}.tmp`;
    try {
      fs.writeFileSync(tmp, bytes);
      fs.renameSync(tmp, file);
    } catch (err) {
      fs.rmSync(tmp, { force: true });
      throw new ClientError('persist_failed', `cannot persist ${metadataFileName(role)}: ${(err as Error).message}`, { cause: err });
    }
  }

  private fetchMetadata(fileName: string, maxLength: number): Promise<Buffer> {
    const bases = [this.opts.metadataBaseUrl, ...(this.opts.mirrors ?? []).map((m) => m.metadataBaseUrl)];
    return fromMirrors(bases, fileName, (base) =>
      downloadBytes(joinUrl(base, fileName), maxLength, { timeoutMs: this.limits.fetchTimeoutMs }),
    );
  }

  private loadTrustedRoot(): TrustedSet {
    const bytes = this.readLocal('root');
    if (!bytes) throw new ClientError('no_trusted_root', `no trusted root: put the repository's root.json in ${this.opts.metadataDir}`);
    // TUF 5.1 and 5.2: a new set (fixed start time) from the trusted root.
    return new TrustedSet(bytes, { verifier: this.verifier });
  }

  private async updateRoot(set: TrustedSet): Promise<void> {
    const first = set.root.version + 1;
    for (let version = first; version < first + this.limits.maxRootRotations; version++) {
      let bytes: Buffer;
      try {
        // TUF 5.3.3: version N+1, always `N.root.json`, whatever consistent_snapshot says.
        bytes = await this.fetchMetadata(`${version}.root.json`, this.limits.rootMaxLength);
      } catch (err) {
        // Not there: the trusted root is the newest (TUF 5.3.3 jumps to 5.3.10).
        if (isDownloadError(err, 'http_status') && (err.status === 403 || err.status === 404)) break;
        throw err;
      }
      set.updateRoot(bytes); // TUF 5.3.4 - 5.3.7
      this.persist('root', bytes); // TUF 5.3.8; TUF 5.3.9: repeat
    }
  }

  private async updateTimestamp(set: TrustedSet): Promise<void> {
    // The timestamp kept from the last run protects against rollback (TUF 5.4.3); if it no longer
    // verifies (timestamp keys rotated: TUF 5.3.11) or is expired, it is only a floor or nothing.
    const local = this.readLocal('timestamp');
    if (local) {
      try {
        set.updateTimestamp(local);
      } catch (err) {
        if (!isTrustError(err)) throw err;
      }
    }
    // TUF 5.4.1: always fetched, never versioned.
    const bytes = await this.fetchMetadata('timestamp.json', this.limits.timestampMaxLength);
    try {
      set.updateTimestamp(bytes); // TUF 5.4.2 - 5.4.4
    } catch (err) {
      // TUF 5.4.3.1: the same version as the trusted one: keep that one.
      if (isTrustError(err, 'equal_version')) return;
      throw err;
    }
    this.persist('timestamp', bytes); // TUF 5.4.5
  }

  private async updateSnapshot(set: TrustedSet): Promise<void> {
    const local = this.readLocal('snapshot');
    if (local) {
      try {
        // Checked against timestamp's hashes when downloaded; still verified as final here.
        set.updateSnapshot(local, { trusted: true });
        return;
      } catch (err) {
        // Not final (older version, expired, keys rotated): it still guards rollback (TUF 5.5.5).
        if (!isTrustError(err)) throw err;
      }
    }
    const meta = set.timestamp!.snapshotMeta;
    // TUF 5.3.12: consistent snapshots as the trusted root says.
    // TUF 5.5.1: up to the length timestamp names, else a generous bound; `N.snapshot.json`.
    const name = set.root.consistentSnapshot ? `${meta.version}.snapshot.json` : 'snapshot.json';
    const bytes = await this.fetchMetadata(name, meta.length ?? this.limits.snapshotMaxLength);
    set.updateSnapshot(bytes); // TUF 5.5.2 - 5.5.6
    this.persist('snapshot', bytes); // TUF 5.5.7
    this.say(`snapshot: v${meta.version}, ${bytes.length} bytes (snapshot.json)`);
  }

  /**
   * TAP 16: the role's snapshot entry from its proof at the timestamp's snapshot version, checked
   * against the timestamp's merkle_root and against the version of the role this client kept (no
   * rollback). A repository whose mirror serves no proofs (404 or 403 on the first one) is read through
   * snapshot.json instead, which the timestamp also names: as secure, only larger.
   */
  private async proveRole(set: TrustedSet, role: string): Promise<void> {
    const version = set.timestamp!.snapshotMeta.version;
    const url = `snapshot-merkle/${version}/${encodeURIComponent(role)}.json`;
    let bytes: Buffer;
    try {
      bytes = await this.fetchMetadata(url, this.limits.proofMaxLength);
    } catch (err) {
      const notFound = isDownloadError(err, 'http_status') && err.status === 404;
      // A bucket readable by GetObject alone (no ListBucket) answers 403 for what it does not hold.
      const notServed = notFound || (isDownloadError(err, 'http_status') && err.status === 403);
      if (notServed && role === 'targets') {
        this.say(`snapshot: no TAP 16 proofs served (${url}: ${notFound ? 404 : 403}); reading snapshot.json`);
        this.snapshotSource = 'snapshot';
        await this.updateSnapshot(set);
        return;
      }
      // As a role snapshot.json does not list: the tree holds no such role.
      if (notFound) throw new TrustError('missing_meta', `Missing ${role}.json in snapshot v${version} (no snapshot Merkle proof: ${url})`);
      throw err;
    }
    const info = set.updateSnapshotProof(role, bytes, this.keptVersion(role));
    this.say(`proof: ${role} v${info.version} in snapshot v${version} (${bytes.length} bytes)`);
  }

  /** The version of the role's metadata this client verified and kept, if any: the rollback floor. */
  private keptVersion(role: string): number | undefined {
    const local = this.readLocal(role);
    if (!local) return undefined;
    try {
      const version = (JSON.parse(local.toString('utf8')) as { signed?: { version?: unknown } }).signed?.version;
      return typeof version === 'number' && Number.isSafeInteger(version) ? version : undefined;
    } catch {
      return undefined; // unreadable: it gives no floor, and is replaced by the verified download
    }
  }

  /** TUF 5.6.1 - 5.6.6 for top-level targets and for each delegated role the search needs. */
  private async loadTargets(set: TrustedSet, role: string, delegator: string): Promise<void> {
    if (set.getRole(role)) return;
    if (this.snapshotSource === 'proofs') await this.proveRole(set, role);
    const local = this.readLocal(role);
    if (local) {
      try {
        set.updateDelegatedTargets(local, role, delegator);
        return;
      } catch (err) {
        if (!isTrustError(err)) throw err; // stale or no longer valid: fetch the current one
      }
    }
    const meta = set.roleMeta(role);
    const encoded = encodeURIComponent(role);
    // TUF 5.6.1: up to the length snapshot names, else a bound; `N.ROLE.json`.
    const name = set.root.consistentSnapshot ? `${meta.version}.${encoded}.json` : `${encoded}.json`;
    const bytes = await this.fetchMetadata(name, meta.length ?? this.limits.targetsMaxLength);
    try {
      set.updateDelegatedTargets(bytes, role, delegator); // TUF 5.6.2 - 5.6.5
      this.say(`${role}: v${meta.version}, ${bytes.length} bytes`);
    } catch (err) {
      // Still refused; but a delegation changed since the role was signed is said as such.
      if (!this.identityVerifier && isTrustError(err, 'threshold_not_met') && delegatedToIdentities(set, role, delegator)) {
        throw new IdentityVerificationError(
          'no_sigstore_trusted_root',
          `${role} is signed by identities (TAP 18) and the repository publishes no ${SIGSTORE_TRUSTED_ROOT_TARGET}: give the Sigstore trusted root explicitly (--sigstore-trusted-root)`,
        );
      }
      throw unmetDelegationError(set, bytes, role, delegator, this.verifier, this.identityVerifier, err) ?? err;
    }
    this.persist(role, bytes); // TUF 5.6.6
  }

  /** TUF 5.6.7: the trusted set walks the delegations; roles it asks for are loaded here. */
  private async findTarget(set: TrustedSet, targetPath: string): Promise<TargetFound | null> {
    const search = set.searchTarget(targetPath, this.limits.maxDelegations);
    for (let step = search.next(); ;) {
      if (step.done) return step.value;
      await this.loadTargets(set, step.value.role, step.value.delegator);
      step = search.next();
    }
  }

  // --- Targets -----------------------------------------------------------------------------------

  /** TUF 5.7.3: the target's file, length and every hash verified (client/targetDownload.ts). */
  private async downloadTarget(set: TrustedSet, target: TargetInfo, outFile: string): Promise<void> {
    const bases = [this.opts.targetBaseUrl, ...(this.opts.mirrors ?? []).map((m) => m.targetBaseUrl)];
    await fromMirrors(bases, target.path, (targetBaseUrl) =>
      downloadVerifiedTarget(target, {
        consistentSnapshot: set.root.consistentSnapshot,
        targetBaseUrl,
        outFile,
        timeoutMs: this.limits.fetchTimeoutMs,
      }),
    );
  }
}
