// Maintainers: registration requests, and project role uploads signed with identities (TAP 18).
// Verification is core's; this service loads the trusted delegation, stores, and publishes.
import type { Knex } from 'knex';
import { sha256Hex, sha512Hex } from '../../core/canonical.ts';
import type { Clock } from '../../core/clock.ts';
import {
  delegationMaintainers,
  findDelegation,
  unionSignatures,
  validSignaturesOnly,
  verifyProjectUpload,
  verifyRegistration,
  type Delegation,
} from '../../core/delegations.ts';
import { TufError } from '../../core/errors.ts';
import type { IdentitySignatureVerifier } from '../../core/identity.ts';
import { parseMetadata, servedBytes, type Envelope, type ParsedMetadata } from '../../core/metadata.ts';
import { memoizedVerifier, signaturesToVerify, type MemoizedVerifier } from '../../core/verify.ts';
import { assertDelegatedRoleName } from '../../core/names.ts';
import type { PendingJson, ProjectInfoJson } from '../../core/apiTypes.ts';
import { appendAudit } from '../db/auditRepo.ts';
import type { Db } from '../db/knex.ts';
import { getHead, insertMetadataVersion } from '../db/metadataRepo.ts';
import { clearResignNeeded, closePending, insertRegistration, listPending, listResignNeeded, upsertPending } from '../db/projectsRepo.ts';
import type { PendingUploadRow, RegistrationRow } from '../db/rows.ts';
import { putBlob, replaceTargetRecords } from '../db/targetsRepo.ts';
import type { AsyncSignatureVerifier } from '../verifyPool.ts';
import type { PublishedRole } from './publisher.ts';
import { targetRecordsWithFiles, type RepositoryService } from './repository.ts';

/** First key of the two-key advisory lock that serializes one project role's versions. */
const ROLE_LOCK_CLASS = 7_302_005;

export interface ProjectDeps {
  knex: Knex;
  clock: Clock;
  repository: RepositoryService;
  verifier: IdentitySignatureVerifier;
  /** Verifies upload signatures off the main thread first; absent, the main thread does it all. */
  verifierPool?: AsyncSignatureVerifier;
  projectMaxExpirySeconds: number;
  registrationMaxSkewSeconds: number;
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

export class ProjectService {
  constructor(private readonly deps: ProjectDeps) {}

  private async delegationFor(db: Db, project: string): Promise<{ delegation: Delegation }> {
    assertDelegatedRoleName(project);
    const targets = await this.deps.repository.currentTargets(db);
    if (!targets) throw new TufError('not_bootstrapped', 'the repository is not bootstrapped yet');
    const delegation = findDelegation(targets.model, project);
    if (!delegation) throw new TufError('not_delegated', `project ${project} is not delegated to any maintainer; register first and wait for an admin's approval`);
    return { delegation };
  }

  async info(project: string): Promise<ProjectInfoJson> {
    assertDelegatedRoleName(project);
    const targets = await this.deps.repository.currentTargets();
    const delegation = targets ? findDelegation(targets.model, project) : null;
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

  async register(body: unknown): Promise<{ registration: RegistrationRow; created: boolean }> {
    const request = verifyRegistration(body, this.deps.clock.now(), this.deps.verifier, this.deps.registrationMaxSkewSeconds);
    const targets = await this.deps.repository.currentTargets();
    if (targets && findDelegation(targets.model, request.project)) {
      throw new TufError('already_delegated', `project ${request.project} already has maintainers; ask them or an admin to add you`);
    }
    const signature = (body as { signatures: Record<string, unknown>[] }).signatures[0]!;
    const { row, created } = await insertRegistration(this.deps.knex, { ...request, signature });
    if (created) {
      await appendAudit(this.deps.knex, {
        actor: `identity:${request.identity}`,
        action: 'registration.requested',
        role: request.project,
        details: { issuer: request.issuer, id: Number(row.id) },
      });
    }
    return { registration: row, created };
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

  /** Checks uploaded files against the metadata, before anything is stored. */
  private checkFiles(candidate: ParsedMetadata<'targets'>, files: Record<string, Buffer>): void {
    for (const [path, bytes] of Object.entries(files)) {
      const entry = candidate.model.targets[path];
      if (!entry) throw new TufError('target_hash_mismatch', `file ${path} is not listed in the metadata`);
      if (bytes.length !== entry.length) throw new TufError('target_hash_mismatch', `file ${path}: ${bytes.length} bytes, metadata says ${entry.length}`);
      if (sha256Hex(bytes) !== entry.hashes.sha256) throw new TufError('target_hash_mismatch', `file ${path}: sha256 differs from the metadata`);
      if (entry.hashes.sha512 !== undefined && sha512Hex(bytes) !== entry.hashes.sha512) {
        throw new TufError('target_hash_mismatch', `file ${path}: sha512 differs from the metadata`);
      }
    }
  }

  /**
   * A new version of a project role. Stored once the delegation's threshold of identities signed
   * it (held as pending before that), then answered once a snapshot and timestamp include it.
   */
  async upload(project: string, metadata: unknown, files: Record<string, Buffer>): Promise<UploadResult> {
    const candidate = parseMetadata(metadata, 'targets', project);
    const now = () => this.deps.clock.now();
    const signedSha256 = sha256Hex(candidate.signedBytes);
    // Signature checks (about 4 ms each) run before the publishing lock is taken; the re-check
    // under the lock reuses their verdicts.
    const verifier = memoizedVerifier(this.deps.verifier);
    const verify = async (db: Db, envelope: Envelope) => {
      const { delegation } = await this.delegationFor(db, project);
      const head = await getHead(db, project);
      // A merged envelope has the candidate's signed bytes (unionSignatures checks): no re-parse.
      const parsed = envelope === candidate.envelope ? candidate : { ...candidate, envelope };
      await this.verifyAhead(verifier, envelope, candidate.signedBytes, delegation);
      const decision = verifyProjectUpload({
        candidate: parsed,
        delegation,
        currentVersion: head?.version ?? null,
        now: now(),
        verifier,
        maxExpirySeconds: this.deps.projectMaxExpirySeconds,
      });
      const signers = decision.validKeyids.map((k) => String(delegation.keys[k]?.keyval.identity ?? k));
      return { decision, actor: `identity:${signers.join(',')}` };
    };
    await verify(this.deps.knex, candidate.envelope); // fail fast, before any file is stored
    this.checkFiles(candidate, files);
    for (const bytes of Object.values(files)) await putBlob(this.deps.knex, sha256Hex(bytes), bytes);

    let result: UploadResult | null = null;
    let committedSeq: string | undefined;
    // The role commit holds the publishing lock shared (many commit at once) and the role's own
    // lock exclusive (its versions stay in order). Snapshot and timestamp follow in a second
    // transaction that covers every commit made meanwhile: uploads coalesce into one snapshot.
    await this.deps.repository.publishing(async (trx) => {
      // Asynchronous commit from the start (one round trip less); a pending version turns it back on.
      await trx.raw(`select pg_advisory_xact_lock(?, hashtext(?)), set_config('synchronous_commit', 'off', true)`, [ROLE_LOCK_CLASS, project]);
      // Under the locks: merge with signatures collected earlier for the same bytes, re-verify
      // against the current delegation and version (another process may have moved them on).
      const open = await listPending(trx, project);
      const pending = open.find((p) => p.signed_sha256 === signedSha256);
      const merged = pending ? unionSignatures(pending.envelope as unknown as Envelope, candidate.envelope) : candidate.envelope;
      const { decision, actor } = await verify(trx, merged);
      const kept = validSignaturesOnly(merged, decision.validKeyids);
      if (!decision.publish) {
        // Answered without a snapshot: this commit must be durable on its own.
        await trx.raw('set local synchronous_commit = on');
        await upsertPending(trx, project, candidate.version, signedSha256, kept);
        await appendAudit(trx, { actor, action: 'project.pending', role: project, version: candidate.version, details: { signedBy: decision.validKeyids, threshold: decision.threshold } });
        result = { status: 'pending', version: candidate.version, signatures: decision.validKeyids.length, threshold: decision.threshold, signedSha256 };
        return [];
      }
      const records = await targetRecordsWithFiles(trx, { ...candidate, envelope: kept });
      // This commit need not wait for its own WAL flush (synchronous_commit is off, set with the
      // lock): the request is answered only after a snapshot covering it commits synchronously,
      // and that snapshot transaction read this commit, so its commit record comes later in the WAL
      // and flushing it makes this one durable too. A crash before then loses only a version
      // nobody was told about and no snapshot lists.
      const bytes = servedBytes(kept);
      const sha256 = sha256Hex(bytes);
      committedSeq = await insertMetadataVersion(trx, { role: project, version: candidate.version, bytes, sha256, expires: candidate.expires });
      await replaceTargetRecords(trx, project, candidate.version, records);
      // Under the role lock nobody else adds pending versions of this role: none open, none to close.
      const dropped = open.length > 0 ? await closePending(trx, project, candidate.version, signedSha256) : 0;
      await clearResignNeeded(trx, project);
      await appendAudit(trx, {
        actor,
        action: 'project.published',
        role: project,
        version: candidate.version,
        details: { signedBy: decision.validKeyids, targets: records.length, droppedPending: dropped },
      });
      result = { status: 'published', version: candidate.version, published: [{ role: project, version: candidate.version }] };
      // The bytes go to this process's cache as they are, without a read back.
      return [{ role: project, version: candidate.version, file: { bytes, sha256, expires: candidate.expires } }];
    }, 'shared');
    const r = result as UploadResult | null;
    if (r?.status === 'published') {
      // Answered only once a snapshot and timestamp include it (here or by a concurrent publisher).
      r.published.push(...(await this.deps.repository.publishPendingChanges(`${project} v${r.version}`, committedSeq)));
    }
    return r!;
  }

  async pending(project: string): Promise<PendingJson[]> {
    await this.delegationFor(this.deps.knex, project);
    return (await listPending(this.deps.knex, project)).map(pendingView);
  }
}

