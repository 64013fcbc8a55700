// Snapshot versions stored as deltas. A snapshot lists every targets role (3.4 MB at 100,000
// roles, 34 MB at a million), and one publication changes a few entries: storing each version
// whole cost most of a publication and grew the database by the whole snapshot every time. A
// version is stored as what changed since the version before it (the entry texts, its expiry and
// its signatures); the served file is a function of those and the previous version's entries, so
// it is rebuilt byte for byte and checked against the SHA-256 recorded when it was signed. Pure:
// the rows come from server/db.
import { isPlainObject } from './canonical.ts';
import { TufError } from './errors.ts';
import { isTufDateTime, type SignatureJson, type SnapshotMetaEntry } from './metadata.ts';
import { entryTextName, finishSnapshotFile, layOutSnapshotFile, SnapshotEntries } from './snapshotText.ts';

export interface SnapshotDelta {
  expires: string;
  signatures: SignatureJson[];
  /** Entry texts `"NAME.json":{...}` that differ from the previous version (new roles and new versions). */
  changes: string[];
}

export function encodeSnapshotDelta(delta: SnapshotDelta): string {
  return JSON.stringify({
    changes: delta.changes,
    expires: delta.expires,
    signatures: delta.signatures.map((s) => ({ keyid: s.keyid, sig: s.sig })),
  });
}

function corrupt(version: number, what: string): TufError {
  return new TufError('malformed', `stored snapshot v${version}: ${what}`);
}

export function decodeSnapshotDelta(text: string, version: number): SnapshotDelta {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    throw corrupt(version, 'its delta is not JSON');
  }
  if (!isPlainObject(doc)) throw corrupt(version, 'its delta is not an object');
  const { changes, expires, signatures } = doc;
  if (!Array.isArray(changes) || !changes.every((c) => typeof c === 'string')) throw corrupt(version, 'changes must be entry texts');
  if (typeof expires !== 'string' || !isTufDateTime(expires)) throw corrupt(version, 'expires must be a TUF date');
  if (!Array.isArray(signatures) || !signatures.every((s) => isPlainObject(s) && typeof s.keyid === 'string' && typeof s.sig === 'string'))
    throw corrupt(version, 'signatures must be {keyid, sig} objects');
  for (const c of changes as string[]) entryTextName(c);
  return { changes: changes as string[], expires, signatures: signatures as unknown as SignatureJson[] };
}

/** A snapshot version rebuilt: its entries (to apply the next delta to) and its served bytes. */
export interface RebuiltSnapshot {
  version: number;
  entries: SnapshotEntries;
  bytes: Buffer;
  /** The entry texts that changed since version `since` (every entry, and `since` 0, for a whole file). */
  changed: readonly string[];
  since: number;
}

/** The entries of a whole stored snapshot file (a version stored whole, or a checkpoint). */
export function snapshotFromFile(bytes: Buffer, version: number): RebuiltSnapshot {
  let doc: unknown;
  try {
    doc = JSON.parse(bytes.toString('utf8'));
  } catch {
    throw corrupt(version, 'its file is not JSON');
  }
  const signed = isPlainObject(doc) && isPlainObject(doc.signed) ? doc.signed : null;
  if (!signed || signed.version !== version || !isPlainObject(signed.meta)) throw corrupt(version, 'its file is not this snapshot version');
  const meta = signed.meta;
  const changes = new Map<string, SnapshotMetaEntry>();
  for (const name of Object.keys(meta)) changes.set(name, meta[name] as unknown as SnapshotMetaEntry);
  const built = new SnapshotEntries().withChanges(changes);
  // Every entry as metaEntryText writes it: a file in another form could not be extended by deltas.
  if (`{${built.metaText}}` !== JSON.stringify(meta)) throw corrupt(version, 'its entries are not in canonical form');
  return { version, entries: built.next, bytes, changed: built.changedTexts, since: 0 };
}

/** The version after `previous`, from its delta. */
export function applySnapshotDelta(previous: RebuiltSnapshot, version: number, delta: SnapshotDelta): RebuiltSnapshot {
  if (version !== previous.version + 1) throw corrupt(version, `its delta follows v${version - 1}, not v${previous.version}`);
  const next = previous.entries.withTexts(delta.changes);
  const bytes = finishSnapshotFile(layOutSnapshotFile(version, delta.expires, next.metaBytes), delta.signatures);
  return { version, entries: next.next, bytes, changed: next.changedTexts, since: previous.version };
}

/** `later` with its changes counted since `earlier.since`: several deltas applied in a row, as one. */
export function mergeChanges(earlier: RebuiltSnapshot, later: RebuiltSnapshot): RebuiltSnapshot {
  if (later.since !== earlier.version) return later;
  if (earlier.since === 0) return { ...later, changed: later.entries.texts(), since: 0 };
  const byName = new Map<string, string>();
  for (const text of earlier.changed) byName.set(entryTextName(text), text);
  for (const text of later.changed) byName.set(entryTextName(text), text);
  return { ...later, changed: [...byName.values()], since: earlier.since };
}
