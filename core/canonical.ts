import { createHash } from 'node:crypto';
import { canonicalize } from '@tufjs/canonical-json';
import { TufError } from './errors.ts';

/**
 * OLPC canonical JSON, the form TUF signs and tuf-js verifies. Throws `malformed` on values it cannot
 * represent (floats, undefined), which would otherwise make signer and verifier disagree.
 */
export function canonicalBytes(value: unknown): Buffer {
  let text: string;
  try {
    text = canonicalize(value);
  } catch (err) {
    throw new TufError('malformed', `value has no canonical JSON form: ${(err as Error).message}`);
  }
  return Buffer.from(text, 'utf8');
}

export function sha256Hex(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

export function sha512Hex(bytes: Uint8Array): string {
  return createHash('sha512').update(bytes).digest('hex');
}

export type JsonObject = { [key: string]: JsonValue };
export type JsonValue = string | number | boolean | null | JsonValue[] | JsonObject;

export function isPlainObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
