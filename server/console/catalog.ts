// The read-only catalog the console shows: the top-level roles and bins at a glance, the delegated
// projects, and each project's published versions with who signed them. Everything here is
// computed from published metadata (the bytes /metadata/ serves), so it exposes nothing new.
import { isBinName } from '../../core/bins.ts';
import { isPlainObject } from '../../core/canonical.ts';
import type { Clock } from '../../core/clock.ts';
import type { ProjectHistoryJson, ProjectListJson, RepositoryOverviewJson, RoleSummaryJson } from '../../core/consoleApi.ts';
import { bundleEvidence } from '../../core/rekorEntry.ts';
import type { Knex } from 'knex';
import { roleVersionsBefore } from '../db/consoleRepo.ts';
import type { DelegationIndex } from '../serving/delegationIndex.ts';
import type { MetadataCache } from '../serving/metadataCache.ts';

export interface CatalogDeps {
  knex: Knex;
  cache: MetadataCache;
  delegations: DelegationIndex;
  clock: Clock;
  expiryWarningSeconds: number;
}

type Doc = { signed: Record<string, unknown>; signatures: { keyid?: unknown }[] };

/** Keys and threshold of a role as its delegator states them. */
type RoleKeys = { keyids: string[]; threshold: number } | null;

function roleKeysOf(roles: unknown, name: string): RoleKeys {
  // root's "roles" is an object by name; a delegation's "roles" a list of {name, keyids, threshold}.
  const entry = Array.isArray(roles)
    ? roles.find((r) => isPlainObject(r) && r.name === name)
    : isPlainObject(roles) && Object.hasOwn(roles, name)
      ? roles[name]
      : undefined;
  if (!isPlainObject(entry) || !Array.isArray(entry.keyids) || typeof entry.threshold !== 'number') return null;
  return { keyids: entry.keyids.filter((k): k is string => typeof k === 'string'), threshold: entry.threshold };
}

export class Catalog {
  constructor(private readonly deps: CatalogDeps) {}

  private async current(role: string): Promise<Doc | null> {
    const head = this.deps.cache.head(role);
    if (!head) return null;
    const file =
      role === 'timestamp' ? await this.deps.cache.get('timestamp.json') : await this.deps.cache.get(`${head.version}.${role}.json`);
    return file ? (JSON.parse(file.bytes.toString('utf8')) as Doc) : null;
  }

  private summary(role: string, doc: Doc, keys: RoleKeys, offline: boolean, now: number): RoleSummaryJson {
    const expires = String(doc.signed.expires);
    const present = new Set(doc.signatures.map((s) => String(s.keyid)).filter((k) => keys?.keyids.includes(k)));
    return {
      role,
      version: Number(doc.signed.version),
      expires,
      expiresInSeconds: Math.floor((Date.parse(expires) - now) / 1000),
      signatures: present.size,
      threshold: keys?.threshold ?? null,
      keys: keys?.keyids.length ?? null,
      offline,
    };
  }

  async overview(): Promise<RepositoryOverviewJson> {
    const now = this.deps.clock.now().getTime();
    const root = await this.current('root');
    const rootRoles = root?.signed.roles;
    const roles: RoleSummaryJson[] = [];
    for (const role of ['root', 'targets', 'snapshot', 'timestamp']) {
      const doc = await this.current(role);
      if (doc) roles.push(this.summary(role, doc, roleKeysOf(rootRoles, role), role === 'root' || role === 'targets', now));
    }
    const targets = await this.current('targets');
    const binRoles = isPlainObject(targets?.signed.delegations) ? targets.signed.delegations.roles : undefined;
    const bins: RoleSummaryJson[] = [];
    for (const bin of this.deps.cache.roles().filter(isBinName)) {
      const head = this.deps.cache.head(bin)!;
      const expiresInSeconds = Math.floor((head.expires.getTime() - now) / 1000);
      bins.push({
        role: bin,
        version: head.version,
        expires: head.expires.toISOString(),
        expiresInSeconds,
        signatures: 0,
        threshold: null,
        keys: null,
        offline: true,
      });
    }
    bins.sort((a, b) => a.expiresInSeconds - b.expiresInSeconds);
    // Signatures are counted for the bins shown only: reading a thousand bins for a count is not worth it.
    const soonest: RoleSummaryJson[] = [];
    for (const b of bins.slice(0, 5)) {
      const doc = await this.current(b.role);
      if (doc) soonest.push(this.summary(b.role, doc, roleKeysOf(binRoles, b.role), true, now));
    }
    const keys = isPlainObject(root?.signed.keys) ? root.signed.keys : {};
    const onlineKeys: RepositoryOverviewJson['onlineKeys'] = [];
    for (const role of ['snapshot', 'timestamp'] as const) {
      for (const keyid of roleKeysOf(rootRoles, role)?.keyids ?? []) {
        const key = Object.hasOwn(keys, keyid) ? keys[keyid] : undefined;
        if (isPlainObject(key)) onlineKeys.push({ role, keyid, keytype: String(key.keytype), scheme: String(key.scheme) });
      }
    }
    const warning = this.deps.expiryWarningSeconds;
    return {
      now: new Date(now).toISOString(),
      expiryWarningSeconds: warning,
      roles,
      bins: {
        count: bins.length,
        expiringSoon: bins.filter((b) => b.expiresInSeconds > 0 && b.expiresInSeconds <= warning).length,
        expired: bins.filter((b) => b.expiresInSeconds <= 0).length,
        soonest,
      },
      onlineKeys,
    };
  }

  /** Projects whose name contains `query` (case-insensitive), in name order, `limit` after the name `after`. */
  async projects(query: string, limit: number, after: string | null): Promise<ProjectListJson> {
    const q = query.toLowerCase();
    const matching = (await this.deps.delegations.projects()).filter((d) => d.name.toLowerCase().includes(q));
    const start = after === null ? 0 : matching.findIndex((d) => d.name > after);
    const page = start < 0 ? [] : matching.slice(start, start + limit);
    const last = page[page.length - 1];
    return {
      total: matching.length,
      projects: page.map((d) => {
        const head = this.deps.cache.head(d.name);
        return {
          project: d.name,
          delegator: d.delegator,
          threshold: d.threshold,
          maintainers: d.maintainers,
          version: head?.version ?? null,
          expires: head?.expires.toISOString() ?? null,
        };
      }),
      next: last && start + limit < matching.length ? last.name : null,
    };
  }

  /** Published versions of a project role, newest first, each with the identities its certificates name. */
  async history(project: string, before: number | null, limit: number): Promise<ProjectHistoryJson> {
    const rows = await roleVersionsBefore(this.deps.knex, project, before, limit + 1);
    // Project roles are always stored whole (only snapshot versions are deltas).
    const versions = rows.slice(0, limit).map((r) => {
      const doc = JSON.parse((r.bytes ?? Buffer.from('{"signed":{}}')).toString('utf8')) as Doc;
      const targets = isPlainObject(doc.signed.targets) ? doc.signed.targets : {};
      return {
        version: r.version,
        publishedAt: r.created_at.toISOString(),
        expires: r.expires.toISOString(),
        targets: Object.entries(targets).map(([path, t]) => ({ path, length: isPlainObject(t) ? Number(t.length) : 0 })),
        signatures: doc.signatures.map((s) => {
          const ev = bundleEvidence(s);
          return { keyid: String(s.keyid), identity: ev?.identity ?? null, issuer: ev?.issuer ?? null, logIndex: ev?.logIndex ?? null };
        }),
      };
    });
    return { project, versions, next: rows.length > limit ? versions[versions.length - 1]!.version : null };
  }
}
