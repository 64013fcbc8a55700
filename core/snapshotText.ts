// The snapshot's signed bytes, kept as text between publications. A snapshot lists every targets
// role (13 MB at 100,000 roles), and only a few entries change from one version to the next:
// canonicalizing the whole object each time cost more than everything else in a publication.
// Each entry's canonical text is kept instead and the document is joined from the parts in the
// order canonical JSON sorts them. The result is byte-for-byte what `canonicalBytes` gives for the
// same object (a property test holds the two together).
import { TufError } from './errors.ts';
import { SPEC_VERSION, isTufDateTime, type SignatureJson, type SnapshotMetaEntry } from './metadata.ts';
import type { Signer } from './signer.ts';

// Canonical JSON escapes only `"` and `\`; JSON also escapes control characters. With printable
// ASCII alone (and neither of those two) the two agree, so the canonical text is also the JSON that
// is served.
const SAFE_NAME = /^[\x20-\x21\x23-\x5b\x5d-\x7e]+$/; // printable ASCII except `"` and `\`
const SHA256_HEX = /^[0-9a-f]{64}$/;

/**
 * `"name":{"hashes":{"sha256":...},"length":N,"version":V}`, or `"name":{"version":V}` for a
 * version-only entry: one entry of the sorted meta object.
 */
export function metaEntryText(name: string, entry: SnapshotMetaEntry): string {
  const { version } = entry;
  // The fixed layouts below are canonical JSON only for exactly these shapes; anything else is refused.
  if (!SAFE_NAME.test(name))
    throw new TufError('malformed', `snapshot entry ${JSON.stringify(name)} may hold only printable ASCII other than " and \\`);
  if (!Number.isSafeInteger(version) || version < 1)
    throw new TufError('malformed', `snapshot entry ${name}: version must be a positive integer`);
  const fields = Object.keys(entry);
  if (fields.length === 1) return `"${name}":{"version":${version}}`;
  if (fields.length !== 3 || !('length' in entry) || !('hashes' in entry))
    throw new TufError('malformed', `snapshot entry ${name}: version alone, or version, length and hashes`);
  const { length, hashes } = entry;
  const hashNames = Object.keys(hashes);
  if (!Number.isSafeInteger(length) || length < 0)
    throw new TufError('malformed', `snapshot entry ${name}: length must be a non-negative integer`);
  if (hashNames.length !== 1 || hashNames[0] !== 'sha256' || !SHA256_HEX.test(hashes.sha256)) {
    throw new TufError('malformed', `snapshot entry ${name}: hashes must be exactly one lowercase hex sha256`);
  }
  return `"${name}":{"hashes":{"sha256":"${hashes.sha256}"},"length":${length},"version":${version}}`;
}

/** Default string order, the one canonical JSON sorts object keys by (UTF-16 code units). */
function mergeSorted(a: readonly string[], b: readonly string[]): string[] {
  const out: string[] = new Array(a.length + b.length);
  let i = 0;
  let j = 0;
  let k = 0;
  while (i < a.length && j < b.length) out[k++] = a[i]! < b[j]! ? a[i++]! : b[j++]!;
  while (i < a.length) out[k++] = a[i++]!;
  while (j < b.length) out[k++] = b[j++]!;
  return out;
}

/** Where each part starts in the joined text (parts are joined with ","); one more entry for the end. */
function offsetsOf(parts: readonly string[]): Float64Array {
  const out = new Float64Array(parts.length + 1);
  let at = 0;
  for (let i = 0; i < parts.length; i++) {
    out[i] = at;
    at += parts[i]!.length + 1;
  }
  out[parts.length] = at;
  return out;
}

export interface EntriesState {
  names: string[]; // sorted
  parts: string[]; // parts[i]: the text of names[i]
  index: Map<string, number>; // name -> its position in `names`
  /** Parts joined with ",", as bytes: every part is printable ASCII, one byte a character, so
   * splicing and signing copy memory instead of building and encoding a string of megabytes. */
  text: Buffer;
  offsets: Float64Array;
}

/** What `withChanges` gives: the text with the changes applied, and the entries after them. */
export interface SnapshotEntriesChange {
  /** The meta object's text, without its braces (computed when asked: megabytes at scale). */
  readonly metaText: string;
  /** The same, as bytes: what is signed. */
  metaBytes: Buffer;
  size: number;
  /** The entry texts that differ from before: new roles and new versions (what a delta stores). */
  changedTexts: string[];
  /** The entries with the changes applied, as a value of its own (these entries are unchanged). */
  next: SnapshotEntries;
  /** Applies the changes to these entries for good. */
  commit(): void;
}

/** What a snapshot lists, entry by entry, with each entry's canonical text. */
export class SnapshotEntries {
  private state: EntriesState;

  constructor(state?: EntriesState) {
    this.state = state ?? { names: [], parts: [], index: new Map(), text: Buffer.alloc(0), offsets: new Float64Array(1) };
  }

  get size(): number {
    return this.state.names.length;
  }

  /** The meta object's text, without its braces. */
  get metaText(): string {
    return this.state.text.toString('latin1');
  }

  /** The same, as bytes (what is signed). */
  get metaBytes(): Buffer {
    return this.state.text;
  }

  has(name: string): boolean {
    return this.state.index.has(name);
  }

  /** Every entry's text, in the snapshot's order. */
  texts(): readonly string[] {
    return this.state.parts;
  }

  /**
   * The meta object's text with `changes` applied over these entries. Nothing changes here until
   * `commit` is called. (The server commits when the snapshot row is written; should its
   * transaction still roll back, the entries no longer match the stored snapshot's digest and the
   * server rebuilds them from every role.) New versions of listed roles are spliced into the
   * previous text (joining 100,000 parts again took 100 ms a publication); only new roles join
   * every part again.
   */
  withChanges(changes: ReadonlyMap<string, SnapshotMetaEntry>): SnapshotEntriesChange {
    const texts: string[] = [];
    for (const [name, entry] of changes) texts.push(metaEntryText(name, entry));
    return this.withTexts(texts);
  }

  /** As `withChanges`, from entry texts `"NAME":{...}` as metaEntryText writes them (a stored delta). */
  withTexts(texts: Iterable<string>): SnapshotEntriesChange {
    const s = this.state;
    const changed = new Map<string, string>();
    for (const text of texts) {
      const name = entryTextName(text);
      const at = s.index.get(name);
      if (at !== undefined && s.parts[at] === text) changed.delete(name);
      else changed.set(name, text);
    }
    const added = [...changed.keys()].filter((n) => !s.index.has(n)).sort();
    const next = added.length === 0 ? spliced(s, changed) : rebuilt(s, changed, added);
    return {
      get metaText() {
        return next.text.toString('latin1');
      },
      metaBytes: next.text,
      size: next.names.length,
      changedTexts: [...changed.values()],
      next: new SnapshotEntries(next),
      commit: () => {
        this.state = next;
      },
    };
  }
}

/** The file name an entry text `"NAME":{...}` is for (names hold no `"`: metaEntryText refuses them). */
export function entryTextName(text: string): string {
  const end = text.indexOf('"', 1);
  if (text[0] !== '"' || end < 2 || text[end + 1] !== ':' || text[end + 2] !== '{' || !text.endsWith('}'))
    throw new TufError('malformed', `not a snapshot entry text: ${JSON.stringify(text.slice(0, 80))}`);
  return text.slice(1, end);
}

function spliced(s: EntriesState, changed: ReadonlyMap<string, string>): EntriesState {
  if (changed.size === 0) return s;
  const at = [...changed.keys()].map((name) => s.index.get(name)!).sort((a, b) => a - b);
  const parts = s.parts.slice();
  const pieces: Buffer[] = [];
  let from = 0;
  let grown = false;
  for (const i of at) {
    const text = changed.get(s.names[i]!)!;
    pieces.push(s.text.subarray(from, s.offsets[i]), Buffer.from(text, 'latin1'));
    from = s.offsets[i]! + s.parts[i]!.length;
    if (text.length !== s.parts[i]!.length) grown = true;
    parts[i] = text;
  }
  pieces.push(s.text.subarray(from));
  return { names: s.names, parts, index: s.index, text: Buffer.concat(pieces), offsets: grown ? offsetsOf(parts) : s.offsets };
}

function rebuilt(s: EntriesState, changed: ReadonlyMap<string, string>, added: string[]): EntriesState {
  const names = mergeSorted(s.names, added);
  const parts: string[] = new Array(names.length);
  const index = new Map<string, number>();
  for (let i = 0; i < names.length; i++) {
    const name = names[i]!;
    parts[i] = changed.get(name) ?? s.parts[s.index.get(name)!]!;
    index.set(name, i);
  }
  return { names, parts, index, text: Buffer.from(parts.join(','), 'latin1'), offsets: offsetsOf(parts) };
}

/** Canonical bytes of a snapshot's `signed`, from the meta object's text. */
export function snapshotSignedBytes(version: number, expires: string, meta: string | Buffer): Buffer {
  if (!Number.isSafeInteger(version) || version < 1) throw new TufError('malformed', 'snapshot version must be a positive integer');
  if (!isTufDateTime(expires)) throw new TufError('malformed', 'snapshot expiry must look like 2030-01-01T00:00:00Z');
  // Keys in canonical order: _type, expires, meta, spec_version, version.
  return Buffer.concat([
    Buffer.from(`{"_type":"snapshot","expires":"${expires}","meta":{`),
    typeof meta === 'string' ? Buffer.from(meta, 'utf8') : meta,
    Buffer.from(`},"spec_version":"${SPEC_VERSION}","version":${version}}`),
  ]);
}

/** Signatures over snapshot bytes, one per signer. */
export async function signSnapshot(signedBytes: Buffer, signers: Signer[]): Promise<SignatureJson[]> {
  const signatures: SignatureJson[] = [];
  for (const signer of signers) signatures.push({ keyid: signer.keyid, sig: await signer.sign(signedBytes) });
  return signatures;
}

/**
 * The served file: `{"signed":<canonical>,"signatures":[...]}`, valid JSON because the canonical
 * text holds only printable ASCII. A function of its parts alone, so a file stored as a delta is
 * rebuilt byte for byte.
 */
export function snapshotFileBytes(signedBytes: Buffer, signatures: readonly SignatureJson[]): Buffer {
  const sigs = signatures.map((s) => ({ keyid: s.keyid, sig: s.sig }));
  return Buffer.concat([Buffer.from('{"signed":'), signedBytes, Buffer.from(`,"signatures":${JSON.stringify(sigs)}}`)]);
}

/** Signs snapshot bytes and returns the served file. */
export async function signSnapshotBytes(signedBytes: Buffer, signers: Signer[]): Promise<Buffer> {
  return snapshotFileBytes(signedBytes, await signSnapshot(signedBytes, signers));
}
