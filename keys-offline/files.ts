// File handling for the offline tool: reading metadata and keys, writing atomically, passphrases.
// No network code may enter this directory: it runs on an air-gapped machine.
import fs from 'node:fs';
import path from 'node:path';
import type { KeyObject } from 'node:crypto';
import { decodePrivateKeyFile } from '../core/keyFile.ts';
import { writeFileAtomic } from '../platform/atomicFile.ts';
import type { Envelope } from '../core/metadata.ts';

export function readJson(file: string): unknown {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw new Error(`cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new Error(`${file} is not valid JSON: ${(err as Error).message}`);
  }
}

export function writeJson(file: string, value: unknown, mode = 0o644, overwrite = true): void {
  writeFileAtomic(file, `${JSON.stringify(value, null, 2)}\n`, { mode, overwrite });
}

export function readEnvelopeFile(file: string): Envelope {
  const value = readJson(file) as Envelope;
  if (typeof value !== 'object' || value === null || typeof value.signed !== 'object' || !Array.isArray(value.signatures)) {
    throw new Error(`${file} is not TUF metadata ({"signed": …, "signatures": […]})`);
  }
  return value;
}

/** Reads a passphrase from TUF_KEY_PASSPHRASE or, without echo, from the terminal. */
export async function readPassphrase(prompt: string, confirm = false): Promise<string> {
  const fromEnv = process.env.TUF_KEY_PASSPHRASE;
  if (fromEnv !== undefined && fromEnv !== '') return fromEnv;
  if (!process.stdin.isTTY) throw new Error('no passphrase: set TUF_KEY_PASSPHRASE or run in a terminal');
  const first = await promptHidden(prompt);
  if (confirm && (await promptHidden('Repeat passphrase: ')) !== first) throw new Error('the passphrases differ');
  return first;
}

function promptHidden(prompt: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const stdin = process.stdin;
    process.stderr.write(prompt);
    stdin.setRawMode(true);
    stdin.resume();
    let value = '';
    const onData = (buf: Buffer) => {
      for (const ch of buf.toString('utf8')) {
        if (ch === '\r' || ch === '\n') {
          cleanup();
          process.stderr.write('\n');
          resolve(value);
          return;
        }
        if (ch === '\u0003') {
          cleanup();
          reject(new Error('interrupted'));
          return;
        }
        if (ch === '\u007f') value = value.slice(0, -1);
        else value += ch;
      }
    };
    const cleanup = () => {
      stdin.off('data', onData);
      stdin.setRawMode(false);
      stdin.pause();
    };
    stdin.on('data', onData);
  });
}

export async function loadPrivateKey(file: string): Promise<{ name: string; keyid: string; privateKey: KeyObject }> {
  const value = readJson(file);
  const passphrase = await readPassphrase(`Passphrase for ${path.basename(file)}: `);
  const { file: keyFile, privateKey } = decodePrivateKeyFile(value, passphrase);
  return { name: keyFile.name, keyid: keyFile.keyid, privateKey };
}
