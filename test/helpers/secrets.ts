// Every secret a test creates (admin tokens, OIDC tokens, private keys) is recorded, and every
// server log goes to a file; test/run.ts scans the logs of the whole run for the secrets.
import fs from 'node:fs';
import path from 'node:path';
import pino, { type Logger } from 'pino';

const dir = process.env.TEST_LOG_DIR;
let logs = 0;

export function recordSecret(secret: string): void {
  if (!dir || secret.length < 16) return;
  fs.appendFileSync(path.join(dir, `secrets-${process.pid}.txt`), `${Buffer.from(secret).toString('base64')}\n`);
}

/** A debug-level logger writing to the run's log directory (silent when run outside test/run.ts). */
export function testLogger(): Logger {
  if (!dir) return pino({ level: 'silent' });
  logs += 1;
  return pino({ level: 'debug' }, pino.destination({ dest: path.join(dir, `server-${process.pid}-${logs}.log`), sync: true }));
}
