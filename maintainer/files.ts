// Release files on the maintainer's disk: described (length and hashes) and sent as streams, so a
// large file is never held in memory on either side.
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import { pipeline } from 'node:stream/promises';
import type { TargetEntry } from '../core/metadata.ts';

/** Length, sha256 and sha512 of a file, as `describeTarget` gives them for bytes in memory. */
export async function describeFile(file: string): Promise<TargetEntry> {
  const sha256 = createHash('sha256');
  const sha512 = createHash('sha512');
  let length = 0;
  for await (const chunk of fs.createReadStream(file, { highWaterMark: 1024 * 1024 })) {
    const bytes = chunk as Buffer;
    length += bytes.length;
    sha256.update(bytes);
    sha512.update(bytes);
  }
  return { length, hashes: { sha256: sha256.digest('hex'), sha512: sha512.digest('hex') } };
}

/** PUTs a file as the raw request body (with its Content-Length); the answer's status and text. */
export async function putFile(url: string, file: string, length: number): Promise<{ status: number; text: string }> {
  const target = new URL(url);
  const client = target.protocol === 'https:' ? https : http;
  return new Promise((resolve, reject) => {
    const req = client.request(
      target,
      { method: 'PUT', headers: { 'content-type': 'application/octet-stream', 'content-length': String(length) } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    // The server may answer (and close) before the whole file is sent, when it refuses it.
    pipeline(fs.createReadStream(file), req).catch(() => {});
  });
}
