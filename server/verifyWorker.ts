// Worker thread: verifies identity (Sigstore) and classic signatures with the same core code the
// main thread would run, so that request handling does not stall on certificate chain checks.
import { parentPort, workerData } from 'node:worker_threads';
import { IdentitySignatureVerifier } from '../core/identity.ts';
import type { VerifyRequest, VerifyResponse } from './verifyPool.ts';

const verifier = new IdentitySignatureVerifier((workerData as { trustedRoot: unknown }).trustedRoot);

parentPort!.on('message', (req: VerifyRequest) => {
  let verdict: boolean;
  try {
    verdict = verifier.verify(req.key, req.signature, req.signedBytes) === true;
  } catch {
    verdict = false; // fail closed
  }
  parentPort!.postMessage({ id: req.id, verdict } satisfies VerifyResponse);
});
