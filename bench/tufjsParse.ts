// What stock tuf-js costs to parse large maps: `@tufjs/models` builds delegations and snapshot meta
// with an object spread per entry, so parsing grows with the square of the count. Measured here on
// documents of our own shapes, and used to extrapolate where running stock tuf-js would take hours.
import { Snapshot, Targets } from '@tufjs/models';
import type { JsonObject } from '../core/canonical.ts';
import { generatePrivateKey } from '../core/keys.ts';
import { buildSnapshotSigned, buildTargetsSigned, expiresAfter } from '../core/metadata.ts';
import { privateKeySigner } from '../core/signer.ts';
import type { BenchRow } from './common.ts';

function snapshotWith(entries: number): JsonObject {
  const meta: Record<string, { version: number }> = { 'targets.json': { version: 1 } };
  for (let i = 0; i < entries; i++) meta[`p${i.toString(16).padStart(12, '0')}.json`] = { version: 1 };
  return buildSnapshotSigned(1, expiresAfter(new Date(), 86_400), meta);
}

function timeMs(f: () => void): number {
  const t0 = performance.now();
  f();
  return performance.now() - t0;
}

let fit: { perSquare: number; basis: string } | null = null;

/** Predicted `Snapshot.fromJSON` time for `entries` version-only entries, from two measured sizes. */
export async function stockSnapshotParseEstimate(entries: number): Promise<{ seconds: number; basis: string }> {
  if (!fit) {
    const sizes = [5_000, 10_000];
    const ms = sizes.map((n) => {
      const doc = snapshotWith(n);
      return timeMs(() => Snapshot.fromJSON(structuredClone(doc) as never));
    });
    fit = {
      perSquare: ms[1]! / sizes[1]! ** 2,
      basis: `measured ${ms.map((m, i) => `${(m / 1000).toFixed(1)} s at ${sizes[i]}`).join(', ')} entries, scaled by the square`,
    };
  }
  return { seconds: (fit.perSquare * entries ** 2) / 1000, basis: fit.basis };
}

/** `Targets.fromJSON` of a top-level targets with `counts` flat delegations (the layout bins replace). */
export function flatDelegationRows(counts: number[]): BenchRow[] {
  const signer = privateKeySigner(generatePrivateKey('ed25519'));
  return counts.map((k) => {
    const signed: JsonObject = {
      ...buildTargetsSigned({ version: 1, expires: expiresAfter(new Date(), 86_400), targets: {} }),
      delegations: {
        keys: { [signer.keyid]: signer.publicKey as unknown as JsonObject },
        roles: Array.from({ length: k }, (_, i) => ({
          name: `f${i}`,
          keyids: [signer.keyid],
          threshold: 1,
          paths: [`f${i}/*`],
          terminating: true,
        })),
      },
    };
    return {
      case: `tuf-js: top-level targets with ${k} flat delegations`,
      metric: 'Targets.fromJSON',
      value: timeMs(() => Targets.fromJSON(structuredClone(signed) as never)),
      unit: 'ms',
      note: 'grows with the square of the count (object spread per role)',
    };
  });
}
