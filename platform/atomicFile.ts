// Writing a file so that a crash leaves either the old content or the new, never a mix: write a
// temporary file beside it, flush it to disk, rename it over the target. Node-only, no network:
// shared by the server and the offline tool (which runs on an air-gapped machine).
import fs from 'node:fs';
import path from 'node:path';

export interface AtomicWriteOptions {
  /** File mode of a newly written file (default 0o644). */
  mode?: number;
  /** Refuse to replace an existing file (default: replace). */
  overwrite?: boolean;
}

export function writeFileAtomic(file: string, content: string | Uint8Array, opts: AtomicWriteOptions = {}): void {
  if (opts.overwrite === false && fs.existsSync(file)) throw new Error(`${file} exists already; refusing to overwrite it`);
  fs.mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
  const tmp = `${file}.${process.pid}.tmp`;
  const fd = fs.openSync(tmp, 'w', opts.mode ?? 0o644);
  try {
    fs.writeSync(fd, typeof content === 'string' ? Buffer.from(content, 'utf8') : content);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  fs.renameSync(tmp, file);
}

/**
 * The same without blocking the event loop while the disk flushes: for a server, where a
 * synchronous fsync holds up every request in flight (tens of milliseconds on a busy disk).
 */
export async function writeFileAtomicAsync(file: string, content: string | Uint8Array, opts: { mode?: number } = {}): Promise<void> {
  await fs.promises.mkdir(path.dirname(path.resolve(file)), { recursive: true });
  const tmp = `${file}.${process.pid}.tmp`;
  const handle = await fs.promises.open(tmp, 'w', opts.mode ?? 0o644);
  try {
    await handle.writeFile(typeof content === 'string' ? Buffer.from(content, 'utf8') : content);
    await handle.sync();
  } finally {
    await handle.close();
  }
  await fs.promises.rename(tmp, file);
}
