// Public pages: the repository at a glance, projects, one project's releases and who signed them,
// and the transparency monitor. They read public endpoints only and need no token.
import { api, h, notice, relative, render, table, when } from './console.js';

const DAY = 86_400;

/**
 * How a role's time to expiry reads: expired; an offline role within the warning window (a
 * ceremony is due soon); an online role is re-signed by the server on its own.
 */
function expiryState(role, warning) {
  if (role.expiresInSeconds <= 0) return ['bad', 'expired'];
  if (!role.offline) return ['ok', 'ok (re-signed by the server)'];
  if (role.expiresInSeconds <= warning) return ['warn', 'ceremony due soon'];
  return ['ok', 'ok'];
}

/** A bar of the time left against a one-year horizon, with the words for it beside. */
function timeline(role, warning) {
  const [kind, word] = expiryState(role, warning);
  const share = Math.max(0, Math.min(1, role.expiresInSeconds / (365 * DAY)));
  return h(
    'div',
    {},
    h(
      'div',
      { class: `bar ${kind}`, role: 'img', 'aria-label': `${role.role}: ${word}, expires ${relative(role.expiresInSeconds)}` },
      h('span', { style: null, 'data-share': share.toFixed(3) }),
    ),
    h('span', { class: `state ${kind}` }, word),
    ' ',
    when(role.expires),
  );
}

function signatureCell(role) {
  if (role.threshold === null) return h('span', { class: 'muted' }, `${role.signatures} signature(s)`);
  const met = role.signatures >= role.threshold;
  return h(
    'span',
    { class: `state ${met ? 'ok' : 'bad'}` },
    `${role.signatures} of ${role.keys} keys, threshold ${role.threshold}${met ? '' : ' (not met)'}`,
  );
}

function roleRows(roles, warning) {
  return roles.map((r) =>
    h(
      'tr',
      {},
      h('th', { scope: 'row' }, r.role, r.offline ? h('span', { class: 'muted' }, ' (offline)') : ''),
      h('td', {}, `v${r.version}`),
      h('td', {}, signatureCell(r)),
      h('td', {}, timeline(r, warning)),
    ),
  );
}

/** Sets each bar's width from its data attribute (no inline styles under the page's policy). */
function sizeBars(root) {
  for (const span of root.querySelectorAll('[data-share]')) span.style.width = `${Number(span.dataset.share) * 100}%`;
}

function monitorLine(m) {
  if (!m.enabled) return h('p', {}, 'No transparency monitor runs in this server.');
  const kind = m.state === 'ok' ? 'ok' : m.state === 'stale' ? 'bad' : 'warn';
  return h(
    'p',
    {},
    h('span', { class: `state ${kind}` }, `Monitor ${m.state}`),
    `: ${m.findings} finding(s), ${m.watchedIdentities} identities watched, last read of the log `,
    when(m.lastSuccessAt),
    '. ',
    h('a', { href: '/console/monitor' }, 'Details'),
  );
}

async function overview() {
  const [repo, ready, monitor] = await Promise.all([api('/api/v1/repository'), api('/readyz'), api('/api/v1/monitor')]);
  const warning = repo.expiryWarningSeconds;
  const checks = Object.entries(ready.checks).map(([name, c]) =>
    h(
      'tr',
      {},
      h('th', { scope: 'row' }, name),
      h('td', {}, h('span', { class: `state ${c.ok ? 'ok' : 'bad'}` }, c.ok ? 'ok' : 'failing')),
      h('td', {}, c.detail ?? ''),
    ),
  );
  render(
    'Repository overview',
    h('h2', {}, 'Readiness'),
    h('p', {}, h('span', { class: `state ${ready.status === 'ready' ? 'ok' : 'bad'}` }, ready.status === 'ready' ? 'Ready' : 'Not ready')),
    table('Readiness checks', ['Check', 'State', 'Detail'], checks),
    ready.warnings.map((w) => notice(w)),
    h('h2', {}, 'Top-level roles'),
    repo.roles.length === 0
      ? notice('Not bootstrapped yet: no root is published.')
      : table(
          'Top-level roles: version, signatures and time to expiry',
          ['Role', 'Version', 'Signatures', 'Expiry'],
          roleRows(repo.roles, warning),
        ),
    h('h2', {}, 'Bins'),
    repo.bins.count === 0
      ? h('p', {}, 'Flat layout: top-level targets delegates the projects itself.')
      : [
          h(
            'p',
            {},
            `${repo.bins.count} bins; ${repo.bins.expiringSoon} expire within ${Math.round(warning / DAY)} days, ${repo.bins.expired} expired.`,
          ),
          table('The bins that expire first', ['Bin', 'Version', 'Signatures', 'Expiry'], roleRows(repo.bins.soonest, warning)),
        ],
    h('h2', {}, 'Online keys'),
    table(
      'Online keys named by root',
      ['Role', 'Key ID', 'Type'],
      repo.onlineKeys.map((k) =>
        h('tr', {}, h('td', {}, k.role), h('td', {}, h('code', {}, k.keyid)), h('td', {}, `${k.keytype} / ${k.scheme}`)),
      ),
    ),
    h('h2', {}, 'Transparency monitor'),
    monitorLine(monitor),
  );
  sizeBars(document.getElementById('main'));
}

async function projects(_m, params) {
  const q = params.get('q') ?? '';
  const after = params.get('after');
  const list = await api(`/api/v1/projects?${new URLSearchParams({ q, limit: '50', ...(after ? { after } : {}) })}`);
  const rows = list.projects.map((p) =>
    h(
      'tr',
      {},
      h('th', { scope: 'row' }, h('a', { href: `/console/projects/${encodeURIComponent(p.project)}` }, p.project)),
      h('td', {}, p.version === null ? h('span', { class: 'muted' }, 'none yet') : `v${p.version}`),
      h('td', {}, `${p.threshold} of ${p.maintainers.length}`),
      h(
        'td',
        {},
        p.maintainers.map((x) => h('div', { class: 'mono' }, x.identity)),
      ),
      h('td', {}, p.delegator),
    ),
  );
  render(
    'Projects',
    h(
      'form',
      { class: 'inline', role: 'search', method: 'get', action: '/console/projects' },
      h('label', {}, 'Search projects by name', h('input', { type: 'search', name: 'q', value: q })),
      h('button', { type: 'submit' }, 'Search'),
    ),
    h('p', { role: 'status' }, `${list.total} project(s)${q ? ` matching “${q}”` : ''}.`),
    rows.length ? table('Delegated projects', ['Project', 'Version', 'Threshold', 'Maintainers', 'Delegated by'], rows) : null,
    list.next
      ? h('p', { class: 'pager' }, h('a', { href: `/console/projects?${new URLSearchParams({ q, after: list.next })}` }, 'Next projects'))
      : null,
  );
}

function signers(sigs) {
  return sigs.map((s) =>
    h(
      'div',
      {},
      s.identity ? h('span', { class: 'mono' }, s.identity) : h('code', {}, s.keyid.slice(0, 16)),
      s.logIndex !== null ? h('span', { class: 'muted' }, ` (log entry ${s.logIndex})`) : '',
    ),
  );
}

async function project(m, params) {
  const name = decodeURIComponent(m[1]);
  const before = params.get('before');
  const [info, history, findings] = await Promise.all([
    api(`/api/v1/projects/${encodeURIComponent(name)}`),
    api(`/api/v1/projects/${encodeURIComponent(name)}/history?${new URLSearchParams({ limit: '20', ...(before ? { before } : {}) })}`),
    api(`/api/v1/monitor/findings?limit=100`),
  ]);
  const flagged = findings.findings.filter((f) => f.projects.includes(name));
  const maintainerRows = info.maintainers.map((x) =>
    h('tr', {}, h('td', { class: 'mono' }, x.identity), h('td', { class: 'mono' }, x.issuer)),
  );
  const pendingRows = info.pending.map((p) =>
    h('tr', {}, h('td', {}, `v${p.version}`), h('td', {}, `${p.signedBy.length} of ${info.threshold}`), h('td', {}, when(p.createdAt))),
  );
  const releaseRows = history.versions.map((v) =>
    h(
      'tr',
      {},
      h('th', { scope: 'row' }, `v${v.version}`),
      h('td', {}, when(v.publishedAt)),
      h('td', {}, when(v.expires)),
      h(
        'td',
        {},
        v.targets.map((t) => h('div', { class: 'mono' }, t.path)),
      ),
      h('td', {}, signers(v.signatures)),
    ),
  );
  render(
    `Project ${name}`,
    info.delegated ? null : notice('This project is not delegated to anyone.', 'bad'),
    info.needsResigning
      ? notice(
          `Re-signing needed: v${info.needsResigning.version} no longer meets its delegation since ${info.needsResigning.since} (${info.needsResigning.reason}).`,
          'bad',
        )
      : null,
    flagged.length
      ? notice(
          `The transparency monitor flagged ${flagged.length} log entr${flagged.length === 1 ? 'y' : 'ies'} for this project's maintainers (see below).`,
          'bad',
        )
      : null,
    h(
      'dl',
      { class: 'facts' },
      h('dt', {}, 'Current version'),
      h('dd', {}, info.version === null ? 'none published' : `v${info.version}`),
      h('dt', {}, 'Threshold'),
      h('dd', {}, info.threshold === null ? '—' : `${info.threshold} of ${info.maintainers.length} maintainers`),
      h('dt', {}, 'Paths'),
      h('dd', { class: 'mono' }, info.paths.join(', ') || '—'),
    ),
    h('h2', {}, 'Maintainers'),
    maintainerRows.length
      ? table('Maintainers (identity and issuer, compared exactly)', ['Identity', 'Issuer'], maintainerRows)
      : h('p', {}, 'None.'),
    h('h2', {}, 'Pending versions'),
    pendingRows.length
      ? table('Versions waiting for signatures or files', ['Version', 'Signatures', 'Since'], pendingRows)
      : h('p', {}, 'None.'),
    h('h2', {}, 'Releases'),
    releaseRows.length
      ? table('Published versions and who signed them', ['Version', 'Published', 'Expires', 'Files', 'Signed by'], releaseRows)
      : h('p', {}, 'No version published yet.'),
    h(
      'p',
      { class: 'pager' },
      before ? h('a', { href: location.pathname }, 'Newest releases') : null,
      history.next ? h('a', { href: `${location.pathname}?before=${history.next}` }, 'Older releases') : null,
    ),
    flagged.length ? [h('h2', {}, 'Monitor findings'), findingsTable(flagged)] : null,
  );
}

export function findingsTable(findings) {
  return table(
    'Transparency monitor findings',
    ['Kind', 'Identity', 'Projects', 'Log entry', 'What', 'Detected'],
    findings.map((f) =>
      h(
        'tr',
        {},
        h('td', {}, h('span', { class: 'state bad' }, f.kind.replaceAll('_', ' '))),
        h('td', { class: 'mono' }, f.identity),
        h('td', {}, f.projects.join(', ')),
        h('td', {}, f.logIndex ?? '—'),
        h('td', {}, f.detail),
        h('td', {}, when(f.detectedAt)),
      ),
    ),
  );
}

async function monitor() {
  const m = await api('/api/v1/monitor');
  if (!m.enabled) return render('Transparency monitor', h('p', {}, 'No transparency monitor runs in this server (MONITOR_ENABLED).'));
  const all = await api('/api/v1/monitor/findings?limit=200');
  const kind = m.state === 'ok' ? 'ok' : m.state === 'stale' ? 'bad' : 'warn';
  render(
    'Transparency monitor',
    m.state === 'stale'
      ? notice(
          `Stale: the log has not been read since ${m.lastSuccessAt ?? 'the start'}${m.lastError ? ` (${m.lastError})` : ''}. Nothing is flagged until it answers again.`,
          'bad',
        )
      : null,
    h(
      'dl',
      { class: 'facts' },
      h('dt', {}, 'State'),
      h('dd', {}, h('span', { class: `state ${kind}` }, m.state)),
      h('dt', {}, 'Log'),
      h('dd', { class: 'mono' }, m.logUrl),
      h('dt', {}, 'Position'),
      h('dd', {}, `${m.position ?? '—'} of ${m.treeSize ?? '—'} entries (${m.entriesRead} read)`),
      h('dt', {}, 'Last successful poll'),
      h('dd', {}, when(m.lastSuccessAt)),
      h('dt', {}, 'Last error'),
      h('dd', {}, m.lastError ? [m.lastError, ' ', when(m.lastErrorAt)] : 'none'),
      h('dt', {}, 'Watching'),
      h(
        'dd',
        {},
        `${m.watchedIdentities} delegated identities; ${m.candidatesWaiting} entries within their ${m.graceSeconds} s grace period`,
      ),
      h('dt', {}, 'Published signatures checked'),
      h('dd', {}, `${m.publishedSignatures.checked} (${m.publishedSignatures.unchecked} waiting)`),
    ),
    h('h2', {}, `Findings (${m.findings})`),
    all.findings.length ? findingsTable(all.findings) : h('p', {}, 'Nothing flagged.'),
  );
}

export const publicPages = [
  { path: /^\/console$/, render: overview },
  { path: /^\/console\/projects$/, render: projects },
  { path: /^\/console\/projects\/([^/]+)$/, render: project },
  { path: /^\/console\/monitor$/, render: monitor },
];
