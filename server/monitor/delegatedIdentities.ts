// Who the monitor watches: every identity (and issuer) that a delegation of top-level targets or of
// a bin names, with the projects it is delegated (serving/delegationIndex.ts reads them).
import type { DelegationIndex } from '../serving/delegationIndex.ts';

export interface WatchedIdentity {
  identity: string;
  issuer: string;
  projects: string[];
}

/** Map key of an identity at an issuer. */
export const identityKeyOf = (identity: string, issuer: string) => `${issuer}\n${identity}`;

export async function delegatedIdentities(index: DelegationIndex): Promise<Map<string, WatchedIdentity>> {
  const out = new Map<string, WatchedIdentity>();
  for (const d of await index.projects()) {
    for (const m of d.maintainers) {
      const k = identityKeyOf(m.identity, m.issuer);
      let w = out.get(k);
      if (!w) out.set(k, (w = { identity: m.identity, issuer: m.issuer, projects: [] }));
      if (!w.projects.includes(d.name)) w.projects.push(d.name);
    }
  }
  return out;
}
