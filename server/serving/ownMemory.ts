// Bytes kept for long (cached files, gzip variants, TAP 16 proofs) must hold only their own memory.
// Buffers under 4 KiB (Buffer.from of a string, pg's bytea, zlib's output, Buffer.concat) are views
// into a shared 8 KiB pool slab, and a kept view keeps its whole slab alive: the soak saw a 1.4 KB
// proof hold 8 KiB, and external memory grow past every bound the caches counted.

/** `bytes`, or a copy of them into an unpooled allocation when they are a small view into a larger buffer. */
export function ownMemory(bytes: Buffer): Buffer {
  // A view that uses most of what it holds is kept as is: a snapshot file written around its text
  // (core/snapshotText.ts) holds about a kilobyte more than its megabytes, not worth a copy.
  if (bytes.byteLength * 2 >= bytes.buffer.byteLength) return bytes;
  const own = Buffer.allocUnsafeSlow(bytes.length);
  bytes.copy(own);
  return own;
}
