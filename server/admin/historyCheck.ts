// Verifies that the stored history is consistent with what was published: every stored version's
// bytes match their recorded hash, versions of each role run 1..head without gaps, every version
// verifies under the root (and delegation) in force when it was stored, every snapshot entry and
// timestamp entry resolves to stored bytes with the listed version, length and hash, every
// timestamp's TAP 16 `merkle_root` is the root of the tree over its snapshot's entries, and every
// version has its audit entry. Snapshot versions stored as deltas are rebuilt in order and checked
// against their recorded hash. Read-only; `tuf-server audit verify` runs it.
import type { Knex } from 'knex';
import { canonicalBytes, isPlainObject, sha256Hex } from '../../core/canonical.ts';
import { locateDelegation } from '../../core/delegate.ts';
import { TOP_LEVEL_ROLES } from '../../core/names.ts';
import { projectProbePaths } from '../../core/bins.ts';
import { parseMetadata, type Envelope, type ParsedMetadata } from '../../core/metadata.ts';
import { rootKeys, rootRole } from '../../core/updates.ts';
import { checkThreshold, type SignatureVerifier } from '../../core/verify.ts';
import type { RebuiltSnapshot } from '../../core/snapshotDelta.ts';
import { SnapshotMerkleTree } from '../../core/snapshotMerkle.ts';
import type { MetadataVersionRow } from '../db/rows.ts';
import { applySnapshotRows } from '../db/snapshotVersions.ts';

export interface HistoryProblem {
  role: string;
  version: number;
  problem: string;
}

export interface HistoryReport {
  versionsChecked: number;
  problems: HistoryProblem[];
}

const TOP = new Set<string>(TOP_LEVEL_ROLES);
// A Map: a role named "constructor" must not find Object.prototype's.
const AUDIT_ACTIONS = new Map<string, string[]>([
  ['root', ['root.accepted']],
  ['targets', ['targets.accepted']],
  ['snapshot', ['snapshot.signed']],
  ['timestamp', ['timestamp.signed']],
]);

export async function verifyHistory(knex: Knex, verifier: SignatureVerifier, batchSize = 500): Promise<HistoryReport> {
  const problems: HistoryProblem[] = [];
  const report = (role: string, version: number, problem: string) => problems.push({ role, version, problem });
  let root: ParsedMetadata<'root'> | null = null;
  let targets: ParsedMetadata<'targets'> | null = null;
  /** Delegated roles that delegate further (bins), latest version seen. */
  const delegating = new Map<string, ParsedMetadata<'targets'>>();
  /** role -> version -> {sha256, length}, for resolving snapshot and timestamp entries. */
  const stored = new Map<string, Map<number, { sha256: string; length: number }>>();
  const lastVersion = new Map<string, number>();
  const audited = new Set<string>();
  for (const a of await knex('audit_log').whereNotNull('role').whereNotNull('version').select('role', 'version', 'action')) {
    audited.add(`${a.role}\n${a.version}\n${a.action}`);
  }
  // Snapshot and timestamp versions skipped on purpose (a restore, a lost commit): recorded gaps.
  const jumps = new Set<string>();
  if (await knex.schema.hasTable('version_jumps'))
    for (const j of await knex('version_jumps').select('role', 'from_version', 'to_version'))
      jumps.add(`${j.role}\n${j.from_version}\n${j.to_version}`);
  let checked = 0;
  let afterId = '0';
  /** The last snapshot version rebuilt, and (once a timestamp carried a merkle_root) the tree over it. */
  let snapshot: RebuiltSnapshot | null = null;
  let tree: { version: number; tree: SnapshotMerkleTree } | null = null;
  let treesOn = false;
  for (;;) {
    const rows: MetadataVersionRow[] = await knex('metadata_versions').where('id', '>', afterId).orderBy('id').limit(batchSize);
    if (rows.length === 0) break;
    afterId = rows[rows.length - 1]!.id;
    for (const row of rows) {
      checked += 1;
      const { role, version } = row;
      let storedBytes: Buffer;
      if (role === 'snapshot') {
        try {
          snapshot = applySnapshotRows(snapshot?.version === version - 1 ? snapshot : null, [row]);
        } catch (err) {
          report(role, version, `cannot be rebuilt: ${(err as Error).message}`);
          snapshot = null;
          continue;
        }
        storedBytes = snapshot.bytes;
        if (treesOn) {
          const next: SnapshotMerkleTree =
            tree && snapshot.since === tree.version ? tree.tree.with(snapshot.changed) : SnapshotMerkleTree.build(snapshot.entries.texts());
          tree = { version, tree: next };
        }
      } else {
        storedBytes = row.bytes ?? Buffer.alloc(0);
      }
      if (sha256Hex(storedBytes) !== row.sha256 || storedBytes.length !== row.length)
        report(role, version, 'stored bytes do not match their recorded sha256/length');
      const previous = lastVersion.get(role) ?? 0;
      if (version !== previous + 1 && !jumps.has(`${role}\n${previous}\n${version}`))
        report(role, version, `follows version ${previous}: versions must run without gaps (or skip a range recorded in version_jumps)`);
      lastVersion.set(role, version);
      if (!stored.has(role)) stored.set(role, new Map());
      stored.get(role)!.set(version, { sha256: row.sha256, length: row.length });
      const actions = AUDIT_ACTIONS.get(role) ?? ['project.published', 'delegated.accepted'];
      if (!actions.some((a) => audited.has(`${role}\n${version}\n${a}`))) report(role, version, 'no audit entry records it');

      let doc: Envelope;
      try {
        doc = JSON.parse(storedBytes.toString('utf8')) as Envelope;
        if (!isPlainObject(doc) || !isPlainObject(doc.signed) || doc.signed.version !== version) throw new Error('version differs');
      } catch (err) {
        report(role, version, `stored bytes are not this version's metadata (${(err as Error).message})`);
        continue;
      }
      const bytes = canonicalBytes(doc.signed);
      if (role === 'root') {
        try {
          const parsed = parseMetadata(doc, 'root', `root v${version}`);
          const own = checkThreshold(doc.signatures, bytes, rootKeys(parsed.model), rootRole(parsed.model, 'root'), verifier);
          const prior = root ? checkThreshold(doc.signatures, bytes, rootKeys(root.model), rootRole(root.model, 'root'), verifier) : own;
          if (!own.met || !prior.met) report(role, version, 'not signed by the root thresholds of itself and of the previous root');
          root = parsed;
        } catch (err) {
          report(role, version, (err as Error).message);
        }
        continue;
      }
      if (!root) {
        report(role, version, 'stored before any root');
        continue;
      }
      if (role === 'targets' || role === 'snapshot' || role === 'timestamp') {
        const r = checkThreshold(doc.signatures, bytes, rootKeys(root.model), rootRole(root.model, role), verifier);
        if (!r.met) report(role, version, `not signed by the ${role} key(s) of root v${root.version}`);
      }
      if (role === 'targets') {
        try {
          targets = parseMetadata(doc, 'targets', `targets v${version}`);
        } catch (err) {
          report(role, version, (err as Error).message);
        }
      } else if (role === 'snapshot') {
        const meta = isPlainObject(doc.signed.meta) ? doc.signed.meta : {};
        for (const [file, entry] of Object.entries(meta)) {
          const name = file.replace(/\.json$/, '');
          // A version-only entry (length and hashes are optional in TUF) is checked by version alone.
          const e = entry as { version?: number; length?: number; hashes?: { sha256?: string } };
          const target = stored.get(name)?.get(Number(e.version));
          if (!target) report(role, version, `lists ${file} v${e.version}, which was not stored before it`);
          else if ((e.length !== undefined || e.hashes !== undefined) && (target.length !== e.length || target.sha256 !== e.hashes?.sha256))
            report(role, version, `lists ${file} v${e.version} with another hash or length than stored`);
        }
        if (!Object.hasOwn(meta, 'targets.json')) report(role, version, 'does not list targets.json');
      } else if (role === 'timestamp') {
        const e = (isPlainObject(doc.signed.meta) ? doc.signed.meta['snapshot.json'] : undefined) as
          { version?: number; length?: number; hashes?: { sha256?: string } } | undefined;
        const snap = e ? stored.get('snapshot')?.get(Number(e.version)) : undefined;
        if (!snap || snap.length !== e?.length || snap.sha256 !== e?.hashes?.sha256)
          report(role, version, 'its snapshot entry does not resolve to a stored snapshot with that hash and length');
        const merkleRoot = doc.signed.merkle_root;
        if (merkleRoot !== undefined) {
          // TAP 16: the root clients check each role's proof against must be the tree over the
          // very snapshot the timestamp names.
          if (!treesOn && snapshot && snapshot.version === e?.version) {
            treesOn = true;
            tree = { version: snapshot.version, tree: SnapshotMerkleTree.build(snapshot.entries.texts()) };
          }
          if (!tree || tree.version !== e?.version)
            report(role, version, `its merkle_root names snapshot v${e?.version}, whose tree could not be rebuilt`);
          else if (tree.tree.root.toString('hex') !== merkleRoot)
            report(role, version, `its merkle_root is not the root of the tree over snapshot v${e?.version}'s entries`);
        }
      } else if (!TOP.has(role)) {
        // Its delegator as of this point of the history: top-level targets, or a bin stored before.
        const delegation = targets
          ? await locateDelegation(role, targets.model, projectProbePaths(role), (r) => delegating.get(r)?.model ?? null)
          : null;
        if (!delegation) {
          report(role, version, 'stored while no targets version delegated it');
          continue;
        }
        const r = checkThreshold(doc.signatures, bytes, delegation.keys, delegation.role, verifier);
        if (!r.met) report(role, version, `not signed by the threshold of its delegation in ${delegation.delegator} (as stored before it)`);
        if (isPlainObject(doc.signed.delegations)) {
          try {
            delegating.set(role, parseMetadata(doc, 'targets', `${role} v${version}`));
          } catch (err) {
            report(role, version, (err as Error).message);
          }
        }
      }
    }
  }
  for (const head of await knex('role_heads').select('role', 'version')) {
    if (lastVersion.get(head.role) !== head.version)
      report(head.role, head.version, `role_heads says v${head.version}, stored history ends at v${lastVersion.get(head.role) ?? 0}`);
  }
  return { versionsChecked: checked, problems };
}
