// Admin pages: status and online keys, registrations pending approval, the audit log. They read
// the /admin/* JSON API with the token the admin types once; it stays in this tab's
// sessionStorage and travels only as a bearer header. Nothing here writes.
import { adminToken, api, ApiError, h, notice, render, table, when } from './console.js';

/** The token form, shown until a token is kept; a refused token is forgotten. */
function askForToken(title, message) {
  const input = h('input', {
    type: 'password',
    id: 'admin-token',
    name: 'token',
    autocomplete: 'off',
    required: true,
    spellcheck: 'false',
  });
  const form = h(
    'form',
    {
      class: 'inline',
      onsubmit: (e) => {
        e.preventDefault(); // the token must never become part of a URL
        adminToken.set(input.value.trim());
        location.reload();
      },
    },
    h('label', { for: 'admin-token' }, 'Admin token', input),
    h('button', { type: 'submit' }, 'Use this token'),
  );
  render(
    title,
    message ? notice(message, 'bad') : null,
    h(
      'p',
      {},
      'Admin pages need an admin token (tuf-server admin-token create). It is kept for this tab only and sent to this server alone.',
    ),
    form,
  );
  input.focus();
}

function forgetButton() {
  return h(
    'p',
    {},
    h(
      'button',
      {
        type: 'button',
        onclick: () => {
          adminToken.forget();
          location.reload();
        },
      },
      'Forget the admin token',
    ),
  );
}

/** Runs an admin page: asks for the token first, and again when it is refused. */
function adminPage(title, body) {
  return async (m, params) => {
    if (!adminToken.get()) return askForToken(title);
    try {
      await body(m, params);
    } catch (err) {
      if (err instanceof ApiError && err.status === 401) {
        adminToken.forget();
        return askForToken(title, 'The server refused that token (unknown or revoked). Enter another.');
      }
      throw err;
    }
  };
}

async function status() {
  const [s, resign, regs] = await Promise.all([
    api('/admin/status', { admin: true }),
    api('/admin/projects/resign-needed', { admin: true }),
    api('/admin/registrations?status=pending', { admin: true }),
  ]);
  const keys = s.onlineKeys ? Object.entries(s.onlineKeys) : [];
  render(
    'Admin: status',
    forgetButton(),
    h('p', {}, s.bootstrapped ? 'Bootstrapped.' : 'Not bootstrapped yet.'),
    h('h2', {}, 'Online keys on this server'),
    keys.length
      ? table(
          'The online keys this server signs with',
          ['Role', 'Type', 'Public key'],
          keys.map(([role, k]) =>
            h(
              'tr',
              {},
              h('td', {}, role),
              h('td', {}, `${k.keytype} / ${k.scheme}`),
              h('td', {}, h('code', {}, String(k.keyval?.public ?? '').slice(0, 64))),
            ),
          ),
        )
      : notice('No online keys found.', 'bad'),
    h('h2', {}, 'Offline roles'),
    table(
      'Roles signed offline: renew before they expire',
      ['Role', 'Version', 'Expires', 'State'],
      s.offlineExpiry.map((o) =>
        h(
          'tr',
          {},
          h('td', {}, o.role),
          h('td', {}, `v${o.version}`),
          h('td', {}, when(o.expires)),
          h(
            'td',
            {},
            h(
              'span',
              { class: `state ${o.expired ? 'bad' : o.warning ? 'warn' : 'ok'}` },
              o.expired ? 'expired' : o.warning ? 'ceremony soon' : 'ok',
            ),
          ),
        ),
      ),
    ),
    h('h2', {}, 'Projects awaiting re-signing'),
    resign.projects.length
      ? table(
          'Releases that no longer meet a changed delegation',
          ['Project', 'Version', 'Since', 'Reason'],
          resign.projects.map((p) =>
            h(
              'tr',
              {},
              h('td', {}, h('a', { href: `/console/projects/${encodeURIComponent(p.project)}` }, p.project)),
              h('td', {}, `v${p.version}`),
              h('td', {}, p.since),
              h('td', {}, p.reason),
            ),
          ),
        )
      : h('p', {}, 'None.'),
    h('h2', {}, 'Registrations'),
    h(
      'p',
      {},
      `${regs.registrations.length} pending, ${regs.contested.length} contested. `,
      h('a', { href: '/console/admin/registrations' }, 'Review them'),
    ),
  );
}

async function registrations() {
  const regs = await api('/admin/registrations?status=pending', { admin: true });
  const rows = regs.registrations.map((r) =>
    h(
      'tr',
      {},
      h('td', {}, String(r.id)),
      h('th', { scope: 'row' }, r.project),
      h('td', { class: 'mono' }, r.identity),
      h('td', { class: 'mono' }, r.issuer),
      h('td', {}, when(r.requestedAt)),
      h('td', {}, r.contested ? h('span', { class: 'state bad' }, `contested by ${r.competing.map((c) => c.identity).join(', ')}`) : 'no'),
    ),
  );
  render(
    'Admin: registrations pending approval',
    forgetButton(),
    h('p', {}, 'Approve offline: tuf-carry pull writes these to registrations.json, then tuf-offline delegate.'),
    regs.contested.length
      ? notice(
          `${regs.contested.length} contested project(s): ${regs.contested.map((c) => c.project).join(', ')}. Check with the maintainers out of band before accepting one.`,
          'bad',
        )
      : null,
    rows.length
      ? table('Pending registrations', ['ID', 'Project', 'Identity', 'Issuer', 'Requested', 'Contested'], rows)
      : h('p', {}, 'No pending registrations.'),
  );
}

const AUDIT_FILTERS = ['action', 'actor', 'role'];

async function audit(_m, params) {
  const filters = Object.fromEntries(AUDIT_FILTERS.map((f) => [f, params.get(f) ?? '']).filter(([, v]) => v !== ''));
  const before = params.get('before');
  const query = new URLSearchParams({ order: 'desc', limit: '50', ...filters, ...(before ? { before } : {}) });
  const { entries } = await api(`/admin/audit?${query}`, { admin: true });
  const field = (name, label) => h('label', {}, label, h('input', { type: 'text', name, value: filters[name] ?? '' }));
  const rows = entries.map((e) =>
    h(
      'tr',
      {},
      h('td', {}, String(e.id)),
      h('td', {}, when(e.at)),
      h('td', { class: 'mono' }, e.actor),
      h('td', { class: 'mono' }, e.action),
      h('td', {}, e.role ?? ''),
      h('td', {}, e.version ?? ''),
      h(
        'td',
        {},
        e.details ? h('details', {}, h('summary', {}, 'details'), h('pre', { class: 'mono' }, JSON.stringify(e.details, null, 2))) : '',
      ),
    ),
  );
  const last = entries[entries.length - 1];
  render(
    'Admin: audit log',
    forgetButton(),
    h(
      'form',
      { class: 'inline', method: 'get', action: '/console/admin/audit' },
      field('action', 'Action (or prefix, e.g. monitor)'),
      field('actor', 'Actor'),
      field('role', 'Role or project'),
      h('button', { type: 'submit' }, 'Filter'),
    ),
    rows.length
      ? table('Audit entries, newest first', ['ID', 'At', 'Actor', 'Action', 'Role', 'Version', 'Details'], rows)
      : h('p', {}, 'No entries.'),
    h(
      'p',
      { class: 'pager' },
      before ? h('a', { href: `/console/admin/audit?${new URLSearchParams(filters)}` }, 'Newest entries') : null,
      last && entries.length === 50
        ? h('a', { href: `/console/admin/audit?${new URLSearchParams({ ...filters, before: String(last.id) })}` }, 'Older entries')
        : null,
    ),
  );
}

export const adminPages = [
  { path: /^\/console\/admin$/, render: adminPage('Admin: status', status) },
  { path: /^\/console\/admin\/registrations$/, render: adminPage('Admin: registrations pending approval', registrations) },
  { path: /^\/console\/admin\/audit$/, render: adminPage('Admin: audit log', audit) },
];
