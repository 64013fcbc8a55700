// Recovery reads a mirror's answers whole, within a bound that holds without Content-Length: a
// mirror that streams forever is cut off at the bound, not read into memory.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { readLimitedBody } from '../server/recovery/limitedBody.ts';

function endless(): { stream: ReadableStream<Uint8Array>; pulled: () => number } {
  let pulled = 0;
  const stream = new ReadableStream<Uint8Array>({
    pull(controller) {
      pulled += 1;
      controller.enqueue(new Uint8Array(64 * 1024));
    },
  });
  return { stream, pulled: () => pulled };
}

test('a body without Content-Length is cut off once it passes the bound', async () => {
  const body = endless();
  await assert.rejects(
    readLimitedBody(new Response(body.stream), 1024 * 1024, 'http://mirror/x'),
    /http:\/\/mirror\/x: more than 1048576 bytes/,
  );
  assert.ok(body.pulled() <= 20, `read ${body.pulled()} chunks of 64 KiB for a 1 MiB bound`);
});

test('a declared length over the bound is refused before reading; a body within it is returned whole', async () => {
  const body = endless();
  const declared = new Response(body.stream, { headers: { 'content-length': String(2 * 1024 * 1024) } });
  await assert.rejects(readLimitedBody(declared, 1024 * 1024, 'http://mirror/y'), /more than 1048576 bytes/);
  assert.ok(body.pulled() <= 2, 'not read');
  const small = await readLimitedBody(new Response('{"signed":{}}'), 1024, 'http://mirror/z');
  assert.equal(small.toString(), '{"signed":{}}');
});
