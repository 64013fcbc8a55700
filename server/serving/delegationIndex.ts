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

  constructor(private readonly cache: MetadataCache) {}

  /** The identity-signed delegations (projects), in name order. */
  async projects(): Promise<IndexedDelegation[]> {
    const out: IndexedDelegation[] = [];
    for (const delegator of ['targets', ...this.cache.roles().filter(isBinName).sort()]) {
      const head = this.cache.head(delegator);
      if (!head) continue;
      let known = this.parsed.get(delegator);
      if (!known || known.version !== head.version) {
        const file = await this.cache.get(`${head.version}.${delegator}.json`);
        if (!file) continue;
        known = { version: head.version, delegations: listDelegations(JSON.parse(file.bytes.toString('utf8'))) };
        this.parsed.set(delegator, known);
      }
      for (const d of known.delegations) if (d.maintainers.length > 0) out.push({ ...d, delegator });
    }
    return out.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }
}
