// Signature verification on worker threads. A Sigstore verification (certificate chain, SCT,
// transparency log entry) costs a few milliseconds of CPU; on the main thread it was the largest
// part of an upload. Verdicts come back to the request, which records them in its memoized
// verifier (core/verify.ts): the threshold check itself stays synchronous and in core. A worker
// that cannot answer yields no verdict, and the main thread then verifies by itself.
// The same workers parse large request bodies (`run`, http/bodyTasks.ts): there a missing answer
// is not made up for on the main thread, the request is refused (503) instead.
import { Worker } from 'node:worker_threads';
import type { Logger } from 'pino';
import type { TufKey } from '../core/keys.ts';
import type { SignatureJson } from '../core/metadata.ts';
import type { BodyTask, BodyTaskResult } from './http/bodyTasks.ts';

export interface VerifyRequest {
  id: number;
  kind?: 'verify';
  key: TufKey;
  signature: SignatureJson;
  signedBytes: Uint8Array;
}

export interface VerifyResponse {
  id: number;
  verdict: boolean;
}

/** Parsing a request body off the event loop (server/http/bodyTasks.ts says what each task does). */
export interface BodyTaskRequest {
  id: number;
  kind: 'body';
  task: BodyTask;
}

export interface BodyTaskResponse {
  id: number;
  result: BodyTaskResult;
  /** The task's bytes, handed back (moved, not copied). */
  bytes: Uint8Array;
}

/**
 * Runs body tasks on worker threads; null when no worker could (the caller must not fall back to
 * the event loop for a large body). The task's bytes move to the worker and back rather than being
 * copied: use the returned `bytes` afterwards, the ones given may be detached.
 */
export interface BodyTaskRunner {
  run(task: BodyTask): Promise<{ result: BodyTaskResult; bytes: Uint8Array } | null>;
}

/** Whether `bytes` alone owns its memory, so that it can move to another thread without a copy. */
function movable(bytes: Uint8Array): boolean {
  return bytes.buffer instanceof ArrayBuffer && bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength;
}

/** Verifies off the request path; null when it could not decide (the caller verifies itself). */
export interface AsyncSignatureVerifier {
  verify(key: TufKey, signature: SignatureJson, signedBytes: Uint8Array): Promise<boolean | null>;
}

interface Slot {
  worker: Worker | null;
  /** Called with the worker's answer, or null when there is none. */
  pending: Map<number, (response: VerifyResponse | BodyTaskResponse | null) => void>;
  /** When its worker last stopped: not restarted for a while, so a broken one is not respawned per request. */
  stoppedAt: number;
}

const RESTART_AFTER_MS = 10_000;

const WORKER_SCRIPT = new URL('./verifyWorker.mjs', import.meta.url);

export class WorkerVerifierPool implements AsyncSignatureVerifier, BodyTaskRunner {
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

  async verify(key: TufKey, signature: SignatureJson, signedBytes: Uint8Array): Promise<boolean | null> {
    const response = await this.send((id) => ({ id, key, signature, signedBytes }) satisfies VerifyRequest);
    return response && 'verdict' in response && typeof response.verdict === 'boolean' ? response.verdict : null;
  }

  async run(task: BodyTask): Promise<{ result: BodyTaskResult; bytes: Uint8Array } | null> {
    // A body large enough for a worker is a buffer of its own (http/body.ts): moved, not copied.
    const transfer = movable(task.bytes) ? [task.bytes.buffer as ArrayBuffer] : [];
    const response = await this.send((id) => ({ id, kind: 'body', task }) satisfies BodyTaskRequest, transfer);
    return response && 'result' in response && typeof response.result?.ok === 'boolean'
      ? { result: response.result, bytes: response.bytes }
      : null;
  }

  private send(
    message: (id: number) => VerifyRequest | BodyTaskRequest,
    transfer: ArrayBuffer[] = [],
  ): Promise<VerifyResponse | BodyTaskResponse | null> {
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
        worker.postMessage(message(id), transfer);
      } catch {
        // Could not be sent (not cloneable, worker gone): no answer; the caller decides.
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
    worker.on('message', (res: VerifyResponse | BodyTaskResponse) => {
      const resolve = slot.pending.get(res.id);
      if (!resolve) return;
      slot.pending.delete(res.id);
      resolve(res);
    });
    worker.on('error', (err) => fail(String(err)));
    worker.on('exit', (code) => fail(`exit code ${code}`));
    slot.worker = worker;
    return worker;
  }

  async close(): Promise<void> {
    this.closed = true;
    await Promise.all(
      this.slots.map(async (slot) => {
        const w = slot.worker;
        slot.worker = null;
        for (const resolve of slot.pending.values()) resolve(null);
        slot.pending.clear();
        if (w) await w.terminate();
      }),
    );
  }
}
