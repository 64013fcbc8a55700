// The repository side of the comparison: every identity signature the repository received, read
// once from where it is stored (published versions, pending versions, registrations) into
// monitor_signatures, with the signed digest, the certificate's identity and the bundle's log entry.
// Incremental: each source is read from a cursor, so a poll costs what arrived since the last one.
import { canonicalBytes, isPlainObject, sha256Hex } from '../../core/canonical.ts';
import { bundleEvidence } from '../../core/rekorEntry.ts';
import type { Db } from '../db/knex.ts';
import {
  delegatedVersionsAfter,
  getMonitorCursor,
  insertMonitorSignatures,
  pendingChangedSince,
  registrationsAfter,
  setMonitorCursor,
  type NewMonitorSignature,
} from '../db/monitorRepo.ts';

const BATCH = 200;

type Source = NewMonitorSignature['source'];

/** The identity signatures over `signed` in a list of signatures, as rows. */
export function signatureRows(
  source: Source,
  role: string,
  version: number | null,
  signed: unknown,
  signatures: unknown,
  receivedAt: Date,
): NewMonitorSignature[] {
  if (!isPlainObject(signed) || !Array.isArray(signatures)) return [];
  const digest = sha256Hex(canonicalBytes(signed));
  const rows: NewMonitorSignature[] = [];
  for (const sig of signatures) {
    const ev = bundleEvidence(sig);
    if (!ev) continue; // a key signature (bins, top-level roles) or no readable bundle
    rows.push({
      source,
      role,
      version,
      signed_sha256: digest,
      identity: ev.identity,
      issuer: ev.issuer,
      log_index: ev.logIndex === null ? null : String(ev.logIndex),
      log_id: ev.logID,
      body_sha256: ev.bodySha256,
      received_at: receivedAt,
    });
  }
  return rows;
}

/** Reads what arrived since the last call into monitor_signatures; returns how many rows were read. */
export async function indexRepositorySignatures(db: Db): Promise<number> {
  const cursor = await getMonitorCursor(db);
  let read = 0;

  let metadataId = cursor.metadata_id;
  for (;;) {
    const versions = await delegatedVersionsAfter(db, metadataId, BATCH);
    if (versions.length === 0) break;
    const rows: NewMonitorSignature[] = [];
    for (const v of versions) {
      let doc: { signed?: unknown; signatures?: unknown };
      try {
        if (!v.bytes) continue; // only snapshot versions are stored as deltas, and they are not listed here
        doc = JSON.parse(v.bytes.toString('utf8'));
      } catch {
        continue;
      }
      rows.push(...signatureRows('published', v.role, v.version, doc.signed, doc.signatures, v.created_at));
    }
    await insertMonitorSignatures(db, rows);
    metadataId = versions[versions.length - 1]!.id;
    await setMonitorCursor(db, { metadata_id: metadataId });
    read += versions.length;
  }

  let registrationId = cursor.registration_id;
  for (;;) {
    const regs = await registrationsAfter(db, registrationId, BATCH);
    if (regs.length === 0) break;
    const rows: NewMonitorSignature[] = [];
    for (const r of regs) {
      const ev = bundleEvidence(r.signature);
      if (!ev) continue;
      // The request's signed bytes are not stored, their digest is: what the log entry signs.
      rows.push({
        source: 'registration',
        role: r.project,
        version: null,
        signed_sha256: r.request_sha256,
        identity: ev.identity,
        issuer: ev.issuer,
        log_index: ev.logIndex === null ? null : String(ev.logIndex),
        log_id: ev.logID,
        body_sha256: ev.bodySha256,
        received_at: r.created_at,
      });
    }
    await insertMonitorSignatures(db, rows);
    registrationId = regs[regs.length - 1]!.id;
    await setMonitorCursor(db, { registration_id: registrationId });
    read += regs.length;
  }

  // Pending versions change in place (co-signatures merge in): read from their last change, again
  // at the same time stamp (rows already indexed are ignored by the unique key).
  let since = cursor.pending_updated_at;
  for (;;) {
    const pending = await pendingChangedSince(db, since, BATCH);
    const rows = pending.flatMap((p) =>
      signatureRows('pending', p.role, p.version, p.envelope.signed, p.envelope.signatures, p.updated_at),
    );
    await insertMonitorSignatures(db, rows);
    read += pending.length;
    const last = pending[pending.length - 1]?.updated_at;
    if (!last) break;
    await setMonitorCursor(db, { pending_updated_at: last });
    if (pending.length < BATCH || last.getTime() === since.getTime()) break;
    since = last;
  }
  return read;
}
