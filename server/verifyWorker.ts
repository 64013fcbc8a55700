// Worker thread: verifies identity (Sigstore) and classic signatures with the same core code the
// main thread would run, so that request handling does not stall on certificate chain checks; and
// parses large request bodies (http/bodyTasks.ts), so that no body stalls the event loop.
import { parentPort, workerData } from 'node:worker_threads';
import { IdentitySignatureVerifier } from '../core/identity.ts';
import { runBodyTask } from './http/bodyTasks.ts';
import type { BodyTaskRequest, BodyTaskResponse, VerifyRequest, VerifyResponse } from './verifyPool.ts';

const verifier = new IdentitySignatureVerifier((workerData as { trustedRoot: unknown }).trustedRoot);

parentPort!.on('message', (req: VerifyRequest | BodyTaskRequest) => {
  if (req.kind === 'body') {
    // Parsing a request body: whatever it holds, the answer is plain data (bodyTasks.ts).
    const result = runBodyTask(req.task, verifier);
    // The bytes go back to the main thread, moved: it parses them itself once they passed.
    const bytes = req.task.bytes;
    parentPort!.postMessage(
      { id: req.id, result, bytes } satisfies BodyTaskResponse,
      bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength ? [bytes.buffer as ArrayBuffer] : [],
    );
    return;
  }
  let verdict: boolean;
  try {
    verdict = verifier.verify(req.key, req.signature, req.signedBytes) === true;
  } catch {
    verdict = false; // fail closed
  }
  parentPort!.postMessage({ id: req.id, verdict } satisfies VerifyResponse);
});
