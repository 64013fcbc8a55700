// Every delegation the published delegating roles make (top-level targets and the bins), from the
// metadata this process serves; a role is read again only when its version changes. What the
// console lists and the transparency monitor watches: all of it is in public metadata.
import { isBinName } from '../../core/bins.ts';
import { listDelegations, type ListedDelegation } from '../../core/delegationList.ts';
import type { MetadataCache } from './metadataCache.ts';

export interface IndexedDelegation extends ListedDelegation {
  /** The role that delegates it: 'targets' or a bin. */
  delegator: string;
}

export class DelegationIndex {
  private readonly parsed = new Map<string, { version: number; delegations: ListedDelegation[] }>();
  /** The last answer, and the role versions it was built from: a public list is not rebuilt per request. */
  private last: { key: string; projects: IndexedDelegation[] } | null = null;

  constructor(private readonly cache: MetadataCache) {}

  /** The identity-signed delegations (projects), in name order. */
  async projects(): Promise<IndexedDelegation[]> {
    const delegators = ['targets', ...this.cache.roles().filter(isBinName).sort()];
    const key = delegators.map((d) => `${d}@${this.cache.head(d)?.version ?? 0}`).join(',');
    if (this.last?.key === key) return this.last.projects;
    const out: IndexedDelegation[] = [];
    let complete = true;
    for (const delegator of delegators) {
      const head = this.cache.head(delegator);
      if (!head) continue;
      let known = this.parsed.get(delegator);
      if (!known || known.version !== head.version) {
        const file = await this.cache.get(`${head.version}.${delegator}.json`);
        if (!file) {
          complete = false;
          continue;
        }
        known = { version: head.version, delegations: listDelegations(JSON.parse(file.bytes.toString('utf8'))) };
        this.parsed.set(delegator, known);
      }
      for (const d of known.delegations) if (d.maintainers.length > 0) out.push({ ...d, delegator });
    }
    out.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    if (complete) this.last = { key, projects: out };
    return out;
  }
}
