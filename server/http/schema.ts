import type { z } from 'zod';
import { HttpError } from './errors.ts';

/** Parses a request part with a schema; the first problem becomes a 400 that names the field. */
export function parseBody<T>(schema: z.ZodType<T>, value: unknown, what: string): T {
  const result = schema.safeParse(value);
  if (!result.success) {
    const issue = result.error.issues[0];
    throw new HttpError(400, 'bad_request', `${what}: ${issue ? `${issue.path.join('.') || '(body)'}: ${issue.message}` : 'invalid'}`);
  }
  return result.data;
}
