// Maintainers' project roles: what a project looks like, and new versions signed with identities
// (TAP 18). An upload reads as: parse -> core's checks against the delegation -> files -> commit in
// a publication transaction -> wait until a snapshot covers it.
import type { Knex } from 'knex';
import { sha256Hex, sha512Hex } from '../../core/canonical.ts';
import type { Clock } from '../../core/clock.ts';
import type { Delegation } from '../../core/delegate.ts';
import { delegationMaintainers, unionSignatures, validSignaturesOnly, verifyProjectUpload, type UploadDecision } from '../../core/delegations.ts';
import { TufError } from '../../core/errors.ts';
import type { IdentitySignatureVerifier } from '../../core/identity.ts';
import { parseMetadata, type Envelope, type ParsedMetadata } from '../../core/metadata.ts';
import { memoizedVerifier, signaturesToVerify, type MemoizedVerifier } from '../../core/verify.ts';
import { assertDelegatedRoleName } from '../../core/names.ts';
import type { PendingJson, ProjectInfoJson } from '../../core/apiTypes.ts';
import { appendAudit } from '../db/auditRepo.ts';
import type { Db } from '../db/knex.ts';
import { commitSynchronously, lockRoleForAsyncCommit } from '../db/locks.ts';
import { getHead } from '../db/metadataRepo.ts';
import { clearResignNeeded, closePending, listPending, listResignNeeded, upsertPending } from '../db/projectsRepo.ts';
import type { PendingUploadRow } from '../db/rows.ts';
import { putBlob } from '../db/targetsRepo.ts';
import type { CurrentMetadata } from '../publication/currentMetadata.ts';
import type { Publication } from '../publication/publication.ts';
import { storeTargetsVersion } from '../roles/storeRole.ts';
import type { PublishedRole } from '../serving/published.ts';
import type { AsyncSignatureVerifier } from '../verifyPool.ts';

export interface ProjectDeps {
  knex: Knex;
  clock: Clock;
  current: CurrentMetadata;
  publication: Publication;
  verifier: IdentitySignatureVerifier;
  /** Verifies upload signatures off the main thread first; absent, the main thread does it all. */
  verifierPool?: AsyncSignatureVerifier;
  projectMaxExpirySeconds: number;
}

export type UploadResult =
  | { status: 'published'; version: number; published: PublishedRole[] }
  | { status: 'pending'; version: number; signatures: number; threshold: number; signedSha256: string };

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
    if (bytes.length !== entry.length) throw new TufError('target_hash_mismatch', `file ${path}: ${bytes.length} bytes, metadata says ${entry.length}`);
    if (sha256Hex(bytes) !== entry.hashes.sha256) throw new TufError('target_hash_mismatch', `file ${path}: sha256 differs from the metadata`);
    if (entry.hashes.sha512 !== undefined && sha512Hex(bytes) !== entry.hashes.sha512) {
      throw new TufError('target_hash_mismatch', `file ${path}: sha512 differs from the metadata`);
    }
  }
}

export class ProjectService {
  constructor(private readonly deps: ProjectDeps) {}

  private async delegationFor(db: Db, project: string): Promise<Delegation> {
    assertDelegatedRoleName(project);
    const found = await this.deps.current.delegationOf(db, project);
    if (!found) throw new TufError('not_bootstrapped', 'the repository is not bootstrapped yet');
    const { delegation } = found;
    if (!delegation) throw new TufError('not_delegated', `project ${project} is not delegated to any maintainer; register first and wait for an admin's approval`);
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
    const unknown = signaturesToVerify(envelope.signatures, delegation.keys, delegation.role).filter(({ key, signature }) => !verifier.knows(key, signature, signedBytes));
    await Promise.all(unknown.map(async ({ key, signature }) => {
      const verdict = await pool.verify(key, signature, signedBytes);
      if (verdict !== null) verifier.remember(key, signature, signedBytes, verdict);
    }));
  }

  /** Core's decision on `envelope` (the candidate's signed bytes) against the delegation and version in `db`. */
  private async decide(db: Db, project: string, candidate: ParsedMetadata<'targets'>, envelope: Envelope, verifier: MemoizedVerifier): Promise<{ decision: UploadDecision; actor: string }> {
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

  /**
   * A new version of a project role. Stored once the delegation's threshold of identities signed
   * it (held as pending before that), then answered once a snapshot and timestamp include it.
   */
  async upload(project: string, metadata: unknown, files: Map<string, Buffer>): Promise<UploadResult> {
    const candidate = parseMetadata(metadata, 'targets', project);
    const signedSha256 = sha256Hex(candidate.signedBytes);
    // Signature checks (about 4 ms each) run before any lock is taken; the re-check under the
    // locks reuses their verdicts.
    const verifier = memoizedVerifier(this.deps.verifier);
    await this.decide(this.deps.knex, project, candidate, candidate.envelope, verifier); // fail fast, before any file is stored
    checkFiles(candidate, files);
    for (const bytes of files.values()) await putBlob(this.deps.knex, sha256Hex(bytes), bytes);

    // The role commit holds the publishing lock shared (many commit at once) and the role's own
    // lock; snapshot and timestamp follow in a publication round that covers every commit made
    // meanwhile (db/locks.ts explains why the answer is durable).
    const committed = await this.deps.publication.transaction('shared', async (tx) => {
      await lockRoleForAsyncCommit(tx.db, project);
      // Under the locks: merge with signatures collected earlier for the same bytes, re-verify
      // against the current delegation and version (another process may have moved them on).
      const open = await listPending(tx.db, project);
      const pending = open.find((p) => p.signed_sha256 === signedSha256);
      const merged = pending ? unionSignatures(pending.envelope as unknown as Envelope, candidate.envelope) : candidate.envelope;
      const { decision, actor } = await this.decide(tx.db, project, candidate, merged, verifier);
      const kept = validSignaturesOnly(merged, decision.validKeyids);
      if (!decision.publish) {
        // Answered without a snapshot: this commit must be durable on its own.
        await commitSynchronously(tx.db);
        await upsertPending(tx.db, project, candidate.version, signedSha256, kept);
        await appendAudit(tx.db, { actor, action: 'project.pending', role: project, version: candidate.version, details: { signedBy: decision.validKeyids, threshold: decision.threshold } });
        return { status: 'pending', version: candidate.version, signatures: decision.validKeyids.length, threshold: decision.threshold, signedSha256 } as const;
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
    if (committed.status === 'pending') return committed;
    // Answered only once a snapshot and timestamp include it (here or by a concurrent publisher).
    const covering = await this.deps.publication.waitUntilCovered(committed.changeSeq, `${project} v${candidate.version}`);
    return { status: 'published', version: candidate.version, published: [...committed.published, ...covering] };
  }
}
