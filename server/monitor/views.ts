// The monitor's rows as the public API shows them (core/monitorApi.ts).
import type { MonitorFindingJson, MonitorStatusJson } from '../../core/monitorApi.ts';
import type { MonitorFindingRow, MonitorStateRow } from '../db/rows.ts';
import type { MonitorConfig } from './monitorConfig.ts';

const num = (v: string | number | null | undefined) => (v === null || v === undefined ? null : Number(v));
const iso = (d: Date | null | undefined) => (d ? d.toISOString() : null);

export function findingView(r: MonitorFindingRow): MonitorFindingJson {
  return {
    id: Number(r.id),
    kind: r.kind,
    logUrl: r.log_url,
    identity: r.identity,
    issuer: r.issuer,
    projects: r.projects,
    logIndex: num(r.log_index),
    uuid: r.uuid,
    digest: r.digest,
    version: r.version,
    detail: r.detail,
    detectedAt: r.detected_at.toISOString(),
  };
}

export function statusView(o: {
  config: MonitorConfig;
  logUrl: string;
  now: Date;
  state: MonitorStateRow | undefined;
  watched: number;
  candidates: number;
  published: { checked: number; unchecked: number };
  findings: number;
  recent: MonitorFindingRow[];
}): MonitorStatusJson {
  const s = o.state;
  const lastSuccess = s?.last_success_at ?? null;
  // Stale: the latest poll could not read the log, or none succeeded for too long. Nothing is
  // concluded from a log that did not answer, so a stale monitor flags nothing new.
  const failingNow = s?.last_error_at && (!lastSuccess || s.last_error_at > lastSuccess);
  const tooOld = lastSuccess !== null && o.now.getTime() - lastSuccess.getTime() > o.config.staleAfterSeconds * 1000;
  const state = lastSuccess === null && !failingNow ? 'starting' : failingNow || tooOld ? 'stale' : 'ok';
  return {
    enabled: true,
    state,
    logUrl: o.logUrl,
    intervalSeconds: o.config.intervalSeconds,
    graceSeconds: o.config.graceSeconds,
    staleAfterSeconds: o.config.staleAfterSeconds,
    position: num(s?.next_log_index),
    treeSize: num(s?.tree_size),
    entriesRead: Number(s?.entries_read ?? 0),
    lastPollAt: iso(s?.last_poll_at),
    lastSuccessAt: iso(lastSuccess),
    lastError: s?.last_error ?? null,
    lastErrorAt: iso(s?.last_error_at),
    watchedIdentities: o.watched,
    candidatesWaiting: o.candidates,
    publishedSignatures: o.published,
    findings: o.findings,
    recentFindings: o.recent.map(findingView),
  };
}

/** What the API says when no monitor runs in this server. */
export function disabledStatus(): MonitorStatusJson {
  return {
    enabled: false,
    state: 'disabled',
    logUrl: null,
    intervalSeconds: 0,
    graceSeconds: 0,
    staleAfterSeconds: 0,
    position: null,
    treeSize: null,
    entriesRead: 0,
    lastPollAt: null,
    lastSuccessAt: null,
    lastError: null,
    lastErrorAt: null,
    watchedIdentities: 0,
    candidatesWaiting: 0,
    publishedSignatures: { checked: 0, unchecked: 0 },
    findings: 0,
    recentFindings: [],
  };
}
