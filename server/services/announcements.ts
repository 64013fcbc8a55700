// What a publishing transaction tells every server process (PostgreSQL NOTIFY, delivered on
// commit). Each repository instance tags its announcements with its origin and ignores its own:
// it has already applied them, bytes included, before answering the request.
import type { PublishedRole } from './publisher.ts';

export const NOTIFY_CHANNEL = 'tuf_metadata';

export interface Announcement {
  origin: string;
  published: PublishedRole[];
}

export function encodeAnnouncement(origin: string, published: PublishedRole[]): string {
  return JSON.stringify({ origin, published: published.map(({ role, version }) => ({ role, version })) } satisfies Announcement);
}

/** Null for anything that is not an announcement; a bare array is the form older servers send. */
export function decodeAnnouncement(payload: string): Announcement | null {
  let value: unknown;
  try {
    value = JSON.parse(payload);
  } catch {
    return null;
  }
  if (typeof value !== 'object' || value === null) return null;
  const list = Array.isArray(value) ? value : (value as { published?: unknown }).published;
  const origin = Array.isArray(value) ? '' : (value as { origin?: unknown }).origin;
  if (!Array.isArray(list) || typeof origin !== 'string') return null;
  const published: PublishedRole[] = [];
  for (const p of list) {
    if (typeof p?.role !== 'string' || !Number.isSafeInteger(p?.version)) return null;
    published.push({ role: p.role, version: p.version });
  }
  return { origin, published };
}
