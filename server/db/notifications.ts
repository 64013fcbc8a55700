// NOTIFY and LISTEN: how one server process tells the others what it published. A publishing
// transaction notifies before it commits; PostgreSQL delivers the message only if it commits.
// Each process tags its announcements with its origin and skips its own: it has already applied
// them, bytes included, before answering the request.
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import type { Logger } from 'pino';
import type { Db } from './knex.ts';

export const NOTIFY_CHANNEL = 'tuf_metadata';

export interface AnnouncedRole {
  role: string;
  version: number;
  /**
   * The version's expiry, so that a listener can take the new head without reading the version
   * (its bytes are read when first asked for). Absent in announcements of older servers.
   */
  expires?: Date;
}

/** What a publishing transaction hands over: the expiry may sit in the stored file's description. */
type Announceable = AnnouncedRole & { file?: { expires: Date } };

export interface Announcement {
  origin: string;
  published: AnnouncedRole[];
  /** Too much was published to list (a bootstrap with a thousand bins): read every head again. */
  reload?: true;
}

/** PostgreSQL refuses NOTIFY payloads of 8,000 bytes or more. */
const MAX_PAYLOAD_BYTES = 7_000;

export function encodeAnnouncement(origin: string, published: Announceable[]): string {
  const list = published.map(({ role, version, expires, file }) => {
    const e = expires ?? file?.expires;
    return e ? { role, version, expires: e.toISOString() } : { role, version };
  });
  const full = JSON.stringify({ origin, published: list });
  return Buffer.byteLength(full) <= MAX_PAYLOAD_BYTES
    ? full
    : JSON.stringify({ origin, published: [], reload: true } satisfies Announcement);
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
  const published: AnnouncedRole[] = [];
  for (const p of list) {
    if (typeof p?.role !== 'string' || !Number.isSafeInteger(p?.version)) return null;
    const expires = typeof p.expires === 'string' ? new Date(p.expires) : null;
    published.push({ role: p.role, version: p.version, ...(expires && !Number.isNaN(expires.getTime()) ? { expires } : {}) });
  }
  const reload = !Array.isArray(value) && (value as { reload?: unknown }).reload === true;
  return { origin, published, ...(reload ? { reload: true as const } : {}) };
}

/** Queues the announcement in the caller's transaction: delivered when (and only if) it commits. */
export async function notifyPublished(trx: Db, origin: string, published: Announceable[]): Promise<void> {
  await trx.raw('select pg_notify(?, ?)', [NOTIFY_CHANNEL, encodeAnnouncement(origin, published)]);
}

export interface AnnouncementListenerOptions {
  databaseUrl: string;
  /** Announcements tagged with this origin are skipped. */
  origin: string;
  log: Logger;
  onAnnouncement(published: AnnouncedRole[]): void;
  /**
   * Read everything again: after a dropped connection is back (whatever was announced meanwhile is
   * lost), or when an announcement was too large to list what it published.
   */
  onReconnected(): Promise<void>;
}

/** One LISTEN connection, reconnected (and followed by onReconnected) whenever it drops. */
export class AnnouncementListener {
  private client: pg.Client | null = null;
  private stopped = false;
  private reconnecting = false;

  constructor(private readonly opts: AnnouncementListenerOptions) {}

  async start(): Promise<void> {
    await this.connect();
  }

  private scheduleReconnect(): void {
    if (this.stopped || this.reconnecting) return;
    this.reconnecting = true;
    const attempt = async () => {
      if (this.stopped) return;
      try {
        await this.connect();
        this.reconnecting = false;
        await this.opts.onReconnected();
      } catch (err) {
        this.opts.log.warn({ err: String(err) }, 'metadata listener reconnect failed; retrying');
        setTimeout(() => void attempt(), 1000).unref();
      }
    };
    setTimeout(() => void attempt(), 200).unref();
  }

  private async connect(): Promise<void> {
    const client = new pg.Client({ connectionString: this.opts.databaseUrl, application_name: 'tuf-repository-listener' });
    const lost = (err?: Error) => {
      if (this.client !== client) return;
      this.client = null;
      this.opts.log.warn({ err: err ? String(err) : 'connection ended' }, 'metadata listener connection lost');
      client.end().catch(() => {});
      this.scheduleReconnect();
    };
    client.on('error', lost);
    client.on('end', () => lost());
    client.on('notification', (msg) => {
      if (msg.channel !== NOTIFY_CHANNEL || !msg.payload) return;
      const announcement = decodeAnnouncement(msg.payload);
      if (!announcement || announcement.origin === this.opts.origin) return;
      if (announcement.reload) {
        this.opts.onReconnected().catch((err) => this.opts.log.warn({ err: String(err) }, 'reload after a large announcement failed'));
        return;
      }
      this.opts.onAnnouncement(announcement.published);
    });
    try {
      await client.connect();
      await client.query(`listen ${NOTIFY_CHANNEL}`);
    } catch (err) {
      client.removeAllListeners('end');
      await client.end().catch(() => {});
      throw err;
    }
    this.client = client;
  }

  /**
   * Whether a notification sent by `send` (through another connection) reaches this listener
   * within `ms`. A LISTEN made through a pooler in transaction mode is lost with its session.
   */
  async proves(send: (payload: string) => Promise<void>, ms: number): Promise<boolean> {
    const client = this.client;
    if (!client) return false;
    const probe = JSON.stringify({ origin: this.opts.origin, probe: randomUUID() });
    const arrived = new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => done(false), ms);
      const onNotification = (msg: pg.Notification) => {
        if (msg.channel === NOTIFY_CHANNEL && msg.payload === probe) done(true);
      };
      function done(ok: boolean) {
        clearTimeout(timer);
        client!.off('notification', onNotification);
        resolve(ok);
      }
      client.on('notification', onNotification);
    });
    await send(probe);
    return arrived;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    const client = this.client;
    this.client = null;
    if (client) await client.end().catch(() => {});
  }
}
