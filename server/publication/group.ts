// Group commit for snapshot publication within one process. Each upload commits its role, then
// waits for a snapshot that covers that commit (by change sequence). Instead of every waiting
// request polling the database and racing for the publishing lock, one loop per process runs
// rounds back to back: a round ends when the current snapshot covers every change that was waiting
// when it started, whether this process published it or another one did. Requests that arrive
// during a round are served by the next; many uploads share one snapshot version.

interface Waiter<R> {
  seq: bigint;
  reason: string;
  resolve(result: R): void;
  reject(err: unknown): void;
}

/** What a round achieved: the change sequence the current snapshot covers, and what to answer. */
export interface RoundOutcome<R> {
  covers: bigint;
  result: R;
}

/**
 * `round(target, reasons)` must not return before a committed snapshot covers `target` (or throw).
 * A round that throws fails the requests it was started for; their changes stay committed and are
 * published by the next round or the periodic re-sign check.
 */
export class PublicationGroup<R> {
  private waiting: Waiter<R>[] = [];
  private running = false;

  constructor(private readonly round: (target: bigint, reasons: string[]) => Promise<RoundOutcome<R>>) {}

  /** Resolves once a snapshot covering change `seq` is committed (and served by this process). */
  waitFor(seq: bigint, reason: string): Promise<R> {
    const done = new Promise<R>((resolve, reject) => this.waiting.push({ seq, reason, resolve, reject }));
    if (!this.running) void this.drain();
    return done;
  }

  /** Requests waiting for a round (metrics, tests). */
  get size(): number {
    return this.waiting.length;
  }

  private async drain(): Promise<void> {
    this.running = true;
    try {
      while (this.waiting.length > 0) {
        const batch = [...this.waiting];
        const target = batch.reduce((max, w) => (w.seq > max ? w.seq : max), 0n);
        let outcome: RoundOutcome<R>;
        try {
          outcome = await this.round(
            target,
            batch.map((w) => w.reason),
          );
        } catch (err) {
          this.waiting = this.waiting.filter((w) => !batch.includes(w));
          for (const w of batch) w.reject(err);
          continue;
        }
        const still: Waiter<R>[] = [];
        for (const w of this.waiting) {
          if (w.seq <= outcome.covers) w.resolve(outcome.result);
          else still.push(w);
        }
        this.waiting = still;
      }
    } finally {
      this.running = false;
    }
  }
}
