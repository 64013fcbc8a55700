import { isBinName } from '../../core/bins.ts';
import type { Clock } from '../../core/clock.ts';
import type { MetadataCache } from './metadataCache.ts';

export interface OfflineExpiry {
  /** root, targets, or a bin of the layered layout. */
  role: string;
  version: number;
  expires: string;
  expiresInSeconds: number;
  /** Within the warning window: schedule a ceremony. */
  warning: boolean;
  expired: boolean;
}

/**
 * Root, targets and the bins are signed offline: they need a ceremony before they expire. Root and
 * targets are always listed; bins (a thousand of them) only once within the warning window.
 */
export function offlineExpiry(cache: MetadataCache, clock: Clock, warningSeconds: number): OfflineExpiry[] {
  const now = clock.now().getTime();
  const out: OfflineExpiry[] = [];
  const bins = cache.roles().filter(isBinName).sort();
  for (const role of ['root', 'targets', ...bins]) {
    const head = cache.head(role);
    if (!head) continue;
    const expiresInSeconds = Math.floor((head.expires.getTime() - now) / 1000);
    if (isBinName(role) && expiresInSeconds > warningSeconds) continue;
    out.push({
      role,
      version: head.version,
      expires: head.expires.toISOString(),
      expiresInSeconds,
      warning: expiresInSeconds <= warningSeconds,
      expired: expiresInSeconds <= 0,
    });
  }
  return out;
}
