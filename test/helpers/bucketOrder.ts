// Checks a published bucket the way a client would meet it at every moment: for each write of
// timestamp.json, in the order the store confirmed writes (s3Recorder.ts), the snapshot it names
// was written before it, every role version that snapshot lists was written before the snapshot,
// and every target file a role lists before the role. And timestamp.json only ever moves forward.
import type { RecordedWrite } from './s3Recorder.ts';

export interface OrderCheck {
  timestamps: number;
  snapshots: number;
  roles: number;
  targets: number;
}

export async function checkWriteOrder(
  writes: readonly RecordedWrite[],
  bucket: string,
  prefix: string,
  get: (key: string) => Promise<Buffer | null>,
): Promise<OrderCheck> {
  const p = prefix ? `${prefix}/` : '';
  const first = new Map<string, number>();
  writes.forEach((w, i) => {
    if (w.bucket === bucket && !first.has(w.key)) first.set(w.key, i);
  });
  const checked = { timestamps: 0, snapshots: new Set<string>(), roles: new Set<string>(), targets: new Set<string>() };
  const before = (key: string, index: number, why: string) => {
    const at = first.get(key);
    if (at === undefined) throw new Error(`${why}: ${key} was never written`);
    if (at >= index) throw new Error(`${why}: ${key} was written after it (write ${at} >= ${index})`);
  };
  const roleChecked = new Map<string, Promise<void>>();
  const checkRole = (key: string): Promise<void> => {
    let pending = roleChecked.get(key);
    if (!pending) {
      pending = (async () => {
        const bytes = await get(key);
        if (!bytes) throw new Error(`${key} is not in the bucket`);
        const targets = (JSON.parse(bytes.toString('utf8')).signed.targets ?? {}) as Record<string, { hashes: { sha256: string } }>;
        for (const [path, t] of Object.entries(targets)) {
          const slash = path.lastIndexOf('/');
          const target = `${p}targets/${slash >= 0 ? path.slice(0, slash + 1) : ''}${t.hashes.sha256}.${path.slice(slash + 1)}`;
          before(target, first.get(key)!, `${key} lists ${path}`);
          checked.targets.add(target);
        }
        checked.roles.add(key);
      })();
      roleChecked.set(key, pending);
    }
    return pending;
  };
  let lastTimestamp = 0;
  for (let i = 0; i < writes.length; i++) {
    const w = writes[i]!;
    if (w.bucket !== bucket || w.key !== `${p}metadata/timestamp.json`) continue;
    if (!w.body) throw new Error('the recorder kept no body for timestamp.json');
    const signed = JSON.parse(w.body.toString('utf8')).signed;
    if (signed.version <= lastTimestamp) throw new Error(`timestamp.json went from v${lastTimestamp} to v${signed.version}`);
    lastTimestamp = signed.version;
    const snapshotKey = `${p}metadata/${signed.meta['snapshot.json'].version}.snapshot.json`;
    before(snapshotKey, i, `timestamp v${signed.version}`);
    checked.timestamps += 1;
    if (checked.snapshots.has(snapshotKey)) continue;
    checked.snapshots.add(snapshotKey);
    const snapshot = await get(snapshotKey);
    if (!snapshot) throw new Error(`${snapshotKey} is not in the bucket`);
    const meta = JSON.parse(snapshot.toString('utf8')).signed.meta as Record<string, { version: number }>;
    const roles: Promise<void>[] = [];
    for (const [name, entry] of Object.entries(meta)) {
      const roleKey = `${p}metadata/${entry.version}.${name}`;
      before(roleKey, first.get(snapshotKey)!, `${snapshotKey} lists ${name} v${entry.version}`);
      roles.push(checkRole(roleKey));
    }
    await Promise.all(roles);
  }
  return { timestamps: checked.timestamps, snapshots: checked.snapshots.size, roles: checked.roles.size, targets: checked.targets.size };
}
