// Maintainers' project roles: what a project looks like, and new versions signed with identities
// (TAP 18). An upload reads as: parse -> core's checks against the delegation -> files -> commit in
// a publication transaction -> wait until a snapshot covers it.
//
// Files travel after their metadata: a version whose signatures verify (at least one by an identity
// delegated for the project) but whose listed files are not all held yet is kept as a pending
// version, and the answer names the missing files; each is then streamed (`receiveFile`), checked
// against that verified metadata again before a byte is read, and the version is published by the
// request that brings the last file, once the threshold is met too. Co-signers send metadata only.
import type { Knex } from 'knex';
import { sha256Hex, sha512Hex } from '../../core/canonical.ts';
import type { Clock } from '../../core/clock.ts';
import type { Delegation } from '../../core/delegate.ts';
import {
  assertTargetCount,
  delegationMaintainers,
  unionSignatures,
  validSignaturesOnly,
  verifyProjectUpload,
  type UploadDecision,
} from '../../core/delegations.ts';
import { TufError } from '../../core/errors.ts';
import type { IdentitySignatureVerifier } from '../../core/identity.ts';
import { parseMetadata, readSignedDocument, type Envelope, type ParsedMetadata, type SignedDocument } from '../../core/metadata.ts';
import { checkTargetEntries } from '../../core/updates.ts';
import { checkThreshold, memoizedVerifier, signaturesToVerify, type MemoizedVerifier } from '../../core/verify.ts';
import { assertDelegatedRoleName } from '../../core/names.ts';
import type { PendingJson, ProjectInfoJson } from '../../core/apiTypes.ts';
import { appendAudit } from '../db/auditRepo.ts';
import type { Db } from '../db/knex.ts';
import { commitSynchronously, lockRoleForAsyncCommit } from '../db/locks.ts';
import { getHead } from '../db/metadataRepo.ts';
import {
  clearResignNeeded,
  closePending,
  listPending,
  listResignNeeded,
  pendingBySignedSha256,
  upsertPending,
} from '../db/projectsRepo.ts';
import type { PendingUploadRow } from '../db/rows.ts';
import type { BlobStore } from '../db/blobStore.ts';
import { heldBlobs, putBlob } from '../db/targetsRepo.ts';
import type { CurrentMetadata } from '../publication/currentMetadata.ts';
import type { Publication } from '../publication/publication.ts';
import { storeTargetsVersion } from '../roles/storeRole.ts';
import type { PublishedRole } from '../serving/published.ts';
import type { AsyncSignatureVerifier } from '../verifyPool.ts';
import type { Readable } from 'node:stream';
import type { TufKey } from '../../core/keys.ts';
import type { RoleSpec } from '../../core/verify.ts';

export interface ProjectDeps {
  knex: Knex;
  clock: Clock;
  current: CurrentMetadata;
  publication: Publication;
  verifier: IdentitySignatureVerifier;
  /** Verifies upload signatures off the main thread first; absent, the main thread does it all. */
  verifierPool?: AsyncSignatureVerifier;
  projectMaxExpirySeconds: number;
  /** Where streamed files go (and are checked against their metadata). */
  blobs: BlobStore;
  /** No file larger than this is accepted (MAX_TARGET_BYTES). */
  maxTargetBytes: number;
  /** No role listing more targets is accepted (MAX_TARGETS_PER_PROJECT_ROLE). */
  maxTargetsPerProjectRole: number;
}

/** A file the metadata lists that the repository does not hold yet: send it to `receiveFile`. */
export interface MissingFile {
  path: string;
  length: number;
  sha256: string;
}

export type UploadResult =
  | { status: 'published'; version: number; published: PublishedRole[] }
  // pending: fewer valid signatures than the threshold; awaiting_files: threshold met, files missing.
  | {
      status: 'pending' | 'awaiting_files';
      version: number;
      signatures: number;
      threshold: number;
      signedSha256: string;
      missingFiles: MissingFile[];
    };

/** Who may sign a project's role, as plain data a worker thread can verify against. */
export interface SigningAuthority {
  keys: Record<string, TufKey>;
  role: RoleSpec;
}

/** Verdicts reached on a worker thread for an upload's signatures, against `authority`. */
export interface Preverified {
  authority: SigningAuthority;
  signedSha256: string;
  validKeyids: string[];
  invalidKeyids: string[];
}

function pendingView(row: PendingUploadRow): PendingJson {
  return {
    version: row.version,
    signedSha256: row.signed_sha256,
    signedBy: row.envelope.signatures.map((s) => String(s.keyid)),
    createdAt: row.created_at.toISOString(),
    metadata: row.envelope as unknown as Envelope,
  };
}

/** Checks uploaded files against the metadata, before anything is stored. */
function checkFiles(candidate: ParsedMetadata<'targets'>, files: Map<string, Buffer>): void {
  const listed = candidate.model.targets;
  for (const [path, bytes] of files) {
    const entry = Object.prototype.hasOwnProperty.call(listed, path) ? listed[path] : undefined;
    if (!entry) throw new TufError('target_hash_mismatch', `file ${path} is not listed in the metadata`);
    if (bytes.length !== entry.length)
      throw new TufError('target_hash_mismatch', `file ${path}: ${bytes.length} bytes, metadata says ${entry.length}`);
    if (sha256Hex(bytes) !== entry.hashes.sha256)
      throw new TufError('target_hash_mismatch', `file ${path}: sha256 differs from the metadata`);
    if (entry.hashes.sha512 !== undefined && sha512Hex(bytes) !== entry.hashes.sha512) {
      throw new TufError('target_hash_mismatch', `file ${path}: sha512 differs from the metadata`);
    }
  }
}

/** Records a worker's verdicts, keyed by the keys it verified against (a changed delegation misses them). */
function rememberVerdicts(verifier: MemoizedVerifier, candidate: SignedDocument<'targets'>, pre: Preverified): void {
  const valid = new Set(pre.validKeyids);
  const invalid = new Set(pre.invalidKeyids);
  for (const signature of candidate.envelope.signatures) {
    const key = Object.prototype.hasOwnProperty.call(pre.authority.keys, signature.keyid) ? pre.authority.keys[signature.keyid] : undefined;
    if (!key || !(valid.has(signature.keyid) || invalid.has(signature.keyid))) continue;
    verifier.remember(key, signature, candidate.signedBytes, valid.has(signature.keyid));
  }
}

export class ProjectService {
  constructor(private readonly deps: ProjectDeps) {}

  private async delegationFor(db: Db, project: string): Promise<Delegation> {
    assertDelegatedRoleName(project);
    const found = await this.deps.current.delegationOf(db, project);
    if (!found) throw new TufError('not_bootstrapped', 'the repository is not bootstrapped yet');
    const { delegation } = found;
    if (!delegation)
      throw new TufError(
        'not_delegated',
        `project ${project} is not delegated to any maintainer; register first and wait for an admin's approval`,
      );
    return delegation;
  }

  async info(project: string): Promise<ProjectInfoJson> {
    assertDelegatedRoleName(project);
    const delegation = (await this.deps.current.delegationOf(this.deps.knex, project))?.delegation ?? null;
    const head = await getHead(this.deps.knex, project);
    const pending = delegation ? (await listPending(this.deps.knex, project)).map(pendingView) : [];
    const [resign] = await listResignNeeded(this.deps.knex, project);
    return {
      needsResigning: resign ? { version: resign.role_version, targetsVersion: resign.targets_version, reason: resign.reason } : null,
      project,
      delegated: delegation !== null,
      maintainers: delegation ? delegationMaintainers(delegation) : [],
      threshold: delegation?.role.threshold ?? null,
      paths: delegation?.paths ?? [],
      version: head?.version ?? null,
      pending,
    };
  }

  async pending(project: string): Promise<PendingJson[]> {
    await this.delegationFor(this.deps.knex, project);
    return (await listPending(this.deps.knex, project)).map(pendingView);
  }

  /** Verdicts for the signatures a threshold check will look at, reached on worker threads. */
  private async verifyAhead(verifier: MemoizedVerifier, envelope: Envelope, signedBytes: Buffer, delegation: Delegation): Promise<void> {
    const pool = this.deps.verifierPool;
    if (!pool) return;
    const unknown = signaturesToVerify(envelope.signatures, delegation.keys, delegation.role).filter(
      ({ key, signature }) => !verifier.knows(key, signature, signedBytes),
    );
    await Promise.all(
      unknown.map(async ({ key, signature }) => {
        const verdict = await pool.verify(key, signature, signedBytes);
        if (verdict !== null) verifier.remember(key, signature, signedBytes, verdict);
      }),
    );
  }

  /** Core's decision on `envelope` (the candidate's signed bytes) against the delegation and version in `db`. */
  private async decide(
    db: Db,
    project: string,
    candidate: ParsedMetadata<'targets'>,
    envelope: Envelope,
    verifier: MemoizedVerifier,
  ): Promise<{ decision: UploadDecision; actor: string }> {
    const delegation = await this.delegationFor(db, project);
    const head = await getHead(db, project);
    // A merged envelope has the candidate's signed bytes (unionSignatures checks): no re-parse.
    const parsed = envelope === candidate.envelope ? candidate : { ...candidate, envelope };
    await this.verifyAhead(verifier, envelope, candidate.signedBytes, delegation);
    const decision = verifyProjectUpload({
      candidate: parsed,
      delegation,
      currentVersion: head?.version ?? null,
      now: this.deps.clock.now(),
      verifier,
      maxExpirySeconds: this.deps.projectMaxExpirySeconds,
    });
    const signers = decision.validKeyids.map((k) => {
      const key = Object.prototype.hasOwnProperty.call(delegation.keys, k) ? delegation.keys[k] : undefined;
      return String(key?.keyval.identity ?? k);
    });
    return { decision, actor: `identity:${signers.join(',')}` };
  }

  /** The keys and threshold a project's uploads must be signed with (for verification on a worker thread). */
  async authority(project: string): Promise<SigningAuthority> {
    const delegation = await this.delegationFor(this.deps.knex, project);
    return { keys: delegation.keys, role: delegation.role };
  }

  /**
   * A new version of a project role. Stored once the delegation's threshold of identities signed
   * it (held as pending before that), then answered once a snapshot and timestamp include it.
   * `files` (small ones, sent inline) are stored once the signatures verified; files the version
   * lists that are still missing keep it pending too, and the answer names them.
   * `preverified` carries verdicts a worker reached on the same bytes against `authority`.
   */
  async upload(project: string, metadata: unknown, files: Map<string, Buffer>, preverified?: Preverified): Promise<UploadResult> {
    const head = readSignedDocument(metadata, 'targets', project);
    const signedSha256 = sha256Hex(head.signedBytes);
    // Signature checks (about 4 ms each, on worker threads) run before any lock is taken; the
    // re-check under the locks reuses their verdicts.
    const verifier = memoizedVerifier(this.deps.verifier);
    const fromWorker = preverified !== undefined && preverified.signedSha256 === signedSha256;
    if (fromWorker) rememberVerdicts(verifier, head, preverified);
    await this.signedByDelegate(project, head, verifier);
    // tuf-js only now; after a worker's round trip over these very bytes, in linear time.
    const candidate = parseMetadata(metadata, 'targets', project, { roundTripChecked: fromWorker });
    await this.decide(this.deps.knex, project, candidate, candidate.envelope, verifier); // fail fast, before any file is stored
    checkFiles(candidate, files);
    for (const bytes of files.values()) await putBlob(this.deps.knex, sha256Hex(bytes), bytes);
    return this.commitOrHold(project, candidate, candidate.envelope, verifier);
  }

  /**
   * What a stranger can make the server do, kept cheap: core's checks that need no tuf-js (target
   * entries, no nested delegation, the number of targets) and at least one valid signature by a
   * delegated identity, refused in the order `verifyProjectUpload` refuses. tuf-js reads a
   * role's targets in quadratic time, so it runs only past this point.
   */
  private async signedByDelegate(project: string, head: SignedDocument<'targets'>, verifier: MemoizedVerifier): Promise<void> {
    checkTargetEntries(head);
    if (head.envelope.signed.delegations !== undefined) throw new TufError('nested_delegation', `${project} may not delegate further`);
    assertTargetCount(project, head.envelope.signed.targets, this.deps.maxTargetsPerProjectRole);
    const delegation = await this.delegationFor(this.deps.knex, project);
    await this.verifyAhead(verifier, head.envelope, head.signedBytes, delegation);
    const result = checkThreshold(head.envelope.signatures, head.signedBytes, delegation.keys, delegation.role, verifier);
    if (result.validKeyids.length === 0) {
      throw new TufError('threshold_not_met', `${project} v${head.version}: no valid signature by an identity delegated for ${project}`, {
        verdicts: result.verdicts,
      });
    }
  }

  /**
   * One file of an open upload (a pending version, `signedSha256` its signed bytes), read from
   * `source`. Before a byte is read: the version is open, lists `path`, and its signatures verify
   * again against the current delegation and version (at least one by a delegated identity).
   * The bytes are then hashed while staged and cut off at the listed length; once the last
   * missing file is held and the threshold met, the version is published.
   */
  async receiveFile(
    project: string,
    signedSha256: string,
    path: string,
    source: Readable,
    opts: { contentLength: number | null; signal?: AbortSignal },
  ): Promise<UploadResult> {
    assertDelegatedRoleName(project);
    const row = await pendingBySignedSha256(this.deps.knex, project, signedSha256);
    if (row?.status === 'published') return this.alreadyPublished(project, row.version);
    if (!row || row.status !== 'pending') {
      throw new TufError(
        'upload_not_found',
        `no open upload of ${project} with signed sha256 ${signedSha256}${row?.reason ? ` (${row.reason})` : ''}: send its signed metadata first (POST /api/v1/projects/${project}/uploads)`,
      );
    }
    // Stored only after the full check (tuf-js's round trip included): the model in linear time.
    const candidate = parseMetadata(row.envelope, 'targets', project, { roundTripChecked: true });
    if (sha256Hex(candidate.signedBytes) !== signedSha256)
      throw new TufError('upload_not_found', `the open upload ${signedSha256} of ${project} does not read back to its signed bytes`);
    const listed = candidate.model.targets;
    const entry = Object.prototype.hasOwnProperty.call(listed, path) ? listed[path] : undefined;
    if (!entry)
      throw new TufError('upload_not_found', `${project} v${candidate.version} (${signedSha256.slice(0, 16)}) does not list ${path}`);
    const verifier = memoizedVerifier(this.deps.verifier);
    await this.decide(this.deps.knex, project, candidate, candidate.envelope, verifier);
    const sha256 = entry.hashes.sha256!;
    if (!(await heldBlobs(this.deps.knex, [sha256])).has(sha256)) {
      if (entry.length > this.deps.maxTargetBytes)
        throw new TufError('target_too_large', `file ${path}: ${entry.length} bytes, over the limit of ${this.deps.maxTargetBytes}`);
      if (opts.contentLength !== null && opts.contentLength !== entry.length) {
        throw new TufError('target_hash_mismatch', `file ${path}: ${opts.contentLength} bytes sent, its metadata lists ${entry.length}`);
      }
      await this.deps.blobs.receive(source, {
        length: entry.length,
        sha256,
        ...(entry.hashes.sha512 !== undefined ? { sha512: entry.hashes.sha512 } : {}),
        maxBytes: this.deps.maxTargetBytes,
        what: `file ${path}`,
        ...(opts.signal ? { signal: opts.signal } : {}),
      });
    }
    return this.commitOrHold(project, candidate, null, verifier);
  }

  /** Listed files the repository does not hold yet, in the metadata's order. */
  private async missingFiles(db: Db, candidate: ParsedMetadata<'targets'>): Promise<MissingFile[]> {
    const entries = Object.entries(candidate.model.targets);
    const held = await heldBlobs(
      db,
      entries.map(([, f]) => f.hashes.sha256!),
    );
    return entries
      .filter(([, f]) => !held.has(f.hashes.sha256!))
      .map(([path, f]) => ({ path, length: f.length, sha256: f.hashes.sha256! }));
  }

  /** The answer for a version already published (by another request that brought the last file). */
  private async alreadyPublished(project: string, version: number): Promise<UploadResult> {
    const head = await getHead(this.deps.knex, project);
    const covering = head ? await this.deps.publication.waitUntilCovered(String(head.change_seq), `${project} v${version}`) : [];
    return { status: 'published', version, published: [{ role: project, version }, ...covering] };
  }

  /**
   * Under the role's lock: merges `incoming` (null when only files arrived) with the signatures
   * collected for the same bytes, decides again against the current delegation and version, and
   * publishes when the threshold is met and every listed file is held; otherwise keeps (or leaves)
   * the version pending and says what it waits for.
   */
  private async commitOrHold(
    project: string,
    candidate: ParsedMetadata<'targets'>,
    incoming: Envelope | null,
    verifier: MemoizedVerifier,
  ): Promise<UploadResult> {
    const signedSha256 = sha256Hex(candidate.signedBytes);
    // The role commit holds the publishing lock shared (many commit at once) and the role's own
    // lock; snapshot and timestamp follow in a publication round that covers every commit made
    // meanwhile (db/locks.ts explains why the answer is durable).
    const committed = await this.deps.publication.transaction('shared', async (tx) => {
      await lockRoleForAsyncCommit(tx.db, project);
      // Under the locks: merge with signatures collected earlier for the same bytes, re-verify
      // against the current delegation and version (another process may have moved them on).
      const open = await listPending(tx.db, project);
      const pending = open.find((p) => p.signed_sha256 === signedSha256);
      if (!pending && incoming === null) return { status: 'closed' } as const;
      const merged = pending
        ? unionSignatures(pending.envelope as unknown as Envelope, incoming ?? (pending.envelope as unknown as Envelope))
        : incoming!;
      const { decision, actor } = await this.decide(tx.db, project, candidate, merged, verifier);
      const kept = validSignaturesOnly(merged, decision.validKeyids);
      const missingFiles = await this.missingFiles(tx.db, candidate);
      const tooLarge = missingFiles.find((f) => f.length > this.deps.maxTargetBytes);
      if (tooLarge)
        throw new TufError(
          'target_too_large',
          `file ${tooLarge.path}: ${tooLarge.length} bytes, over the limit of ${this.deps.maxTargetBytes}`,
        );
      if (!decision.publish || missingFiles.length > 0) {
        const held = {
          status: decision.publish ? 'awaiting_files' : 'pending',
          version: candidate.version,
          signatures: decision.validKeyids.length,
          threshold: decision.threshold,
          signedSha256,
          missingFiles,
        } as const;
        if (incoming === null) return held; // a file arrived, nothing else changed
        // Answered without a snapshot: this commit must be durable on its own.
        await commitSynchronously(tx.db);
        await upsertPending(tx.db, project, candidate.version, signedSha256, kept);
        await appendAudit(tx.db, {
          actor,
          action: 'project.pending',
          role: project,
          version: candidate.version,
          details: { signedBy: decision.validKeyids, threshold: decision.threshold, missingFiles: missingFiles.map((f) => f.path) },
        });
        return held;
      }
      const stored = await storeTargetsVersion(tx.db, project, candidate, kept);
      // Under the role lock nobody else adds pending versions of this role: none open, none to close.
      const dropped = open.length > 0 ? await closePending(tx.db, project, candidate.version, signedSha256) : 0;
      await clearResignNeeded(tx.db, project);
      await appendAudit(tx.db, {
        actor,
        action: 'project.published',
        role: project,
        version: candidate.version,
        details: { signedBy: decision.validKeyids, targets: stored.records.length, droppedPending: dropped },
      });
      // The bytes go to this process's cache as they are, without a read back.
      return { status: 'committed', published: tx.announce(stored.published), changeSeq: stored.changeSeq } as const;
    });
    if (committed.status === 'closed') {
      // Published or dropped by another request meanwhile.
      const row = await pendingBySignedSha256(this.deps.knex, project, signedSha256);
      if (row?.status === 'published') return this.alreadyPublished(project, candidate.version);
      throw new TufError('upload_not_found', `${project} v${candidate.version} is no longer open${row?.reason ? `: ${row.reason}` : ''}`);
    }
    if (committed.status !== 'committed') return committed;
    // Answered only once a snapshot and timestamp include it (here or by a concurrent publisher).
    const covering = await this.deps.publication.waitUntilCovered(committed.changeSeq, `${project} v${candidate.version}`);
    return { status: 'published', version: candidate.version, published: [...committed.published, ...covering] };
  }
}
