// The expiry of what tuf-offline writes. An edit (edit-root, edit-targets, delegate, undelegate,
// the top-level targets of migrate-to-bins) keeps the expiry of the version it edits: changing a
// key or a delegation is no reason to move it. A renewal (bump-root, bump-bins) and a new document
// (init-*, the bins migrate-to-bins creates) get a fresh one. --expires-days always wins. An edit
// of a version that has expired or expires within RENEW_WITHIN_DAYS gets a fresh one too: keeping
// it would write a document the server refuses (expired) or warns about at once. Every command
// prints the expiry it set and why (`describeExpiry`).
import type { JsonObject } from '../core/canonical.ts';
import { DAY_SECONDS } from '../core/ceremony.ts';
import { expiresAfter, isTufDateTime } from '../core/metadata.ts';
import { usage } from '../platform/cli.ts';

/** An edit of a version with less than this left renews the expiry instead of keeping it. */
export const RENEW_WITHIN_DAYS = 30;

export interface Expiry {
  expires: string;
  /** Why this expiry, for the output: "kept from v4", "--expires-days 90", … */
  why: string;
}

export type ExpiryMode = 'edit' | 'renewal' | 'new';

export interface ExpiryRule {
  now: Date;
  /** --expires-days, when given. */
  days: number | undefined;
  /** The default lifetime of this kind of document. */
  defaultSeconds: number;
  mode: ExpiryMode;
}

/** --expires-days: a positive whole number of days, or undefined when not given. */
export function expiresDaysOption(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  if (!/^\d{1,6}$/.test(value) || Number(value) < 1) usage('--expires-days must be a positive integer');
  return Number(value);
}

/** The expiry of the next version of `current` (the version edited or renewed; none for a new document). */
export function chooseExpiry(rule: ExpiryRule, current?: { expires?: unknown; version?: unknown }): Expiry {
  const defaultDays = Math.round(rule.defaultSeconds / DAY_SECONDS);
  const fresh = (why: string): Expiry => ({
    expires: expiresAfter(rule.now, rule.defaultSeconds),
    why: `${why}the default ${defaultDays} days from now; --expires-days D to choose`,
  });
  if (rule.days !== undefined) return { expires: expiresAfter(rule.now, rule.days * DAY_SECONDS), why: `--expires-days ${rule.days}` };
  if (rule.mode === 'renewal') return fresh('a renewal: ');
  if (rule.mode === 'new') return fresh('a new document: ');
  const version = typeof current?.version === 'number' ? `v${current.version}` : 'the current version';
  const expires = current?.expires;
  if (!isTufDateTime(expires)) return fresh(`${version} has no valid expiry, so `);
  const left = Date.parse(expires) - rule.now.getTime();
  if (left <= 0) return fresh(`${version} expired at ${expires}, so renewed to `);
  if (left < RENEW_WITHIN_DAYS * DAY_SECONDS * 1000)
    return fresh(`${version} expires at ${expires}, less than ${RENEW_WITHIN_DAYS} days from now, so renewed to `);
  return { expires, why: `kept from ${version}; --expires-days D sets a new one` };
}

/** One line for the output: `expires 2027-03-01T12:00:00Z (kept from v4; --expires-days D sets a new one)`. */
export function describeExpiry(expiry: Expiry): string {
  return `expires ${expiry.expires} (${expiry.why})`;
}

/** `signed` with the expiry chosen. */
export function withExpiry(signed: JsonObject, expiry: Expiry): JsonObject {
  return { ...signed, expires: expiry.expires };
}
