// TAP 4 in the client: one IdentityClient per repository of a map file, each verified in full on
// its own (root, timestamp, snapshot or TAP 16 proofs, targets, bins, identity-signed project
// roles, build provenance, the user's pins), each with its state in DIR/NAME/ (its trusted root
// DIR/NAME/root.json, placed there once: TAP 4 makes the repository's name its folder).
//
// The search (TAP 4 "Searching for Files on Multiple Repositories"):
//  1. the mappings whose paths match the target, in the order listed;
//  2. the mapping's repositories are asked in their listed order until a threshold of them vouch
//     for the same length and hashes (custom metadata exempt);
//  3. that target is returned;
//  4. otherwise (they disagree, or too few vouch for it) a terminating mapping ends the search
//     with an error naming each repository and what it said, and a non-terminating one lets the
//     search go on with the next matching mapping.
// What TAP 4 leaves open, decided here (docs/trust-policies.md): a repository that cannot be
// reached or whose metadata does not verify vouches for nothing (it is named, with the reason);
// agreement is exact (the same length and the same set of hashes); a repository outside the
// matching mapping is never asked, whatever it lists; the bytes come from the agreeing
// repositories in order (each through its own copies), verified against the agreed hashes, and
// if none serves them the search ends there with each one's reason (it does not fall through).
import fs from 'node:fs';
import path from 'node:path';
import type { Pin } from '../core/clientPolicy.ts';
import {
  agreeingRepositories,
  describeAnswer,
  describeMapping,
  mappingFailure,
  mappingsFor,
  type Mapping,
  type RepositoryAnswer,
  type RepositoryMap,
} from '../core/repositoryMap.ts';
import type { ClientLimits } from './clientOptions.ts';
import { ClientError } from './errors.ts';
import { IdentityClient, type VouchedTarget } from './identityUpdater.ts';

export interface MultiRepositoryOptions {
  map: RepositoryMap;
  /** DIR: each repository's state in DIR/NAME/. */
  dir: string;
  pins?: readonly Pin[];
  limits?: Partial<ClientLimits>;
  snapshotMerkleProofs?: boolean;
  log?: (line: string) => void;
}

/** Where the search ended: the mapping, the repositories that agreed, what each repository said. */
export interface MultiRepositoryResult {
  mapping: Mapping;
  agreed: string[];
  answers: RepositoryAnswer[];
  /** The target as the first agreeing repository lists it. */
  vouched: VouchedTarget;
  /** Which repository served the bytes (download only). */
  servedBy?: string;
}

export class MultiRepositoryClient {
  private readonly clients = new Map<string, IdentityClient>();

  constructor(private readonly opts: MultiRepositoryOptions) {}

  private say(line: string): void {
    this.opts.log?.(line);
  }

  /** The repository's client, its state in DIR/NAME/ (root.json there is its trusted root). */
  client(name: string): IdentityClient {
    let client = this.clients.get(name);
    if (client) return client;
    const urls = this.opts.map.repositories.get(name)!;
    const state = path.join(this.opts.dir, name);
    if (!fs.existsSync(path.join(state, 'root.json')))
      throw new ClientError(
        'no_trusted_root',
        `no trusted root for repository ${name}: put its root.json at ${path.join(state, 'root.json')}`,
      );
    const [first, ...rest] = urls.map((u) => ({ metadataBaseUrl: `${u}/metadata`, targetBaseUrl: `${u}/targets` }));
    const repoLog = this.opts.log;
    client = new IdentityClient({
      ...first!,
      ...(rest.length > 0 ? { mirrors: rest } : {}),
      metadataDir: state,
      targetDir: path.join(state, 'targets'),
      ...(this.opts.pins ? { pins: this.opts.pins } : {}),
      ...(this.opts.limits ? { limits: this.opts.limits } : {}),
      ...(this.opts.snapshotMerkleProofs === false ? { snapshotMerkleProofs: false } : {}),
      ...(repoLog ? { log: (line: string) => repoLog(`[${name}] ${line}`) } : {}),
    });
    this.clients.set(name, client);
    return client;
  }

  /** One repository's answer: found (verified in full), absent, or refused with the reason. */
  private async ask(name: string, target: string): Promise<{ answer: RepositoryAnswer; vouched?: VouchedTarget }> {
    try {
      const client = this.client(name);
      // PROJECT/FILE also finds the file in the bin layout of this repository.
      const resolved = (await client.resolveTargetPath(target)) ?? target;
      const vouched = await client.vouchFor(resolved);
      if (!vouched) return { answer: { repository: name, kind: 'absent' } };
      return { answer: { repository: name, kind: 'found', length: vouched.target.length, hashes: vouched.target.hashes }, vouched };
    } catch (err) {
      const code = (err as { code?: unknown }).code;
      return {
        answer: { repository: name, kind: 'refused', reason: `${(err as Error).message}${typeof code === 'string' ? ` [${code}]` : ''}` },
      };
    }
  }

  /** TAP 4's search for `target`: the first matching mapping whose threshold of repositories agree. */
  async resolve(target: string): Promise<MultiRepositoryResult & { vouchedBy: Map<string, VouchedTarget> }> {
    const mappings = mappingsFor(this.opts.map, target);
    if (mappings.length === 0) throw new ClientError('no_matching_mapping', `no mapping of the map file matches ${target}`);
    const tried: string[] = [];
    for (const mapping of mappings) {
      const answers: RepositoryAnswer[] = [];
      const vouchedBy = new Map<string, VouchedTarget>();
      let agreed: string[] | null = null;
      // TAP 4 step 2: in the listed order, until a threshold agree.
      for (const name of mapping.repositories) {
        const { answer, vouched } = await this.ask(name, target);
        answers.push(answer);
        if (vouched) vouchedBy.set(name, vouched);
        this.say(`${describeMapping(mapping)}: ${describeAnswer(answer)}`);
        agreed = agreeingRepositories(mapping, answers);
        if (agreed) break;
      }
      if (agreed) return { mapping, agreed, answers, vouched: vouchedBy.get(agreed[0]!)!, vouchedBy };
      // TAP 4 step 4.
      const failure = mappingFailure(answers);
      const said = answers.map((a) => `  ${describeAnswer(a)}`).join('\n');
      const what =
        failure === 'disagreement'
          ? `its repositories disagree on ${target} (length and hashes)`
          : `fewer than ${mapping.threshold} of its repositories vouch for ${target}`;
      if (mapping.terminating) {
        throw new ClientError(
          failure === 'disagreement' ? 'mapping_disagreement' : 'mapping_threshold_not_met',
          `${describeMapping(mapping)} ends the search: ${what}:\n${said}`,
        );
      }
      tried.push(`${describeMapping(mapping)}: ${what}:\n${said}`);
      this.say(`${describeMapping(mapping)}: ${what}; not terminating, the next matching mapping is tried`);
    }
    throw new ClientError('target_not_found', `no matching mapping found ${target}:\n${tried.join('\n')}`);
  }

  /** Resolves `target`, then downloads it from the first agreeing repository that serves its bytes. */
  async download(target: string, outFile: string): Promise<MultiRepositoryResult> {
    const result = await this.resolve(target);
    const failures: string[] = [];
    for (const name of result.agreed) {
      try {
        await this.client(name).downloadVouched(result.vouchedBy.get(name)!, outFile);
        const { vouchedBy: _unused, ...rest } = result;
        return { ...rest, servedBy: name };
      } catch (err) {
        failures.push(`  ${name}: ${(err as Error).message}`);
        this.say(`${name} vouches for ${target} but did not serve it: ${(err as Error).message}`);
      }
    }
    throw new ClientError(
      'target_unavailable',
      `${describeMapping(result.mapping)}: ${result.agreed.join(', ')} agree on ${target}, and none of them served its bytes:\n${failures.join('\n')}`,
    );
  }
}
