// Maintainers' project roles: what a project looks like, and new versions signed with identities
// (TAP 18). An upload reads as: parse -> core's checks against the delegation (uploadChecks.ts) ->
// files -> commit in a publication transaction (uploadCommit.ts) -> wait until a snapshot covers it.
//
// Files travel after their metadata: a version whose signatures verify (at least one by an identity
// delegated for the project) but whose listed files are not all held yet is kept as a pending
// version, and the answer names the missing files; each is then streamed (`receiveFile`), checked
// against that verified metadata again before a byte is read, and the version is published by the
// request that brings the last file, once the threshold is met too. Co-signers send metadata only.
import { sha256Hex } from '../../core/canonical.ts';
import { delegationMaintainers } from '../../core/delegations.ts';
import { TufError } from '../../core/errors.ts';
import { parseMetadata, readSignedDocument, type Envelope } from '../../core/metadata.ts';
import { memoizedVerifier } from '../../core/verify.ts';
import { assertDelegatedRoleName } from '../../core/names.ts';
import { resignNeededSince, type PendingJson, type ProjectInfoJson } from '../../core/apiTypes.ts';
import { getHead } from '../db/metadataRepo.ts';
import { listPending, listResignNeeded, pendingBySignedSha256 } from '../db/projectsRepo.ts';
import type { PendingUploadRow } from '../db/rows.ts';
import { heldBlobs } from '../db/targetsRepo.ts';
import type { Readable } from 'node:stream';
import type { Preverified, ProjectDeps, SigningAuthority, UploadResult } from './projectTypes.ts';
import { checkFiles, decide, delegationFor, rememberVerdicts, signedByDelegate } from './uploadChecks.ts';
import { isAttestationPath } from '../../core/provenance.ts';
import { receiveAttestation, verifyAttestationFor, verifyInlineAttestations } from './provenanceChecks.ts';
import { alreadyPublished, commitOrHold } from './uploadCommit.ts';
import { tryFastUpload } from './fastCommit.ts';

export type { MissingFile, Preverified, ProjectDeps, SigningAuthority, UploadResult } from './projectTypes.ts';

function pendingView(row: PendingUploadRow): PendingJson {
  return {
    version: row.version,
    signedSha256: row.signed_sha256,
    signedBy: row.envelope.signatures.map((s) => String(s.keyid)),
    createdAt: row.created_at.toISOString(),
    metadata: row.envelope as unknown as Envelope,
  };
}

export class ProjectService {
  constructor(private readonly deps: ProjectDeps) {}

  async info(project: string): Promise<ProjectInfoJson> {
    assertDelegatedRoleName(project);
    const delegation = (await this.deps.current.delegationOf(this.deps.knex, project))?.delegation ?? null;
    const head = await getHead(this.deps.knex, project);
    const pending = delegation ? (await listPending(this.deps.knex, project)).map(pendingView) : [];
    const [resign] = await listResignNeeded(this.deps.knex, project);
    return {
      needsResigning: resign ? resignNeededSince(resign) : null,
      project,
      delegated: delegation !== null,
      maintainers: delegation ? delegationMaintainers(delegation) : [],
      provenance: delegation?.provenance ?? null,
      threshold: delegation?.role.threshold ?? null,
      paths: delegation?.paths ?? [],
      version: head?.version ?? null,
      pending,
    };
  }

  async pending(project: string): Promise<PendingJson[]> {
    await delegationFor(this.deps, this.deps.knex, project);
    return (await listPending(this.deps.knex, project)).map(pendingView);
  }

  /** The keys and threshold a project's uploads must be signed with (for verification on a worker thread). */
  async authority(project: string): Promise<SigningAuthority> {
    // From memory when it knows a delegation (a stale one only costs a verification again: verdicts
    // are keyed by the keys they were reached with); a refusal always comes from the database.
    const known = this.deps.fast ? await this.deps.current.knownDelegation(project) : null;
    if (known?.delegation) return { keys: known.delegation.keys, role: known.delegation.role };
    const delegation = await delegationFor(this.deps, this.deps.knex, project);
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
    if (this.deps.fast) {
      const done = await tryFastUpload(this.deps, this.deps.fast, project, head, metadata, files, verifier, fromWorker);
      if (done) return done;
    }
    await signedByDelegate(this.deps, project, head, verifier);
    // tuf-js only now; after a worker's round trip over these very bytes, in linear time.
    const candidate = parseMetadata(metadata, 'targets', project, { roundTripChecked: fromWorker });
    // Fail fast, before any file is stored.
    const { delegation } = await decide(this.deps, this.deps.knex, project, candidate, candidate.envelope, verifier);
    checkFiles(candidate, files);
    verifyInlineAttestations(this.deps, candidate, delegation, files);
    for (const bytes of files.values()) await this.deps.blobs.put(bytes);
    return commitOrHold(this.deps, project, candidate, candidate.envelope, verifier);
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
    if (row?.status === 'published') return alreadyPublished(this.deps, project, row.version);
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
    const { delegation } = await decide(this.deps, this.deps.knex, project, candidate, candidate.envelope, verifier);
    const sha256 = entry.hashes.sha256!;
    if (!(await heldBlobs(this.deps.knex, [sha256])).has(sha256)) {
      if (entry.length > this.deps.maxTargetBytes)
        throw new TufError('target_too_large', `file ${path}: ${entry.length} bytes, over the limit of ${this.deps.maxTargetBytes}`);
      if (opts.contentLength !== null && opts.contentLength !== entry.length) {
        throw new TufError('target_hash_mismatch', `file ${path}: ${opts.contentLength} bytes sent, its metadata lists ${entry.length}`);
      }
      if (isAttestationPath(path)) {
        // Small, and verified before it is stored: a refused attestation never reaches the database.
        const bytes = await receiveAttestation(source, entry, `file ${path}`, opts.signal);
        verifyAttestationFor(this.deps, candidate, delegation, path, bytes);
        await this.deps.blobs.put(bytes);
      } else {
        await this.deps.blobs.receive(source, {
          length: entry.length,
          sha256,
          ...(entry.hashes.sha512 !== undefined ? { sha512: entry.hashes.sha512 } : {}),
          maxBytes: this.deps.maxTargetBytes,
          what: `file ${path}`,
          ...(opts.signal ? { signal: opts.signal } : {}),
        });
      }
    }
    return commitOrHold(this.deps, project, candidate, null, verifier);
  }
}
