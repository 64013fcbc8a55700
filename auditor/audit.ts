// One audit pass over a repository, by HTTP alone (core/snapshotAudit.ts decides; this fetches
// and keeps state). The state folder holds the trusted root, the last timestamp and the last
// snapshot this auditor checked: a pass starts from them, checks every snapshot version published
// since (not only the one the timestamp names now), and moves the state forward only when
// nothing was found, so a finding is found again by every later pass until someone looks.
import fs from 'node:fs';
import path from 'node:path';
import {
  changedEntries,
  checkMerkleRoot,
  checkProof,
  compareSnapshots,
  readSnapshot,
  treeOf,
  type AuditedSnapshot,
  type AuditFinding,
} from '../core/snapshotAudit.ts';
import type { SnapshotMerkleTree } from '../core/snapshotMerkle.ts';
import { isTrustError, TrustedSet, verifyLengthAndHashes } from '../core/trustedSet.ts';
import { classicKeyVerifier } from '../core/verify.ts';
import { writeFileAtomic } from '../platform/atomicFile.ts';
import { downloadBytes, isDownloadError, joinUrl } from '../client/download.ts';

export interface AuditOptions {
  /** The repository's metadata URL (…/metadata). */
  metadataUrl: string;
  stateDir: string;
  /** Proofs fetched and checked per pass: targets' and those of the roles that changed, up to this many. */
  proofsPerPass: number;
  timeoutMs: number;
  log: (line: string) => void;
}

export interface AuditReport {
  /** Snapshot versions checked in this pass. */
  checked: number[];
  roles: number;
  merkleRoot: 'matched' | 'none' | 'mismatch';
  proofsChecked: number;
  findings: AuditFinding[];
  /** Said when the timestamp keys changed: rollback is not judged across a replacement (TAP 16, fast-forward recovery). */
  restarted?: string;
}

interface AuditState {
  snapshotVersion: number;
  timestampKeyids: string[];
}

/** What a watching auditor keeps between passes: the tree of the last version, to update instead of rebuild. */
export interface HeldTree {
  version: number;
  tree: SnapshotMerkleTree;
}

const MAX_METADATA = 512 * 1024 * 1024;
const MAX_PROOF = 64 * 1024;

export class AuditError extends Error {
  constructor(
    readonly code: 'no_trusted_root' | 'unreachable' | 'refused',
    message: string,
  ) {
    super(message);
  }
}

export async function auditPass(opts: AuditOptions, held: { tree: HeldTree | null } = { tree: null }): Promise<AuditReport> {
  const file = (name: string) => path.join(opts.stateDir, name);
  const fetchBytes = async (name: string, max: number) => {
    try {
      return await downloadBytes(joinUrl(opts.metadataUrl, name), max, { timeoutMs: opts.timeoutMs });
    } catch (err) {
      if (isDownloadError(err, 'http_status')) throw err;
      throw new AuditError('unreachable', `${joinUrl(opts.metadataUrl, name)}: ${(err as Error).message}`);
    }
  };
  if (!fs.existsSync(file('root.json')))
    throw new AuditError('no_trusted_root', `no trusted root in ${opts.stateDir}: give --root ROOT.json`);
  const set = new TrustedSet(fs.readFileSync(file('root.json')));
  // TUF 5.3: follow root rotations, each verified by the previous root and itself.
  for (;;) {
    let bytes: Buffer;
    try {
      bytes = await fetchBytes(`${set.root.version + 1}.root.json`, 512_000);
    } catch (err) {
      if (isDownloadError(err, 'http_status') && (err.status === 404 || err.status === 403)) break;
      throw err;
    }
    set.updateRoot(bytes);
    writeFileAtomic(file('root.json'), bytes);
  }
  if (fs.existsSync(file('timestamp.json'))) {
    try {
      set.updateTimestamp(fs.readFileSync(file('timestamp.json')));
    } catch (err) {
      if (!isTrustError(err)) throw err; // keys rotated or expired: no floor from it
    }
  }
  const timestampBytes = await fetchBytes('timestamp.json', 16_384);
  try {
    set.updateTimestamp(timestampBytes); // TUF 5.4.2 - 5.4.4
  } catch (err) {
    if (!isTrustError(err, 'equal_version')) throw new AuditError('refused', `timestamp.json: ${(err as Error).message}`);
  }
  const ts = set.timestamp!;
  const timestampKeyids = [...set.root.roles.get('timestamp')!.keyids].sort();
  const state: AuditState | null = fs.existsSync(file('audit.json')) ? JSON.parse(fs.readFileSync(file('audit.json'), 'utf8')) : null;
  let previous: AuditedSnapshot | null =
    state && fs.existsSync(file('snapshot.json'))
      ? readSnapshot(fs.readFileSync(file('snapshot.json')), state.snapshotVersion, null, classicKeyVerifier)
      : null;
  const report: AuditReport = { checked: [], roles: 0, merkleRoot: 'none', proofsChecked: 0, findings: [] };
  if (previous && state && state.timestampKeyids.join() !== timestampKeyids.join()) {
    report.restarted = `the timestamp keys were replaced since snapshot v${previous.version}: versions are judged from snapshot v${ts.snapshotMeta.version} on (TAP 16 fast-forward recovery)`;
    previous = null;
  }
  const target = ts.snapshotMeta.version;
  const first = previous ? previous.version + 1 : target;
  let latest: AuditedSnapshot | null = previous;
  let latestBytes: Buffer | null = null;
  let lastChange: string[] = [];
  for (let v = first; v <= target; v++) {
    let bytes: Buffer;
    try {
      bytes = await fetchBytes(
        `${v}.snapshot.json`,
        v === target && ts.snapshotMeta.length !== null ? ts.snapshotMeta.length : MAX_METADATA,
      );
    } catch (err) {
      if (!isDownloadError(err)) throw err;
      report.findings.push({ kind: 'bad_snapshot', snapshotVersion: v, detail: `${v}.snapshot.json could not be fetched: ${err.message}` });
      break;
    }
    let next: AuditedSnapshot;
    try {
      if (v === target) verifyLengthAndHashes(ts.snapshotMeta, bytes, 'snapshot.json'); // TUF 5.5.2
      next = readSnapshot(bytes, v, set.root, classicKeyVerifier); // TUF 5.5.3
    } catch (err) {
      if (!isTrustError(err)) throw err;
      report.findings.push({ kind: 'bad_snapshot', snapshotVersion: v, detail: err.message });
      break;
    }
    report.checked.push(v);
    if (latest) {
      report.findings.push(...compareSnapshots(latest, next));
      lastChange = changedEntries(latest, next);
      if (held.tree && held.tree.version === latest.version) held.tree = { version: v, tree: held.tree.tree.with(lastChange) };
    }
    if (report.findings.length > 0) break;
    latest = next;
    latestBytes = bytes;
  }
  if (report.findings.length === 0 && latest && ts.merkleRoot !== undefined && latest.version === target) {
    if (!held.tree || held.tree.version !== target) held.tree = { version: target, tree: treeOf(latest) };
    const mismatch = checkMerkleRoot(latest, held.tree.tree, ts.merkleRoot);
    report.merkleRoot = mismatch ? 'mismatch' : 'matched';
    if (mismatch) report.findings.push(mismatch);
    else {
      const roles = [
        'targets',
        ...lastChange.map((t) => t.slice(1, t.indexOf('"', 1)).replace(/\.json$/, '')).filter((r) => r !== 'targets'),
      ];
      for (const role of roles.slice(0, opts.proofsPerPass)) {
        let proof: Buffer;
        try {
          proof = await fetchBytes(`snapshot-merkle/${target}/${encodeURIComponent(role)}.json`, MAX_PROOF);
        } catch (err) {
          if (!isDownloadError(err)) throw err;
          report.findings.push({
            kind: 'proof_mismatch',
            snapshotVersion: target,
            role,
            detail: `no proof of ${role}.json is served: ${err.message}`,
          });
          continue;
        }
        report.proofsChecked += 1;
        const problem = checkProof(proof, role, latest, ts.merkleRoot);
        if (problem) report.findings.push(problem);
      }
    }
  }
  report.roles = latest?.entries.size ?? 0;
  if (report.findings.length === 0 && latest) {
    if (latestBytes) writeFileAtomic(file('snapshot.json'), latestBytes);
    writeFileAtomic(file('timestamp.json'), timestampBytes);
    writeFileAtomic(file('audit.json'), JSON.stringify({ snapshotVersion: latest.version, timestampKeyids } satisfies AuditState));
  }
  for (const f of report.findings) opts.log(`FINDING ${f.kind}: ${f.detail}`);
  return report;
}
