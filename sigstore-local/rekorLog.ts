// The local Rekor's log: an append-only list of entries (hashedrekord signatures, and dsse
// attestations as Rekor stores them) with sequential indexes, a real RFC 6962
// Merkle tree over them, and the search index Rekor keeps, served with Rekor's v1 API shapes
// (entries by index and UUID, batch retrieval, index search by e-mail, hash and public key, log
// info with a signed checkpoint). @sigstore/mock's Rekor answers each entry with a random index
// and a one-leaf tree and keeps nothing, which a transparency monitor cannot read back.
//
// Kept in DEV_DIR/sigstore/rekor-log.jsonl when a state directory is given (one line per entry),
// so signatures the repository holds stay findable across restarts. Several processes may serve
// the same log (the workers of `tuf-server start`, each with a local Sigstore of its own): the
// file is the log, each process reads what the others appended before it answers, and appends
// under a lock file, so every entry has one index whichever worker was asked.
import crypto, { type KeyObject } from 'node:crypto';
import fs from 'node:fs';
import { canonicalize } from '@tufjs/canonical-json';
import { X509Certificate } from '@sigstore/core';
import { inclusionPath, leafHash, rootOf } from './merkle.ts';

/** Entries one batch retrieval may ask for (Rekor's own limit is configurable; 10 is its default). */
export const MAX_RETRIEVE = 10;

interface StoredLine {
  body: string;
  integratedTime: number;
  set: string;
}

/** A lock file older than this was left by a process that died holding it (an append takes microseconds). */
const STALE_LOCK_MS = 10_000;
/** How long an append waits for another process's lock before it fails. */
const LOCK_WAIT_MS = 5_000;

function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/** Runs `work` holding `lockFile` (created exclusively), across processes. */
function withFileLock<T>(lockFile: string, work: () => T): T {
  const deadline = Date.now() + LOCK_WAIT_MS;
  for (;;) {
    try {
      fs.closeSync(fs.openSync(lockFile, 'wx', 0o600));
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      try {
        if (Date.now() - fs.statSync(lockFile).mtimeMs > STALE_LOCK_MS) fs.rmSync(lockFile, { force: true });
      } catch {
        // removed meanwhile: try again
      }
      if (Date.now() > deadline) throw new RekorError(503, 'the log is locked by another process; retry shortly');
      sleepSync(2);
    }
  }
  try {
    return work();
  } finally {
    fs.rmSync(lockFile, { force: true });
  }
}

interface Entry extends StoredLine {
  uuid: string;
  logIndex: number;
  leaf: Buffer;
}

export class RekorError extends Error {
  constructor(
    readonly status: 400 | 404 | 409 | 422 | 503,
    message: string,
    readonly location?: string,
  ) {
    super(message);
  }
}

/** A proposed hashedrekord v0.0.1 entry, checked for the fields Rekor requires. */
function parseHashedRekord(proposed: unknown): { hash: string; key: Buffer } {
  const p = proposed as {
    kind?: unknown;
    apiVersion?: unknown;
    spec?: {
      data?: { hash?: { algorithm?: unknown; value?: unknown } };
      signature?: { content?: unknown; publicKey?: { content?: unknown } };
    };
  };
  if (p?.kind !== 'hashedrekord' || p.apiVersion !== '0.0.1')
    throw new RekorError(400, 'this log takes hashedrekord and dsse 0.0.1 entries only');
  const hash = p.spec?.data?.hash;
  if (hash?.algorithm !== 'sha256' || typeof hash.value !== 'string' || !/^[0-9a-f]{64}$/.test(hash.value)) {
    throw new RekorError(400, 'spec.data.hash must be a sha256 in lowercase hex');
  }
  const sig = p.spec?.signature;
  if (typeof sig?.content !== 'string' || sig.content.length === 0) throw new RekorError(400, 'missing signature content');
  if (typeof sig.publicKey?.content !== 'string') throw new RekorError(400, 'missing public key content');
  return { hash: hash.value, key: Buffer.from(sig.publicKey.content, 'base64') };
}

/**
 * A proposed dsse v0.0.1 entry in the form Rekor stores it: Rekor replaces the proposed envelope
 * with its hashes and the signatures with their verifiers, and verifiers compare a bundle against
 * that form (build-provenance attestations are logged so).
 */
function storedDsse(proposed: unknown): Record<string, unknown> {
  const p = proposed as { apiVersion?: unknown; spec?: { proposedContent?: { envelope?: unknown; verifiers?: unknown } } };
  const content = p.spec?.proposedContent;
  if (
    p.apiVersion !== '0.0.1' ||
    typeof content?.envelope !== 'string' ||
    !Array.isArray(content.verifiers) ||
    content.verifiers.length === 0
  )
    throw new RekorError(400, 'a dsse 0.0.1 entry needs spec.proposedContent with an envelope and verifiers');
  let envelope: { payload?: unknown; signatures?: unknown };
  try {
    envelope = JSON.parse(content.envelope);
  } catch {
    throw new RekorError(400, 'the dsse envelope is not JSON');
  }
  if (typeof envelope.payload !== 'string' || !Array.isArray(envelope.signatures) || envelope.signatures.length === 0)
    throw new RekorError(400, 'the dsse envelope needs a payload and signatures');
  const verifiers = content.verifiers.map(String);
  const sha256 = (b: Buffer | string) => crypto.createHash('sha256').update(b).digest('hex');
  return {
    apiVersion: '0.0.1',
    kind: 'dsse',
    spec: {
      envelopeHash: { algorithm: 'sha256', value: sha256(content.envelope) },
      payloadHash: { algorithm: 'sha256', value: sha256(Buffer.from(envelope.payload, 'base64')) },
      signatures: (envelope.signatures as { sig?: unknown }[]).map((sig, i) => ({
        signature: String(sig.sig),
        verifier: verifiers[i] ?? verifiers[0]!,
      })),
    },
  };
}

/** The entry as stored: a hashedrekord as proposed, a dsse as Rekor rewrites it; anything else refused. */
function toStored(proposed: unknown): unknown {
  const kind = (proposed as { kind?: unknown } | null)?.kind;
  if (kind === 'dsse') return storedDsse(proposed);
  parseHashedRekord(proposed);
  return proposed;
}

/** The certificate subjects (lowercase) of a base64 PEM, for the index; none for a bare key. */
function subjectsOf(pem: Buffer): string[] {
  try {
    const san = X509Certificate.parse(pem.toString('utf8')).extSubjectAltName;
    return [san?.rfc822Name, san?.uri].filter((n): n is string => !!n).map((n) => n.toLowerCase());
  } catch {
    return [];
  }
}

/**
 * What Rekor indexes an entry by: for a hashedrekord the key's SHA-256, the certificate's subjects
 * and the artifact hash; for a dsse each verifier's SHA-256 and subjects, and the payload and
 * envelope hashes.
 */
function indexKeys(body: Buffer): string[] {
  const doc = JSON.parse(body.toString('utf8')) as { kind?: string; spec?: Record<string, unknown> };
  const digest = (b: Buffer) => crypto.createHash('sha256').update(b).digest('hex');
  if (doc.kind === 'dsse') {
    const spec = doc.spec as { envelopeHash: { value: string }; payloadHash: { value: string }; signatures: { verifier: string }[] };
    const keys = [`sha256:${spec.payloadHash.value}`, `sha256:${spec.envelopeHash.value}`];
    for (const s of spec.signatures) {
      const pem = Buffer.from(s.verifier, 'base64');
      keys.push(digest(pem), ...subjectsOf(pem));
    }
    return keys;
  }
  const { hash, key } = parseHashedRekord(doc);
  return [digest(key), `sha256:${hash}`, ...subjectsOf(key)];
}

export interface SearchQuery {
  email?: string;
  hash?: string;
  publicKey?: { format?: string; content?: string };
  operator?: 'and' | 'or';
}

export class RekorLog {
  private readonly entries: Entry[] = [];
  private readonly byUuid = new Map<string, Entry>();
  private readonly index = new Map<string, Set<string>>();
  private readonly leaves: Buffer[] = [];
  /** Bytes of the file read so far: what other processes append after it is read before each answer. */
  private fileOffset = 0;
  readonly logID: Buffer;
  /** Names this tree in checkpoints and 80-hex entry IDs, as Rekor's shards do. */
  readonly treeID: string;

  constructor(
    private readonly host: string,
    private readonly key: { publicKey: KeyObject; privateKey: KeyObject },
    private readonly file: string | null,
    private readonly clock: () => Date = () => new Date(),
  ) {
    this.logID = crypto
      .createHash('sha256')
      .update(key.publicKey.export({ format: 'der', type: 'spki' }))
      .digest();
    this.treeID = String(this.logID.readUIntBE(0, 6));
    this.catchUp();
  }

  /** Takes in the lines appended to the file since it was last read (by this or another process). */
  private catchUp(): void {
    if (!this.file) return;
    let fd: number;
    try {
      fd = fs.openSync(this.file, 'r');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw err;
    }
    try {
      const size = fs.fstatSync(fd).size;
      if (size <= this.fileOffset) return;
      const buf = Buffer.alloc(size - this.fileOffset);
      const read = fs.readSync(fd, buf, 0, buf.length, this.fileOffset);
      // Whole lines only: one being appended right now is taken next time.
      const end = buf.subarray(0, read).lastIndexOf(0x0a) + 1;
      for (const line of buf.subarray(0, end).toString('utf8').split('\n')) if (line.trim()) this.add(JSON.parse(line) as StoredLine);
      this.fileOffset += end;
    } finally {
      fs.closeSync(fd);
    }
  }

  get size(): number {
    this.catchUp();
    return this.entries.length;
  }

  private add(line: StoredLine): Entry {
    const body = Buffer.from(line.body, 'base64');
    const leaf = leafHash(body);
    const entry: Entry = { ...line, uuid: leaf.toString('hex'), logIndex: this.entries.length, leaf };
    this.entries.push(entry);
    this.leaves.push(leaf);
    this.byUuid.set(entry.uuid, entry);
    for (const k of indexKeys(body)) {
      let set = this.index.get(k);
      if (!set) this.index.set(k, (set = new Set()));
      set.add(entry.uuid);
    }
    return entry;
  }

  /** POST /api/v1/log/entries: appends a proposed entry; a body already logged is a 409, as in Rekor. */
  append(proposed: unknown): Record<string, unknown> {
    const body = Buffer.from(canonicalize(toStored(proposed) as never), 'utf8');
    if (!this.file) return this.appendBody(body);
    return withFileLock(`${this.file}.lock`, () => {
      this.catchUp();
      return this.appendBody(body);
    });
  }

  private appendBody(body: Buffer): Record<string, unknown> {
    const uuid = leafHash(body).toString('hex');
    if (this.byUuid.has(uuid)) throw new RekorError(409, 'an equivalent entry already exists in the log', `/api/v1/log/entries/${uuid}`);
    const integratedTime = Math.floor(this.clock().getTime() / 1000);
    const logIndex = this.entries.length;
    // The signed entry timestamp: the log's promise to include exactly this body at this index.
    const promise = canonicalize({ body: body.toString('base64'), integratedTime, logIndex, logID: this.logID.toString('hex') });
    const set = crypto.sign('sha256', Buffer.from(promise, 'utf8'), this.key.privateKey).toString('base64');
    const line: StoredLine = { body: body.toString('base64'), integratedTime, set };
    if (this.file) {
      const text = `${JSON.stringify(line)}\n`;
      fs.appendFileSync(this.file, text, { mode: 0o600 });
      this.fileOffset += Buffer.byteLength(text); // under the lock: nobody appended in between
    }
    return this.view(this.add(line));
  }

  /** A signed checkpoint (a signed note, as Rekor's) for the tree of the first `size` entries. */
  checkpoint(size = this.entries.length): { note: string; root: Buffer } {
    const root = rootOf(this.leaves, 0, size);
    const note = `${this.host} - ${this.treeID}\n${size}\n${root.toString('base64')}\nTimestamp: ${BigInt(this.clock().getTime()) * 1_000_000n}\n`;
    const sig = crypto.sign('sha256', Buffer.from(note, 'utf8'), this.key.privateKey);
    const hinted = Buffer.concat([this.logID.subarray(0, 4), sig]).toString('base64');
    return { note: `${note}\n\u2014 ${this.host} ${hinted}\n`, root };
  }

  /** One entry as Rekor answers it: `{uuid: {body, integratedTime, logID, logIndex, verification}}`, proven against the current tree. */
  private view(entry: Entry): Record<string, unknown> {
    const size = this.entries.length;
    const { note, root } = this.checkpoint(size);
    return {
      [entry.uuid]: {
        body: entry.body,
        integratedTime: entry.integratedTime,
        logID: this.logID.toString('hex'),
        logIndex: entry.logIndex,
        verification: {
          inclusionProof: {
            checkpoint: note,
            hashes: inclusionPath(this.leaves, entry.logIndex, size).map((h) => h.toString('hex')),
            logIndex: entry.logIndex,
            rootHash: root.toString('hex'),
            treeSize: size,
          },
          signedEntryTimestamp: entry.set,
        },
      },
    };
  }

  /** GET /api/v1/log/entries/{uuid}: the 64-hex UUID, or the 80-hex entry ID that prefixes the tree ID. */
  byUuidOrId(id: string): Record<string, unknown> {
    this.catchUp();
    const lower = id.toLowerCase();
    const uuid = /^[0-9a-f]{80}$/.test(lower) ? lower.slice(16) : lower;
    const entry = /^[0-9a-f]{64}$/.test(uuid) ? this.byUuid.get(uuid) : undefined;
    if (!entry) throw new RekorError(404, `no entry ${id} in the log`);
    return this.view(entry);
  }

  /** GET /api/v1/log/entries?logIndex=N */
  byIndex(logIndex: number): Record<string, unknown> {
    this.catchUp();
    const entry = this.entries[logIndex];
    if (!Number.isSafeInteger(logIndex) || !entry) throw new RekorError(404, `no entry at index ${logIndex}`);
    return this.view(entry);
  }

  /** POST /api/v1/log/entries/retrieve: entries found by UUID or index (missing ones left out), at most MAX_RETRIEVE asked. */
  retrieve(query: { entryUUIDs?: unknown; logIndexes?: unknown }): Record<string, unknown>[] {
    this.catchUp();
    const uuids = Array.isArray(query.entryUUIDs) ? query.entryUUIDs : [];
    const indexes = Array.isArray(query.logIndexes) ? query.logIndexes : [];
    if (uuids.length + indexes.length === 0) throw new RekorError(422, 'give entryUUIDs or logIndexes');
    if (uuids.length + indexes.length > MAX_RETRIEVE) throw new RekorError(422, `at most ${MAX_RETRIEVE} entries per request`);
    const out: Record<string, unknown>[] = [];
    for (const u of uuids) {
      if (typeof u !== 'string') throw new RekorError(422, 'entryUUIDs must be strings');
      try {
        out.push(this.byUuidOrId(u));
      } catch (err) {
        if (!(err instanceof RekorError && err.status === 404)) throw err;
      }
    }
    for (const i of indexes) {
      if (!Number.isSafeInteger(i) || (i as number) < 0) throw new RekorError(422, 'logIndexes must be non-negative integers');
      const entry = this.entries[i as number];
      if (entry) out.push(this.view(entry));
    }
    return out;
  }

  /** POST /api/v1/index/retrieve: the UUIDs of entries matching the query (Rekor ORs the criteria unless told `and`). */
  search(query: SearchQuery): string[] {
    this.catchUp();
    const sets: Set<string>[] = [];
    if (query.email !== undefined) {
      if (typeof query.email !== 'string' || !/^[^\s@]+@[^\s@]+$/.test(query.email))
        throw new RekorError(422, 'email must be an e-mail address');
      sets.push(this.index.get(query.email.toLowerCase()) ?? new Set());
    }
    if (query.hash !== undefined) {
      const m = typeof query.hash === 'string' ? /^(?:sha256:)?([0-9a-fA-F]{64})$/.exec(query.hash) : null;
      if (!m) throw new RekorError(422, 'hash must be a sha256 (optionally prefixed sha256:)');
      sets.push(this.index.get(`sha256:${m[1]!.toLowerCase()}`) ?? new Set());
    }
    if (query.publicKey !== undefined) {
      if (query.publicKey?.format !== 'x509' || typeof query.publicKey.content !== 'string')
        throw new RekorError(422, 'publicKey: this log searches x509 keys given as content');
      const digest = crypto.createHash('sha256').update(Buffer.from(query.publicKey.content, 'base64')).digest('hex');
      sets.push(this.index.get(digest) ?? new Set());
    }
    if (sets.length === 0) throw new RekorError(422, 'give email, hash or publicKey');
    const and = query.operator === 'and';
    let result = new Set(sets[0]);
    for (const s of sets.slice(1)) result = and ? new Set([...result].filter((u) => s.has(u))) : new Set([...result, ...s]);
    // In log order, as the entries were appended.
    return [...result].sort((a, b) => this.byUuid.get(a)!.logIndex - this.byUuid.get(b)!.logIndex);
  }

  /** GET /api/v1/log */
  info(): Record<string, unknown> {
    this.catchUp();
    const { note, root } = this.checkpoint();
    return { rootHash: root.toString('hex'), treeSize: this.entries.length, signedTreeHead: note, treeID: this.treeID, inactiveShards: [] };
  }
}
