// The committed root, top-level targets and delegating roles (bins), parsed, and who delegates a
// role. Parsing a targets role with thousands of delegations through tuf-js takes seconds, so
// parsed documents are kept, keyed by version *and* digest: a version parsed inside a transaction
// that rolled back must never be mistaken for a committed one. Root and top-level targets stay;
// bins are kept up to a count (a parsed bin of a million-project repository holds about 0.4 MB,
// and there are 4,096 of them), least recently used first out.
import { projectProbePaths } from '../../core/bins.ts';
import { locateDelegation, type Delegation } from '../../core/delegate.ts';
import { parseMetadata, type ParsedMetadata } from '../../core/metadata.ts';
import type { Db } from '../db/knex.ts';
import { getHead, getHeadDigest, getMetadataVersion, wholeBytes } from '../db/metadataRepo.ts';
import type { BasisDocument } from '../db/roleCommit.ts';

type Parsed = ParsedMetadata<'root' | 'targets'>;
type Entry = { version: number; sha256: string; doc: Parsed };

/** Delegations found in memory, kept while the documents they came from stay the ones held. */
const KNOWN_DELEGATIONS_KEPT = 16_384;

const ALWAYS_KEPT = new Set(['root', 'targets']);

export class CurrentMetadata {
  /** In use order, least recent first (a Map iterates in insertion order). */
  private readonly parsed = new Map<string, Entry>();
  /** knownDelegation's answers, with the entries of `parsed` each was found in. */
  private readonly known = new Map<string, { entries: [string, Entry][]; delegation: Delegation | null }>();

  constructor(
    private readonly db: Db,
    /** PARSED_BINS_CACHED: how many delegating roles (bins) stay parsed. */
    private readonly maxDelegatedRoles = 1024,
  ) {}

  private keep(role: string, entry: Entry): void {
    this.parsed.delete(role);
    this.parsed.set(role, entry);
    let over = this.parsed.size - this.maxDelegatedRoles - [...ALWAYS_KEPT].filter((r) => this.parsed.has(r)).length;
    for (const name of this.parsed.keys()) {
      if (over <= 0) return;
      if (ALWAYS_KEPT.has(name)) continue;
      this.parsed.delete(name);
      over -= 1;
    }
  }

  private async load<T extends 'root' | 'targets'>(db: Db, role: string, type: T): Promise<ParsedMetadata<T> | null> {
    const head = await getHeadDigest(db, role);
    if (!head) return null;
    const cached = this.parsed.get(role);
    if (cached && cached.version === head.version && cached.sha256 === head.sha256) {
      this.keep(role, cached);
      return cached.doc as ParsedMetadata<T>;
    }
    const row = await getMetadataVersion(db, role, head.version);
    if (!row) throw new Error(`${role} head v${head.version} has no stored bytes`);
    const doc = parseMetadata(JSON.parse(wholeBytes(row).toString('utf8')), type, `stored ${role} v${head.version}`);
    this.keep(role, { version: head.version, sha256: row.sha256, doc });
    return doc;
  }

  /** The current root, parsed (read inside `db` when given: a caller's transaction). */
  root(db: Db = this.db): Promise<ParsedMetadata<'root'> | null> {
    return this.load(db, 'root', 'root');
  }

  /** The current top-level targets, parsed. */
  targets(db: Db = this.db): Promise<ParsedMetadata<'targets'> | null> {
    return this.load(db, 'targets', 'targets');
  }

  /** The current version of a delegated targets role (a bin), parsed; null when none is stored. */
  delegated(db: Db, role: string): Promise<ParsedMetadata<'targets'> | null> {
    return this.load(db, role, 'targets');
  }

  /** Keeps a document the caller has just stored as `role` in `sha256`'s bytes (it is already parsed). */
  remember(role: string, doc: Parsed, sha256: string): void {
    this.keep(role, { version: doc.version, sha256, doc });
  }

  /**
   * Who delegates project role `role`, from the documents this process holds parsed, without a
   * query; null when a document the walk needs is not held (then ask `delegationOf`). The answer
   * may be stale: `basis` names each document it rests on, and a commit that uses it must check
   * they are still the heads (db/roleCommit.ts does, under the locks).
   */
  async knownDelegation(role: string): Promise<{ delegation: Delegation | null; basis: BasisDocument[] } | null> {
    const basisOf = (entries: [string, Entry][]) => entries.map(([name, e]) => ({ role: name, version: e.version, sha256: e.sha256 }));
    const memo = this.known.get(role);
    if (memo && memo.entries.every(([name, entry]) => this.parsed.get(name) === entry)) {
      this.known.delete(role);
      this.known.set(role, memo);
      return { delegation: memo.delegation, basis: basisOf(memo.entries) };
    }
    const top = this.parsed.get('targets');
    if (!top || top.doc.type !== 'targets') return null;
    const entries: [string, Entry][] = [['targets', top]];
    let missing = false;
    const delegation = await locateDelegation(role, (top.doc as ParsedMetadata<'targets'>).model, projectProbePaths(role), (child) => {
      const entry = this.parsed.get(child);
      if (!entry || entry.doc.type !== 'targets') {
        missing = true;
        return null;
      }
      entries.push([child, entry]);
      return (entry.doc as ParsedMetadata<'targets'>).model;
    });
    if (missing) return null;
    this.known.set(role, { entries, delegation });
    if (this.known.size > KNOWN_DELEGATIONS_KEPT) this.known.delete(this.known.keys().next().value!);
    return { delegation, basis: basisOf(entries) };
  }

  async isBootstrapped(db: Db = this.db): Promise<boolean> {
    return (await getHead(db, 'root')) !== undefined;
  }

  /**
   * Who delegates project role `role`, and how: found by walking delegations from top-level
   * targets into the roles (bins) that delegate the project's paths. Null before bootstrap (no
   * targets yet); `delegation: null` when nothing delegates it.
   */
  async delegationOf(db: Db, role: string): Promise<{ delegation: Delegation | null } | null> {
    const found = await this.delegationsOf(db, [role]);
    return found && { delegation: found.get(role) ?? null };
  }

  /**
   * The same for several roles at once, reading top-level targets and each bin once however many
   * of the roles fall in it. Null before bootstrap; roles nothing delegates are absent.
   */
  async delegationsOf(db: Db, roles: string[]): Promise<Map<string, Delegation> | null> {
    const targets = await this.targets(db);
    if (!targets) return null;
    const loaded = new Map<string, Promise<ParsedMetadata<'targets'> | null>>();
    const load = async (child: string) => {
      if (!loaded.has(child)) loaded.set(child, this.delegated(db, child));
      return (await loaded.get(child))?.model ?? null;
    };
    const out = new Map<string, Delegation>();
    for (const role of roles) {
      const found = await locateDelegation(role, targets.model, projectProbePaths(role), load);
      if (found) out.set(role, found);
    }
    return out;
  }
}
