// For assert.rejects: the client refused with this stable code (and, when given, a message matching `message`).
import { ClientError } from '../../client/errors.ts';

export function isClientRefusal(err: unknown, code: string, message?: RegExp): true {
  if (!(err instanceof ClientError)) throw new Error(`expected a ClientError [${code}], got ${String((err as Error)?.stack ?? err)}`);
  if (err.code !== code) throw new Error(`expected [${code}], got [${err.code}]: ${err.message}`);
  if (message && !message.test(err.message)) throw new Error(`[${code}] message ${JSON.stringify(err.message)} does not match ${message}`);
  return true;
}
