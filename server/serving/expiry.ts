import type { Clock } from '../../core/clock.ts';
import type { MetadataCache } from './metadataCache.ts';

export interface OfflineExpiry {
  role: 'root' | 'targets';
  version: number;
  expires: string;
  expiresInSeconds: number;
  /** Within the warning window: schedule a ceremony. */
  warning: boolean;
  expired: boolean;
}

/** Root and targets are signed offline: they need a ceremony before they expire. */
export function offlineExpiry(cache: MetadataCache, clock: Clock, warningSeconds: number): OfflineExpiry[] {
  const now = clock.now().getTime();
  const out: OfflineExpiry[] = [];
  for (const role of ['root', 'targets'] as const) {
    const head = cache.head(role);
    if (!head) continue;
    const expiresInSeconds = Math.floor((head.expires.getTime() - now) / 1000);
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
