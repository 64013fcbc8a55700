// TAP 16 auditing: with snapshot Merkle trees a client checks rollback only for the roles it
// fetches; an auditor checks every role. It follows successive snapshot versions and refuses, in
// this order, for each one: a snapshot not signed by root's snapshot keys (TUF 5.5.3), one whose
// version is not the one expected, a role listed before and missing now, a role whose version
// went down (TUF 5.5.5, for every role); and for the version the timestamp names, a merkle_root
// that is not the root of the tree over that snapshot's entries, and served proofs that do not
// give back the snapshot's entry. Pure: bytes in, findings out; auditor/ does the fetching.
import { canonicalBytes, isPlainObject, type JsonObject } from './canonical.ts';
import type { TufKey } from './keys.ts';
import { SnapshotMerkleTree, verifySnapshotProof } from './snapshotMerkle.ts';
import { parseEnvelope, parseSnapshot, type Envelope } from './trustedParse.ts';
import { isTrustError, TrustError, type TrustedRoot } from './trustedModel.ts';
import { checkThreshold, type SignatureVerifier } from './verify.ts';

export type AuditFindingKind =
  | 'rollback' // a role's version went down from one snapshot to the next
  | 'role_removed' // a role listed before is missing
  | 'merkle_root_mismatch' // the timestamp's merkle_root is not the tree over its snapshot
  | 'proof_mismatch' // a served proof does not verify, or gives another entry than the snapshot's
  | 'bad_snapshot'; // not signed by root's snapshot keys, not this version, or not a snapshot

export interface AuditFinding {
  kind: AuditFindingKind;
  snapshotVersion: number;
  role?: string;
  from?: number;
  to?: number;
  detail: string;
}

/** One snapshot version as the auditor keeps it: each role file's version and canonical entry text. */
export interface AuditedSnapshot {
  version: number;
  /** `ROLE.json` -> [version, entry text `"ROLE.json":{...}`]. */
  entries: Map<string, { version: number; text: string }>;
}

/**
 * TUF 5.5.3 and the snapshot's shape: the snapshot file of `version`. `root` null: a file this
 * auditor verified before and kept (its signature is not checked again: the keys may have rotated).
 */
export function readSnapshot(bytes: Uint8Array, version: number, root: TrustedRoot | null, verifier: SignatureVerifier): AuditedSnapshot {
  const env = parseEnvelope(bytes, 'snapshot', `${version}.snapshot.json`);
  if (root) verifySnapshotSignature(env, version, root, verifier);
  if (env.version !== version) throw new TrustError('bad_version', `${version}.snapshot.json holds version ${env.version}`);
  const parsed = parseSnapshot(env, `${version}.snapshot.json`);
  const meta = env.signed.meta as JsonObject;
  const entries = new Map<string, { version: number; text: string }>();
  for (const [name, info] of parsed.meta) {
    // The leaf TAP 16 hashes: canonical JSON of {NAME: ENTRY}, without its braces here.
    const text = canonicalBytes({ [name]: meta[name]! })
      .toString('utf8')
      .slice(1, -1);
    entries.set(name, { version: info.version, text });
  }
  return { version, entries };
}

function verifySnapshotSignature(env: Envelope, version: number, root: TrustedRoot, verifier: SignatureVerifier): void {
  const role = root.roles.get('snapshot')!;
  const keys: Record<string, TufKey> = Object.create(null) as Record<string, TufKey>;
  for (const keyid of role.keyids) {
    const key = root.keys.get(keyid);
    if (key) keys[keyid] = key;
  }
  const result = checkThreshold(env.signatures, env.signedBytes, keys, role, verifier);
  if (!result.met)
    throw new TrustError('threshold_not_met', `${version}.snapshot.json is not signed by root v${root.version}'s snapshot keys`);
}

/** Every role of `previous` still listed by `next`, at the same or a higher version (TUF 5.5.5 for all roles). */
export function compareSnapshots(previous: AuditedSnapshot, next: AuditedSnapshot): AuditFinding[] {
  const findings: AuditFinding[] = [];
  for (const [name, before] of previous.entries) {
    const after = next.entries.get(name);
    const role = name.replace(/\.json$/, '');
    if (!after) {
      findings.push({
        kind: 'role_removed',
        snapshotVersion: next.version,
        role,
        from: before.version,
        detail: `${name} (v${before.version} in snapshot v${previous.version}) is missing from snapshot v${next.version}`,
      });
    } else if (after.version < before.version) {
      findings.push({
        kind: 'rollback',
        snapshotVersion: next.version,
        role,
        from: before.version,
        to: after.version,
        detail: `${name} went from v${before.version} (snapshot v${previous.version}) down to v${after.version} (snapshot v${next.version})`,
      });
    }
  }
  return findings;
}

/** The entry texts that differ between two snapshots (what a tree of `previous` needs to become `next`'s). */
export function changedEntries(previous: AuditedSnapshot, next: AuditedSnapshot): string[] {
  const out: string[] = [];
  for (const [name, e] of next.entries) if (previous.entries.get(name)?.text !== e.text) out.push(e.text);
  return out;
}

export function treeOf(snapshot: AuditedSnapshot): SnapshotMerkleTree {
  return SnapshotMerkleTree.build([...snapshot.entries.values()].map((e) => e.text));
}

/** The timestamp's merkle_root against the tree over the snapshot it names. */
export function checkMerkleRoot(snapshot: AuditedSnapshot, tree: SnapshotMerkleTree, merkleRoot: string): AuditFinding | null {
  const root = tree.root.toString('hex');
  if (root === merkleRoot) return null;
  return {
    kind: 'merkle_root_mismatch',
    snapshotVersion: snapshot.version,
    detail: `the timestamp's merkle_root ${merkleRoot} is not the root of the tree over snapshot v${snapshot.version}'s entries (${root})`,
  };
}

/** A served proof of `role` in the tree `merkleRoot` names: it must verify and give back the snapshot's entry. */
export function checkProof(bytes: Uint8Array, role: string, snapshot: AuditedSnapshot, merkleRoot: string): AuditFinding | null {
  const name = `${role}.json`;
  const expected = snapshot.entries.get(name);
  const finding = (detail: string): AuditFinding => ({ kind: 'proof_mismatch', snapshotVersion: snapshot.version, role, detail });
  let doc: unknown;
  try {
    doc = JSON.parse(Buffer.from(bytes).toString('utf8'));
    verifySnapshotProof(doc, role, merkleRoot);
  } catch (err) {
    if (err instanceof SyntaxError || isTrustError(err))
      return finding(`the proof of ${name} in snapshot v${snapshot.version}: ${err.message}`);
    throw err;
  }
  const leaf = isPlainObject(doc) && isPlainObject(doc.leaf_contents) ? doc.leaf_contents : {};
  const text = canonicalBytes(leaf).toString('utf8').slice(1, -1);
  if (!expected || text !== expected.text)
    return finding(`the proof of ${name} gives ${text}, snapshot v${snapshot.version} lists ${expected?.text ?? 'nothing'}`);
  return null;
}
