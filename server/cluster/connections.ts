// The supervisor's listening socket: it accepts each connection and hands it to the next serving
// worker in turn, over the worker's IPC channel (the socket itself moves; the supervisor keeps no
// copy and reads nothing from it).
//
// Why not node's cluster round robin, which does the same: when a worker dies, a connection node
// had just handed it is neither served nor closed (node waits for the dead worker's receipt
// forever, and queues later hand-offs behind it), so its client hangs until its own timeout. Here
// the supervisor keeps its own copy of each socket until the worker says it took it, and closes the
// copies a dead worker never took: the connection is then closed (the client sees a reset and can
// retry at once), never left hanging, and never served twice. And only the supervisor holds the
// port: when it dies the port is free at once for the next server, whatever its workers still do.
import type { Worker } from 'node:cluster';
import net from 'node:net';
import type { Logger } from 'pino';

export class ConnectionDispatcher {
  private server: net.Server | null = null;
  private turn = 0;
  private nextId = 1;
  /** Sockets handed out and not yet taken, by hand-off id: the supervisor's copy is open until then. */
  private readonly pending = new Map<number, { socket: net.Socket; worker: Worker }>();

  constructor(
    /** The workers that serve now, in a stable order. */
    private readonly serving: () => Worker[],
    private readonly log: Logger,
  ) {}

  listen(host: string, port: number): Promise<void> {
    return new Promise((resolve, reject) => {
      const server = net.createServer({ pauseOnConnect: true, noDelay: true }, (socket) => this.dispatch(socket, 0));
      server.once('error', reject);
      server.listen(port, host, () => {
        server.off('error', reject);
        server.on('error', (err) => this.log.error({ err: String(err) }, 'the listening socket failed'));
        this.server = server;
        resolve();
      });
    });
  }

  private dispatch(socket: net.Socket, tried: number): void {
    const workers = this.serving();
    if (tried >= workers.length) {
      // No worker could take it (none serves, or every hand-off failed): closed, not left waiting.
      socket.destroy();
      return;
    }
    const worker = workers[this.turn++ % workers.length]!;
    const id = this.nextId++;
    socket.on('error', () => {}); // a reset while it waits here must not throw
    this.pending.set(id, { socket, worker });
    try {
      // keepOpen: the supervisor's copy stays open until the worker says it took the socket.
      worker.send({ type: 'tuf:connection', id }, socket, { keepOpen: true }, (err: Error | null) => {
        if (!err || !this.pending.delete(id)) return;
        this.dispatch(socket, tried + 1);
      });
    } catch {
      this.pending.delete(id);
      this.dispatch(socket, tried + 1);
    }
  }

  /** The worker holds its own copy now: the supervisor's is closed (the connection stays open). */
  taken(id: number): void {
    const p = this.pending.get(id);
    if (!p) return;
    this.pending.delete(id);
    p.socket.destroy();
  }

  /** A worker died: what it never took is closed, the last copy of it, so its clients see a reset. */
  workerGone(worker: Worker): void {
    for (const [id, p] of this.pending) {
      if (p.worker !== worker) continue;
      this.pending.delete(id);
      p.socket.destroy();
    }
  }

  /**
   * Stops accepting; connections handed out stay with their workers, which close them as they stop.
   * Not waiting for close's callback: node calls it once every socket ever handed to a worker is
   * closed, and an idle keep-alive client holds its socket open (the workers were then never told
   * to stop).
   */
  close(): void {
    const server = this.server;
    this.server = null;
    server?.close();
  }
}
