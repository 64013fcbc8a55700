import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

export interface CliResult {
  status: number;
  stdout: string;
  stderr: string;
}

const LAUNCHERS: Record<string, string> = {
  'server/main.ts': 'bin/tuf-server.mjs',
  'keys-offline/main.ts': 'bin/tuf-offline.mjs',
  'carry/main.ts': 'bin/tuf-carry.mjs',
  'maintainer/main.ts': 'bin/tuf-maintainer.mjs',
  'client/main.ts': 'bin/tuf-client.mjs',
  'auditor/main.ts': 'bin/tuf-auditor.mjs',
};

/**
 * Runs one of the project's commands through its launcher in bin/, as a user would, from `cwd`.
 * Asynchronous: the server under test lives in this process and must keep answering.
 */
export function runCli(entry: string, args: string[], env: Record<string, string> = {}, cwd = repoRoot): Promise<CliResult> {
  const launcher = LAUNCHERS[entry];
  if (!launcher) throw new Error(`no launcher for ${entry}`);
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [path.join(repoRoot, launcher), ...args], {
      cwd,
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
      timeout: 60_000,
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ status: code ?? -1, stdout, stderr }));
  });
}

export async function mustRun(entry: string, args: string[], env: Record<string, string> = {}, cwd?: string): Promise<string> {
  const res = await runCli(entry, args, env, cwd);
  if (res.status !== 0) throw new Error(`${entry} ${args.join(' ')} exited ${res.status}:\n${res.stdout}\n${res.stderr}`);
  return res.stdout;
}
