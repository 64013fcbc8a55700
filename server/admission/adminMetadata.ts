// Admission of the metadata the offline admins sign: root v1 and targets v1 at bootstrap, then new
// versions of root and top-level targets. Verification is core's; this service loads the trusted
// state, stores in one publication transaction, and has snapshot and timestamp signed with it.
import { sha256Hex } from '../../core/canonical.ts';
import type { Clock } from '../../core/clock.ts';
import { checkBinLayoutKept } from '../../core/bins.ts';
import { TufError } from '../../core/errors.ts';
import { parseMetadata, servedBytes, type ParsedMetadata } from '../../core/metadata.ts';
import { checkOnlineKeys, rootKeys, rootRole, sameRoleDelegation, verifyRootUpdate, verifyTargetsUpdate } from '../../core/updates.ts';
import { checkThreshold, type SignatureVerifier } from '../../core/verify.ts';
import { appendAudit } from '../db/auditRepo.ts';
import { getHead, insertMetadataVersion } from '../db/metadataRepo.ts';
import type { CurrentMetadata } from '../publication/currentMetadata.ts';
import type { Publication, PublicationTx } from '../publication/publication.ts';
import { storeTargetsVersion } from '../roles/storeRole.ts';
import type { PublishedRole } from '../serving/published.ts';
import { approveDelegatedRegistrations, reviewDelegations } from './delegationReview.ts';
import { checkNewDelegationNames } from './projectNames.ts';
import { admitDelegatedRoles, parseDelegated, type DelegatedSubmission } from './delegatedRoles.ts';

export interface AdmissionDeps {
  clock: Clock;
  publication: Publication;
  current: CurrentMetadata;
  /** Verifies signatures of submitted metadata: ordinary keys, and identity keys (TAP 18). */
  verifier: SignatureVerifier;
  /** RESERVED_PROJECT_NAMES: refused as delegations, like the folders of top-level targets' own files. */
  reservedProjectNames?: string[];
}

export interface SubmitResult {
  published: PublishedRole[];
}

export class AdmissionService {
  constructor(private readonly deps: AdmissionDeps) {}

  private async storeRoot(
    tx: PublicationTx,
    root: ParsedMetadata<'root'>,
    actor: string,
    details: Record<string, unknown> = {},
  ): Promise<PublishedRole[]> {
    const bytes = servedBytes(root.envelope);
    const sha256 = sha256Hex(bytes);
    await insertMetadataVersion(tx.db, { role: 'root', version: root.version, bytes, sha256, expires: root.expires });
    await appendAudit(tx.db, {
      actor,
      action: 'root.accepted',
      role: 'root',
      version: root.version,
      details: { ...details, signedBy: root.envelope.signatures.map((s) => s.keyid) },
    });
    return tx.announce({ role: 'root', version: root.version, file: { bytes, sha256, expires: root.expires } });
  }

  private async storeTargets(tx: PublicationTx, targets: ParsedMetadata<'targets'>, actor: string): Promise<PublishedRole[]> {
    const previous = await this.deps.current.targets(tx.db);
    checkBinLayoutKept(previous?.envelope.signed ?? null, targets.envelope.signed);
    await checkNewDelegationNames(tx.db, previous, targets, this.deps.reservedProjectNames ?? []);
    const stored = await storeTargetsVersion(tx.db, 'targets', targets);
    // Parsed already: with thousands of delegations tuf-js takes seconds to read it again, and the
    // next upload would pay for it. Keyed by digest, so a rolled-back version is never taken.
    this.deps.current.remember('targets', targets, stored.published.file!.sha256);
    await appendAudit(tx.db, {
      actor,
      action: 'targets.accepted',
      role: 'targets',
      version: targets.version,
      details: { signedBy: targets.envelope.signatures.map((s) => s.keyid), targets: stored.records.length },
    });
    await approveDelegatedRegistrations(tx.db, 'targets', targets);
    await reviewDelegations(tx.db, 'targets', previous, targets, this.deps.verifier);
    return tx.announce(stored.published);
  }

  private delegatedDeps() {
    return {
      current: this.deps.current,
      verifier: this.deps.verifier,
      now: this.deps.clock.now(),
      reservedProjectNames: this.deps.reservedProjectNames ?? [],
    };
  }

  /**
   * Root v1 and targets v1 from the key ceremony, with v1 of every bin targets delegates to in the
   * layered layout; then snapshot v1 and timestamp v1.
   */
  async bootstrap(
    rootJson: unknown,
    targetsJson: unknown,
    actor: string,
    delegatedJson: DelegatedSubmission = new Map(),
  ): Promise<SubmitResult> {
    const root = parseMetadata(rootJson, 'root', 'root');
    const targets = parseMetadata(targetsJson, 'targets', 'targets');
    const delegated = parseDelegated(delegatedJson);
    const online = await this.deps.publication.signers.held();
    const published = await this.deps.publication.transaction('exclusive', async (tx) => {
      if (await getHead(tx.db, 'root'))
        throw new TufError('already_bootstrapped', 'the repository is already bootstrapped; submit new versions instead');
      const now = this.deps.clock.now();
      verifyRootUpdate(root, null, now, this.deps.verifier);
      checkOnlineKeys(root.model, online);
      verifyTargetsUpdate(targets, root, null, now, this.deps.verifier);
      return [
        ...(await this.storeRoot(tx, root, actor, { bootstrap: true })),
        ...(await this.storeTargets(tx, targets, actor)),
        ...(await admitDelegatedRoles(tx, targets, delegated, actor, this.delegatedDeps())),
        ...(await tx.signSnapshotAndTimestamp('bootstrap', root.model)),
      ];
    });
    return { published };
  }

  /**
   * Root N+1, signed by the thresholds of root N and of itself, naming online keys the server
   * holds. When it changes the targets keys so that the current targets no longer verifies, the
   * re-signed targets N+1 must come with it; when it changes the online keys, snapshot and
   * timestamp are re-signed with the new ones. All in one transaction: no client ever sees a root
   * without metadata its keys verify.
   */
  async submitRoot(rootJson: unknown, actor: string, targetsJson?: unknown): Promise<SubmitResult> {
    const candidate = parseMetadata(rootJson, 'root', 'root');
    const targets = targetsJson === undefined ? null : parseMetadata(targetsJson, 'targets', 'targets');
    const online = await this.deps.publication.signers.held();
    const published = await this.deps.publication.transaction('exclusive', async (tx) => {
      const trusted = await this.deps.current.root(tx.db);
      if (!trusted) throw new TufError('not_bootstrapped', 'the repository is not bootstrapped yet');
      const now = this.deps.clock.now();
      verifyRootUpdate(candidate, trusted, now, this.deps.verifier);
      checkOnlineKeys(candidate.model, online);
      const currentTargets = await this.deps.current.targets(tx.db);
      if (targets) {
        verifyTargetsUpdate(targets, candidate, currentTargets?.version ?? null, now, this.deps.verifier);
      } else if (currentTargets && !sameRoleDelegation(trusted.model, candidate.model, 'targets')) {
        const still = checkThreshold(
          currentTargets.envelope.signatures,
          currentTargets.signedBytes,
          rootKeys(candidate.model),
          rootRole(candidate.model, 'targets'),
          this.deps.verifier,
        );
        if (!still.met) {
          throw new TufError(
            'targets_resign_required',
            `root v${candidate.version} changes the targets keys and targets v${currentTargets.version} does not verify under it: send targets v${currentTargets.version + 1} signed by the new keys together with this root`,
          );
        }
      }
      const out = await this.storeRoot(tx, candidate, actor);
      if (targets) out.push(...(await this.storeTargets(tx, targets, actor)));
      const onlineChanged =
        !sameRoleDelegation(trusted.model, candidate.model, 'snapshot') || !sameRoleDelegation(trusted.model, candidate.model, 'timestamp');
      if (targets || onlineChanged) {
        const reason = onlineChanged ? `root v${candidate.version} changed the online keys` : `targets v${targets!.version}`;
        out.push(...(await tx.signSnapshotAndTimestamp(reason, candidate.model)));
      }
      return out;
    });
    return { published };
  }

  /**
   * Top-level targets N+1, signed by root's targets threshold, with any bins it delegates anew or
   * differently (all in one transaction: no client sees a targets whose bins are missing);
   * publishes snapshot and timestamp with them.
   */
  async submitTargets(targetsJson: unknown, actor: string, delegatedJson: DelegatedSubmission = new Map()): Promise<SubmitResult> {
    const candidate = parseMetadata(targetsJson, 'targets', 'targets');
    const delegated = parseDelegated(delegatedJson);
    const published = await this.deps.publication.transaction('exclusive', async (tx) => {
      const root = await this.deps.current.root(tx.db);
      if (!root) throw new TufError('not_bootstrapped', 'the repository is not bootstrapped yet');
      const head = await getHead(tx.db, 'targets');
      verifyTargetsUpdate(candidate, root, head?.version ?? null, this.deps.clock.now(), this.deps.verifier);
      return [
        ...(await this.storeTargets(tx, candidate, actor)),
        ...(await admitDelegatedRoles(tx, candidate, delegated, actor, this.delegatedDeps())),
        ...(await tx.signSnapshotAndTimestamp(`targets v${candidate.version}`, root.model)),
      ];
    });
    return { published };
  }

  /** New versions of bins (an approval, a revocation, a re-sign before expiry), checked against the current top-level targets. */
  async submitDelegated(delegatedJson: DelegatedSubmission, actor: string): Promise<SubmitResult> {
    const delegated = parseDelegated(delegatedJson);
    if (delegated.size === 0) throw new TufError('malformed', 'no delegated role given');
    const published = await this.deps.publication.transaction('exclusive', async (tx) => {
      const top = await this.deps.current.targets(tx.db);
      if (!top) throw new TufError('not_bootstrapped', 'the repository is not bootstrapped yet');
      const stored = await admitDelegatedRoles(tx, top, delegated, actor, this.delegatedDeps());
      return [
        ...stored,
        ...(await tx.signSnapshotAndTimestamp(
          `${[...delegated.keys()].slice(0, 3).join(', ')}${delegated.size > 3 ? ` and ${delegated.size - 3} more` : ''}`,
        )),
      ];
    });
    return { published };
  }
}
