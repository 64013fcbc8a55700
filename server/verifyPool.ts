// Signature verification on worker threads. A Sigstore verification (certificate chain, SCT,
// transparency log entry) costs a few milliseconds of CPU; on the main thread it was the largest
// part of an upload. Verdicts come back to the request, which records them in its memoized
// verifier (core/verify.ts): the threshold check itself stays synchronous and in core. A worker
// that cannot answer yields no verdict, and the main thread then verifies by itself.
import { Worker } from 'node:worker_threads';
import type { Logger } from 'pino';
import type { TufKey } from '../core/keys.ts';
import type { SignatureJson } from '../core/metadata.ts';

export interface VerifyRequest {
  id: number;
  key: TufKey;
  signature: SignatureJson;
  signedBytes: Uint8Array;
}

export interface VerifyResponse {
  id: number;
  verdict: boolean;
}

/** Verifies off the request path; null when it could not decide (the caller verifies itself). */
export interface AsyncSignatureVerifier {
  verify(key: TufKey, signature: SignatureJson, signedBytes: Uint8Array): Promise<boolean | null>;
}

interface Slot {
  worker: Worker | null;
  pending: Map<number, (verdict: boolean | null) => void>;
  /** When its worker last stopped: not restarted for a while, so a broken one is not respawned per request. */
  stoppedAt: number;
}

const RESTART_AFTER_MS = 10_000;

const WORKER_SCRIPT = new URL('./verifyWorker.mjs', import.meta.url);

export class WorkerVerifierPool implements AsyncSignatureVerifier {
  private readonly slots: Slot[];
  private nextId = 1;
  private closed = false;

  constructor(
    private readonly trustedRoot: unknown,
    size: number,
    private readonly log: Logger,
  ) {
    if (!Number.isInteger(size) || size < 1) throw new Error('a verifier pool needs at least one worker');
    this.slots = Array.from({ length: size }, () => ({ worker: null, pending: new Map(), stoppedAt: 0 }));
  }

  verify(key: TufKey, signature: SignatureJson, signedBytes: Uint8Array): Promise<boolean | null> {
    if (this.closed) return Promise.resolve(null);
    const now = Date.now();
    const usable = this.slots.filter((s) => s.worker || now - s.stoppedAt >= RESTART_AFTER_MS);
    if (usable.length === 0) return Promise.resolve(null);
    // The least busy worker; one that stopped is started again here.
    const slot = usable.reduce((a, b) => (b.pending.size < a.pending.size ? b : a));
    const worker = slot.worker ?? this.start(slot);
    const id = this.nextId++;
    return new Promise((resolve) => {
      slot.pending.set(id, resolve);
      try {
        worker.postMessage({ id, key, signature, signedBytes } satisfies VerifyRequest);
      } catch {
        // Could not be sent (not cloneable, worker gone): no verdict, the caller verifies itself.
        slot.pending.delete(id);
        resolve(null);
      }
    });
  }

  private start(slot: Slot): Worker {
    // No inherited options (profilers, loaders): the entry registers its own TypeScript loader.
    const worker = new Worker(WORKER_SCRIPT, { execArgv: [], workerData: { trustedRoot: this.trustedRoot } });
    worker.unref();
    const fail = (why: string) => {
      if (slot.worker !== worker) return;
      slot.worker = null;
      slot.stoppedAt = Date.now();
      if (!this.closed) this.log.warn({ why }, 'signature verification worker stopped; verifying on the main thread until it restarts');
      for (const resolve of slot.pending.values()) resolve(null);
      slot.pending.clear();
    };
    worker.on('message', (res: VerifyResponse) => {
      const resolve = slot.pending.get(res.id);
      if (!resolve) return;
      slot.pending.delete(res.id);
      resolve(typeof res.verdict === 'boolean' ? res.verdict : null);
    });
    worker.on('error', (err) => fail(String(err)));
    worker.on('exit', (code) => fail(`exit code ${code}`));
    slot.worker = worker;
    return worker;
  }

  async close(): Promise<void> {
    this.closed = true;
    await Promise.all(this.slots.map(async (slot) => {
      const w = slot.worker;
      slot.worker = null;
      for (const resolve of slot.pending.values()) resolve(null);
      slot.pending.clear();
      if (w) await w.terminate();
    }));
  }
}
