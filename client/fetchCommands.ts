// `tuf-client fetch` with a TAP 4 map file (--map) and the user's pins (--policy): reading the two
// files, and what the command prints about how a file was vouched for.
import fs from 'node:fs';
import { describePin, parsePolicy, type Pin } from '../core/clientPolicy.ts';
import { parseRepositoryMap, type RepositoryMap } from '../core/repositoryMap.ts';
import { describeBuilder } from '../core/provenance.ts';
import { ClientError } from './errors.ts';
import type { VouchedTarget } from './identityUpdater.ts';
import { MultiRepositoryClient } from './multiRepository.ts';

function readJsonFile(file: string, what: string): unknown {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw new Error(`cannot read the ${what} ${file}: ${(err as Error).message}`);
  }
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new Error(`the ${what} ${file} is not JSON: ${(err as Error).message}`);
  }
}

export function readPolicyFile(file: string): Pin[] {
  try {
    return parsePolicy(readJsonFile(file, 'policy'));
  } catch (err) {
    throw new ClientError('bad_policy', `policy ${file}: ${(err as Error).message}`);
  }
}

export function readMapFile(file: string): RepositoryMap {
  try {
    return parseRepositoryMap(readJsonFile(file, 'map file'));
  } catch (err) {
    throw new ClientError('bad_map', `map file ${file}: ${(err as Error).message}`);
  }
}

/** Lines (stderr) on what vouched for a file beyond its role's signatures: its provenance, the pins met. */
export function releaseLines(vouched: VouchedTarget): string[] {
  const lines: string[] = [];
  const p = vouched.release.provenance;
  if (p) {
    lines.push(
      `build provenance: ${vouched.target.path} built by ${describeBuilder(p.builder)}` +
        `${p.source ? ` from ${p.source}` : ''}${p.invocationId ? `, run ${p.invocationId}` : ''} (SLSA provenance v1, verified)`,
    );
  }
  for (const pin of vouched.release.pins) lines.push(`policy: ${describePin(pin)} met`);
  return lines;
}

export interface MapFetch {
  target: string;
  mapFile: string;
  dir: string;
  out: string;
  pins: Pin[];
  fullSnapshot: boolean;
  verbose: boolean;
}

/** `tuf-client fetch TARGET --map map.json --dir DIR --out FILE`: TAP 4's search, then the bytes. */
export async function fetchWithMap(opts: MapFetch): Promise<number> {
  const log = (line: string) => process.stderr.write(`${line}\n`);
  const client = new MultiRepositoryClient({
    map: readMapFile(opts.mapFile),
    dir: opts.dir,
    pins: opts.pins,
    ...(opts.fullSnapshot ? { snapshotMerkleProofs: false } : {}),
    ...(opts.verbose ? { log } : {}),
  });
  const result = await client.download(opts.target, opts.out);
  const m = result.mapping;
  log(
    `mapping ${m.index} (${m.paths.map((p) => p.pattern).join(', ')}): ${result.agreed.length} of ${m.repositories.length} repositories agree (threshold ${m.threshold}): ${result.agreed.join(', ')}`,
  );
  for (const line of releaseLines(result.vouched)) log(line);
  process.stdout.write(`verified and saved ${opts.target} to ${opts.out} (from ${result.servedBy})\n`);
  return 0;
}
