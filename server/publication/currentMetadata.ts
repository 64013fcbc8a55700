// The committed root and top-level targets, parsed, and who delegates a role. Parsing a targets
// role with thousands of delegations through tuf-js takes seconds, so parsed documents are kept,
// keyed by version *and* digest: a version parsed inside a transaction that rolled back must never
// be mistaken for a committed one.
import { locateDelegation, type Delegation } from '../../core/delegate.ts';
import { parseMetadata, type ParsedMetadata } from '../../core/metadata.ts';
import type { Db } from '../db/knex.ts';
import { getHead, getHeadDigest, getMetadataVersion } from '../db/metadataRepo.ts';

type Parsed = ParsedMetadata<'root' | 'targets'>;

export class CurrentMetadata {
  private readonly parsed = new Map<string, { version: number; sha256: string; doc: Parsed }>();

  constructor(private readonly db: Db) {}

  private async load<T extends 'root' | 'targets'>(db: Db, role: T): Promise<ParsedMetadata<T> | null> {
    const head = await getHeadDigest(db, role);
    if (!head) return null;
    const cached = this.parsed.get(role);
    if (cached && cached.version === head.version && cached.sha256 === head.sha256) return cached.doc as ParsedMetadata<T>;
    const row = await getMetadataVersion(db, role, head.version);
    if (!row) throw new Error(`${role} head v${head.version} has no stored bytes`);
    const doc = parseMetadata(JSON.parse(row.bytes.toString('utf8')), role, `stored ${role} v${head.version}`);
    this.parsed.set(role, { version: head.version, sha256: row.sha256, doc });
    return doc;
  }

  /** The current root, parsed (read inside `db` when given: a caller's transaction). */
  root(db: Db = this.db): Promise<ParsedMetadata<'root'> | null> {
    return this.load(db, 'root');
  }

  /** The current top-level targets, parsed. */
  targets(db: Db = this.db): Promise<ParsedMetadata<'targets'> | null> {
    return this.load(db, 'targets');
  }

  /** Keeps a document the caller has just stored in `sha256`'s bytes (it is already parsed). */
  remember(doc: Parsed, sha256: string): void {
    this.parsed.set(doc.type, { version: doc.version, sha256, doc });
  }

  async isBootstrapped(db: Db = this.db): Promise<boolean> {
    return (await getHead(db, 'root')) !== undefined;
  }

  /**
   * Who delegates `role`, and how, found by walking delegations from top-level targets; null
   * before bootstrap (no targets yet), `delegation: null` when nothing delegates it. Project roles
   * may not delegate further (uploads with delegations are refused), so only top-level targets is
   * walked into (the loader below finds no further delegator).
   */
  async delegationOf(db: Db, role: string): Promise<{ delegation: Delegation | null } | null> {
    const targets = await this.targets(db);
    if (!targets) return null;
    return { delegation: locateDelegation(role, targets.model, () => null) };
  }
}
