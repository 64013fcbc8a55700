// Closing a connection whose request body we refused to read, the way nginx's lingering_close
// does. A server that closes a socket with the client's bytes still unread makes its kernel send
// a TCP reset, and the client's kernel, on that reset, throws away whatever of our answer the
// client had not yet read: a maintainer whose upload is too large sees "connection reset" instead
// of the 413 that says why. So: send the answer and our FIN, keep reading and dropping what the
// client still sends for a bounded time, and close once the client closes its side or time is up.
import type { Socket } from 'node:net';

/** How long a refused client may keep sending before the connection is cut regardless. */
export const LINGER_MS = 2000;
/**
 * How much of it is read and dropped meanwhile. A client that has seen the answer stops within
 * what its socket buffers and the network hold; one that goes on is not listening, and reading
 * for it at memory speed would spend a core for nothing.
 */
export const LINGER_MAX_BYTES = 32 * 1024 * 1024;

const lingering = new WeakSet<Socket>();

/**
 * Makes node's close of `socket` after the current answer (`destroySoon`, called by the HTTP
 * server once an answer with `Connection: close` is sent) linger instead of resetting.
 */
export function lingerOnClose(socket: Socket, lingerMs = LINGER_MS, maxBytes = LINGER_MAX_BYTES): void {
  if (lingering.has(socket)) return;
  lingering.add(socket);
  socket.destroySoon = function lingerThenDestroy(this: Socket) {
    if (this.writable) this.end();
    if (this.readableEnded) return void this.destroy();
    const timer = setTimeout(() => this.destroy(), lingerMs);
    timer.unref();
    this.once('close', () => clearTimeout(timer));
    // The client has sent everything (or closed): nothing unread is left to cause a reset.
    this.once('end', () => this.destroy());
    let dropped = 0;
    this.on('data', (chunk: Buffer) => {
      dropped += chunk.length;
      if (dropped > maxBytes) this.destroy();
    });
    // The HTTP parser still reads the socket and drops the refused body; keep it flowing.
    this.resume();
  };
}
