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

/**
 * Entry i's text is `text[offsets[i], offsets[i + 1] - 1)` (the byte before the next start is the
 * ","). No array of entry strings is kept: copying one per publication (8 MB at 1,000,000 roles)
 * filled the old generation and cost a full collection every few publications.
 */
export interface EntriesState {
  names: string[]; // sorted
  index: Map<string, number>; // name -> its position in `names`
  /** Entry texts joined with ",", as bytes: every entry is printable ASCII, one byte a character,
   * so splicing and signing copy memory instead of building and encoding a string of megabytes. */
  text: Buffer;
  offsets: Float64Array;
}

function entryAt(s: EntriesState, i: number): string {
  return s.text.toString('latin1', s.offsets[i]!, s.offsets[i + 1]! - 1);
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
    this.state = state ?? { names: [], index: new Map(), text: Buffer.alloc(0), offsets: new Float64Array(1) };
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

  /** Every entry's text, in the snapshot's order (made when asked: one string per entry). */
  texts(): string[] {
    const s = this.state;
    const out: string[] = new Array(s.names.length);
    for (let i = 0; i < out.length; i++) out[i] = entryAt(s, i);
    return out;
  }

  /**
   * The meta object's text with `changes` applied over these entries. Nothing changes here until
   * `commit` is called. (The server commits when the snapshot row is written; should its
   * transaction still roll back, the entries no longer match the stored snapshot's digest and the
   * server rebuilds them from every role.) New versions of listed roles are spliced into the
   * previous text (joining 100,000 parts again took 100 ms a publication); new roles are merged
   * in by copying the runs of unchanged entries between them.
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
      if (at !== undefined && entryAt(s, at) === text) changed.delete(name);
      else changed.set(name, text);
    }
    const added = [...changed.keys()].filter((n) => !s.index.has(n)).sort();
    const next = added.length === 0 ? spliced(s, changed) : merged(s, changed, added);
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

// A meta text is joined into a buffer with free bytes around it, where `layOutSnapshotFile` writes
// the rest of the file: the snapshot is then one buffer of megabytes per publication instead of two.
// The room is used once: a second layout over the same text (a publication tried again) copies.
const ROOM_BEFORE = 128; // `{"signed":{"_type":"snapshot","expires":"...","meta":{` is about 70 bytes
const ROOM_AFTER = 64 + 1024; // `},"spec_version":...,"version":N}`, then the signatures
const withRoom = new WeakSet<Buffer>();

function joinWithRoom(pieces: readonly Buffer[]): Buffer {
  let length = 0;
  for (const piece of pieces) length += piece.length;
  const buffer = Buffer.allocUnsafe(ROOM_BEFORE + length + ROOM_AFTER);
  let at = ROOM_BEFORE;
  for (const piece of pieces) at += piece.copy(buffer, at);
  const text = buffer.subarray(ROOM_BEFORE, at);
  withRoom.add(text);
  return text;
}

/** New versions of listed entries, written over a copy of the text (names and index shared). */
function spliced(s: EntriesState, changed: ReadonlyMap<string, string>): EntriesState {
  if (changed.size === 0) return s;
  const at = [...changed.keys()].map((name) => s.index.get(name)!).sort((a, b) => a - b);
  const pieces: Buffer[] = [];
  const growth: number[] = [];
  let from = 0;
  for (const i of at) {
    const text = changed.get(s.names[i]!)!;
    pieces.push(s.text.subarray(from, s.offsets[i]), Buffer.from(text, 'latin1'));
    from = s.offsets[i + 1]! - 1;
    growth.push(text.length - (from - s.offsets[i]!));
  }
  pieces.push(s.text.subarray(from));
  let offsets = s.offsets;
  if (growth.some((g) => g !== 0)) {
    // A version with more digits moves every later entry (a role's 10th, 100th, ... version).
    offsets = Float64Array.from(s.offsets);
    let shift = 0;
    for (let k = 0; k < at.length; k++) {
      shift += growth[k]!;
      const end = k + 1 < at.length ? at[k + 1]! : offsets.length - 1;
      for (let j = at[k]! + 1; j <= end; j++) offsets[j] = s.offsets[j]! + shift;
    }
  }
  return { names: s.names, index: s.index, text: joinWithRoom(pieces), offsets };
}

const COMMA = Buffer.from(',');

/** New roles merged into the sorted entries; unchanged entries copied in runs from the old text. */
function merged(s: EntriesState, changed: ReadonlyMap<string, string>, added: string[]): EntriesState {
  const names = mergeSorted(s.names, added);
  const index = new Map<string, number>();
  const offsets = new Float64Array(names.length + 1);
  const pieces: Buffer[] = [];
  let runFrom = -1; // start, in the old text, of the run of unchanged entries being copied
  let runTo = -1;
  let at = 0;
  const flush = () => {
    if (runFrom < 0) return;
    pieces.push(s.text.subarray(runFrom, runTo));
    if (runTo > s.text.length) pieces.push(COMMA); // the old last entry has no "," of its own
    runFrom = -1;
  };
  for (let i = 0; i < names.length; i++) {
    const name = names[i]!;
    index.set(name, i);
    offsets[i] = at;
    const text = changed.get(name);
    if (text === undefined) {
      const old = s.index.get(name)!;
      const from = s.offsets[old]!;
      const to = s.offsets[old + 1]!; // the entry and its ","
      if (runFrom < 0 || runTo !== from) {
        flush();
        runFrom = from;
      }
      runTo = to;
      at += to - from;
    } else {
      flush();
      pieces.push(Buffer.from(`${text},`, 'latin1'));
      at += text.length + 1;
    }
  }
  flush();
  offsets[names.length] = at;
  const last = pieces.length - 1;
  if (last >= 0) pieces[last] = pieces[last]!.subarray(0, pieces[last]!.length - 1); // no "," after the last entry
  return { names, index, text: joinWithRoom(pieces), offsets };
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

/** Room after the signed bytes for `,"signatures":[...]}` (one signature is under 300 bytes). */
const SIGNATURES_ROOM = 1024;
const SIGNED_KEY = Buffer.from('{"signed":');

/** A snapshot file laid out in one buffer before it is signed: `signed` is a view into it. */
export interface SnapshotFileLayout {
  readonly signed: Buffer;
  readonly buffer: Buffer;
}

/**
 * The served file's buffer with the signed bytes in place, so they are signed where they lie and
 * the signatures written after them: one copy of the meta text instead of two (a snapshot is
 * megabytes at scale, and every megabyte allocated brings the next full collection closer).
 */
export function layOutSnapshotFile(version: number, expires: string, meta: Buffer): SnapshotFileLayout {
  if (!Number.isSafeInteger(version) || version < 1) throw new TufError('malformed', 'snapshot version must be a positive integer');
  if (!isTufDateTime(expires)) throw new TufError('malformed', 'snapshot expiry must look like 2030-01-01T00:00:00Z');
  const head = Buffer.from(`{"_type":"snapshot","expires":"${expires}","meta":{`);
  const tail = Buffer.from(`},"spec_version":"${SPEC_VERSION}","version":${version}}`);
  const before = SIGNED_KEY.length + head.length;
  if (withRoom.delete(meta) && before <= ROOM_BEFORE && tail.length + SIGNATURES_ROOM <= ROOM_AFTER) {
    // Written around the text where it lies (the text's own bytes are not touched).
    const start = meta.byteOffset - before;
    const buffer = Buffer.from(meta.buffer, start, before + meta.length + ROOM_AFTER);
    SIGNED_KEY.copy(buffer, 0);
    head.copy(buffer, SIGNED_KEY.length);
    tail.copy(buffer, before + meta.length);
    return { signed: buffer.subarray(SIGNED_KEY.length, before + meta.length + tail.length), buffer };
  }
  const buffer = Buffer.allocUnsafe(before + meta.length + tail.length + SIGNATURES_ROOM);
  let at = SIGNED_KEY.copy(buffer, 0);
  at += head.copy(buffer, at);
  at += meta.copy(buffer, at);
  at += tail.copy(buffer, at);
  return { signed: buffer.subarray(SIGNED_KEY.length, at), buffer };
}

/** The file of a layout with its signatures: byte for byte what `snapshotFileBytes` gives. */
export function finishSnapshotFile(layout: SnapshotFileLayout, signatures: readonly SignatureJson[]): Buffer {
  const sigs = signatures.map((s) => ({ keyid: s.keyid, sig: s.sig }));
  const suffix = Buffer.from(`,"signatures":${JSON.stringify(sigs)}}`);
  const end = SIGNED_KEY.length + layout.signed.length;
  if (suffix.length > layout.buffer.length - end) return Buffer.concat([layout.buffer.subarray(0, end), suffix]);
  suffix.copy(layout.buffer, end);
  return layout.buffer.subarray(0, end + suffix.length);
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
