// SoftHSM2, a PKCS#11 token in files, for the tests of online keys in a token. Installed from
// Debian's package when missing (as root, as .ci/run does); each call makes a fresh token.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export const SOFTHSM_MODULE = '/usr/lib/softhsm/libsofthsm2.so';

export function ensureSoftHsm(): void {
  if (fs.existsSync(SOFTHSM_MODULE)) return;
  if (process.getuid?.() !== 0) throw new Error(`${SOFTHSM_MODULE} is missing: install Debian's softhsm2 (apt-get install softhsm2)`);
  execFileSync('sh', ['-c', 'apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq softhsm2'], { stdio: 'ignore' });
}

export interface SoftToken {
  /** SOFTHSM2_CONF: where this token's files are (SoftHSM reads it when the library initializes). */
  conf: string;
  label: string;
  pin: string;
  /** Environment for a server or command using this token. */
  env: Record<string, string>;
}

/** A directory of tokens with one initialized token per label. */
export function softHsmTokens(labels: string[], pin = '246810'): SoftToken[] {
  ensureSoftHsm();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tuf-softhsm-'));
  fs.mkdirSync(path.join(dir, 'tokens'));
  const conf = path.join(dir, 'softhsm2.conf');
  fs.writeFileSync(conf, `directories.tokendir = ${path.join(dir, 'tokens')}\nobjectstore.backend = file\nlog.level = ERROR\n`);
  return labels.map((label) => {
    execFileSync('softhsm2-util', ['--init-token', '--free', '--label', label, '--so-pin', '13579', '--pin', pin], {
      env: { ...process.env, SOFTHSM2_CONF: conf },
      stdio: 'ignore',
    });
    return {
      conf,
      label,
      pin,
      env: { SOFTHSM2_CONF: conf, PKCS11_MODULE: SOFTHSM_MODULE, PKCS11_TOKEN_LABEL: label, PKCS11_PIN: pin },
    };
  });
}
