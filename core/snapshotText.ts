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

/** What a snapshot lists, entry by entry, with each entry's canonical text. */
export class SnapshotEntries {
  private readonly texts = new Map<string, string>();
  private names: string[] = []; // sorted

  get size(): number {
    return this.texts.size;
  }

  has(name: string): boolean {
    return this.texts.has(name);
  }

  /**
   * The meta object's text with `changes` applied over these entries, and a function that applies
   * them here for good. Nothing changes here until `commit` is called. (The server commits when
   * the snapshot row is written; should its transaction still roll back, the entries no longer
   * match the stored snapshot's digest and the server rebuilds them from every role.)
   */
  withChanges(changes: ReadonlyMap<string, SnapshotMetaEntry>): { metaText: string; size: number; commit(): void } {
    const changed = new Map<string, string>();
    for (const [name, entry] of changes) changed.set(name, metaEntryText(name, entry));
    const added = [...changed.keys()].filter((n) => !this.texts.has(n)).sort();
    const names = added.length > 0 ? mergeSorted(this.names, added) : this.names;
    const parts: string[] = new Array(names.length);
    for (let i = 0; i < names.length; i++) parts[i] = changed.get(names[i]!) ?? this.texts.get(names[i]!)!;
    return {
      metaText: parts.join(','),
      size: names.length,
      commit: () => {
        for (const [name, text] of changed) this.texts.set(name, text);
        this.names = names;
      },
    };
  }
}

/** Canonical bytes of a snapshot's `signed`, from the meta object's text. */
export function snapshotSignedBytes(version: number, expires: string, metaText: string): Buffer {
  if (!Number.isSafeInteger(version) || version < 1) throw new TufError('malformed', 'snapshot version must be a positive integer');
  if (!isTufDateTime(expires)) throw new TufError('malformed', 'snapshot expiry must look like 2030-01-01T00:00:00Z');
  // Keys in canonical order: _type, expires, meta, spec_version, version.
  return Buffer.from(
    `{"_type":"snapshot","expires":"${expires}","meta":{${metaText}},"spec_version":"${SPEC_VERSION}","version":${version}}`,
    'utf8',
  );
}

/**
 * Signs snapshot bytes and returns the served file: `{"signed":<canonical>,"signatures":[...]}`,
 * valid JSON because the canonical text holds only printable ASCII.
 */
export async function signSnapshotBytes(signedBytes: Buffer, signers: Signer[]): Promise<Buffer> {
  const signatures: SignatureJson[] = [];
  for (const signer of signers) signatures.push({ keyid: signer.keyid, sig: await signer.sign(signedBytes) });
  return Buffer.concat([Buffer.from('{"signed":'), signedBytes, Buffer.from(`,"signatures":${JSON.stringify(signatures)}}`)]);
}
