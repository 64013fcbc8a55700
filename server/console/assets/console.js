// The console's entry point: picks the page its path names and renders it from the JSON API.
// Elements are built with textContent only (never innerHTML), so nothing a name or an audit entry
// holds can run here; the page's Content-Security-Policy allows scripts from this origin only.
import { adminPages } from './admin.js';
import { publicPages } from './public.js';

/** Builds an element: attributes (on* are listeners), then children (strings become text). */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (k === 'class') el.className = v;
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

const TOKEN_KEY = 'tuf-console-admin-token';

/** The admin token lives in this tab's sessionStorage only: gone when the tab closes, never in a URL. */
export const adminToken = {
  get: () => sessionStorage.getItem(TOKEN_KEY),
  set: (t) => sessionStorage.setItem(TOKEN_KEY, t),
  forget: () => sessionStorage.removeItem(TOKEN_KEY),
};

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

/** GET a JSON API path; `admin` sends the token as a bearer header. */
export async function api(path, { admin = false } = {}) {
  const headers = { accept: 'application/json' };
  if (admin) headers.authorization = `Bearer ${adminToken.get()}`;
  const res = await fetch(path, { headers, credentials: 'omit', cache: 'no-store' });
  const body = await res.json().catch(() => null);
  if (!res.ok && !(path === '/readyz' && res.status === 503)) {
    throw new ApiError(res.status, body?.error?.code ?? 'error', body?.error?.message ?? `HTTP ${res.status}`);
  }
  return body;
}

/** "in 3 days", "5 hours ago": a duration in seconds for people. */
export function relative(seconds) {
  const abs = Math.abs(seconds);
  const units = [
    [86_400 * 365, 'year'],
    [86_400, 'day'],
    [3_600, 'hour'],
    [60, 'minute'],
    [1, 'second'],
  ];
  const [size, name] = units.find(([s]) => abs >= s) ?? [1, 'second'];
  const n = Math.floor(abs / size);
  const text = `${n} ${name}${n === 1 ? '' : 's'}`;
  return seconds >= 0 ? `in ${text}` : `${text} ago`;
}

/** A date for people, with the exact time as its machine-readable value. */
export function when(iso) {
  if (!iso) return h('span', { class: 'muted' }, 'never');
  const seconds = Math.round((Date.parse(iso) - Date.now()) / 1000);
  return h('time', { datetime: iso, title: iso }, `${iso.slice(0, 16).replace('T', ' ')} UTC (${relative(seconds)})`);
}

/** A table in a region that scrolls sideways on narrow screens (reachable by keyboard). */
export function table(caption, headers, rows) {
  return h(
    'div',
    { class: 'scroll', role: 'region', 'aria-label': caption, tabindex: 0 },
    h(
      'table',
      {},
      h('caption', { class: 'muted' }, caption),
      h(
        'thead',
        {},
        h(
          'tr',
          {},
          headers.map((x) => h('th', { scope: 'col' }, x)),
        ),
      ),
      h('tbody', {}, rows),
    ),
  );
}

export function notice(text, kind = '') {
  return h('p', { class: `notice ${kind}`, role: kind === 'bad' ? 'alert' : 'status' }, text);
}

/** Replaces the page's content and names the page (title, h1, current link). */
export function render(title, ...content) {
  document.title = `${title} · TUF repository console`;
  const main = document.getElementById('main');
  main.replaceChildren(h('h1', {}, title), ...content.flat(Infinity).filter((c) => c !== null && c !== undefined && c !== false));
  for (const a of document.querySelectorAll('nav a')) {
    if (a.getAttribute('href') === location.pathname) a.setAttribute('aria-current', 'page');
  }
}

const pages = [...publicPages, ...adminPages];

async function route() {
  const path = location.pathname.replace(/\/+$/, '') || '/console';
  for (const page of pages) {
    const m = page.path.exec(path);
    if (!m) continue;
    try {
      await page.render(m, new URLSearchParams(location.search));
    } catch (err) {
      render('Something went wrong', notice(err instanceof ApiError ? `${err.message} (${err.code})` : String(err), 'bad'));
    }
    return;
  }
  render('No such page', h('p', {}, 'This console has no page here. ', h('a', { href: '/console/' }, 'Go to the overview.')));
}

route();
