// The process's logger. Secrets are redacted here as well as never logged by the routes.
import pino, { type Logger } from 'pino';

export function createLogger(level: string): Logger {
  return pino({
    level,
    base: { service: 'tuf-repository' },
    // Belt and braces: the routes never log these, and the serializers drop headers anyway.
    redact: ['req.headers.authorization', 'token', 'privateKey', 'passphrase'],
  });
}
