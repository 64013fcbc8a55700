// The console in headless Chromium (Debian's package) against a real server with data: a layered
// repository with bins, a published project whose delegation changed (re-signing needed), a
// project with a pending version, a contested registration, and a monitor finding. Each page is
// loaded and checked for what it shows, driven by keyboard where people would type, on a desktop
// and a phone viewport; screenshots go to a temporary folder. Any console error, page error,
// failed request or error response fails the test. The admin token never appears in a URL.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import type { Browser } from 'playwright-core';
import { projectPlacement } from '../core/bins.ts';
import { editedTargetsSigned } from '../core/ceremony.ts';
import { registrationSigned, withDelegation } from '../core/delegations.ts';
import { signEnvelope } from '../core/metadata.ts';
import { privateKeySigner } from '../core/signer.ts';
import { launchChromium, watchedPage, type WatchedPage } from './helpers/browser.ts';
import { ALICE, BOB, projectTools } from './helpers/projects.ts';
import { bootstrapWithBins, signAs, startTestRepo, type TestRepo } from './helpers/repo.ts';

const CAROL = 'carol@example.com';
const DAVE = 'dave@example.com';
let t: TestRepo;
let browser: Browser;
const shots = fs.mkdtempSync(path.join(os.tmpdir(), 'tuf-console-screens-'));
const { upload, release } = projectTools(() => ({ t, work: '' }));
const pages: WatchedPage[] = [];

before(async () => {
  t = await startTestRepo({ env: { MONITOR_GRACE_SECONDS: '0' } });
  const { binsKey } = await bootstrapWithBins(t, 16);
  const issuer = t.sigstore.sigstore.issuerUrl;
  const approve = async (project: string, identities: string[], threshold = 1) => {
    const placement = projectPlacement((await t.repo.current.targets())!.envelope.signed, project);
    const bin = (await t.repo.current.delegated(t.repo.knex, placement.role))!;
    const maintainers = identities.map((identity) => ({ identity, issuer }));
    const next = editedTargetsSigned(
      withDelegation(bin.envelope.signed, project, maintainers, threshold, placement.paths),
      {},
      t.clock.now(),
    );
    await t.repo.admission.submitDelegated(new Map([[placement.role, await signEnvelope(next, [privateKeySigner(binsKey)])]]), 'test');
    return placement.paths[0]!.slice(0, -1); // the project's directory
  };
  const widgetDir = await approve('widget', [ALICE]);
  for (const version of [1, 2]) {
    const files = { [`${widgetDir}widget-${version}.0.tgz`]: Buffer.from(`widget ${version}\n`) };
    assert.equal((await upload('widget', await signAs(t, release(version, files), [{ identity: ALICE }]), files)).status, 201);
  }
  await approve('widget', [BOB]); // alice leaves: v2 needs re-signing by bob
  const demoDir = await approve('demo', [ALICE, BOB], 2);
  const demo = { [`${demoDir}demo-1.0.tgz`]: Buffer.from('demo\n') };
  assert.equal((await upload('demo', await signAs(t, release(1, demo), [{ identity: ALICE }]), demo)).status, 202);
  for (const who of [CAROL, DAVE]) {
    const signed = registrationSigned('newproj', { identity: who, issuer }, t.clock.now());
    await t.repo.registrations.register(await signAs(t, signed, [{ identity: who }]));
  }
  // Bob's token used outside the repository: the monitor flags it.
  await signAs(t, release(3, { [`${widgetDir}evil.tgz`]: Buffer.from('evil') }), [{ identity: BOB }]);
  await t.repo.monitor!.pollOnce();
  assert.equal((await t.repo.monitor!.status()).findings, 1);
  browser = await launchChromium();
});

after(async () => {
  for (const p of pages) await p.page.close();
  await browser?.close();
  await t?.close();
  process.stdout.write(`# console screenshots: ${shots}\n`);
});

async function open(context: Awaited<ReturnType<Browser['newContext']>>, url: string): Promise<WatchedPage> {
  const w = await watchedPage(context);
  pages.push(w);
  await w.page.goto(`${t.baseUrl}${url}`);
  await w.page.locator('main h1').waitFor();
  return w;
}

async function settled(w: WatchedPage, name: string): Promise<string> {
  await w.page.waitForLoadState('networkidle');
  await w.page.screenshot({ path: path.join(shots, `${name}.png`), fullPage: true });
  assert.deepEqual(w.problems, [], `${name}: no console errors or failed requests`);
  return (await w.page.locator('main').innerText()).replace(/\s+/g, ' ');
}

test('public pages: overview, project search, a project with its releases, the monitor', async () => {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const overview = await open(context, '/console/');
  let text = await settled(overview, 'overview');
  assert.match(text, /Ready/);
  assert.match(text, /root \(offline\) v1 1 of 1 keys, threshold 1 ok 20/);
  assert.match(text, /snapshot v\d+ 1 of 1 keys, threshold 1 ok \(re-signed by the server\)/);
  assert.match(text, /16 bins; 0 expire within 30 days, 0 expired/);
  assert.match(text, /Monitor ok: 1 finding\(s\), 2 identities watched/);

  // Search by keyboard: the labelled field, Enter.
  await overview.page.getByRole('link', { name: 'Projects' }).click();
  await overview.page.getByLabel('Search projects by name').fill('wid');
  await overview.page.keyboard.press('Enter');
  await overview.page.waitForURL(/\/console\/projects\?q=wid/);
  await overview.page.getByRole('status').filter({ hasText: 'project(s)' }).waitFor();
  text = await settled(overview, 'projects-search');
  assert.match(text, /1 project\(s\) matching “wid”/);
  assert.match(text, /widget v2 1 of 1 bob@example.com bin-/);
  assert.doesNotMatch(text, /demo/);

  await overview.page.getByRole('link', { name: 'widget' }).click();
  await overview.page.locator('main h1', { hasText: 'Project widget' }).waitFor();
  text = await settled(overview, 'project-widget');
  assert.match(text, /Re-signing needed: v2 no longer meets its delegation since bin-/);
  assert.match(text, /The transparency monitor flagged 1 log entry for this project's maintainers/);
  assert.match(text, /v2 .*widget-2\.0\.tgz alice@example\.com \(log entry \d+\)/);
  assert.match(text, /v1 .*widget-1\.0\.tgz alice@example\.com \(log entry \d+\)/);
  assert.match(text, /unknown signature bob@example\.com/);

  const demo = await open(context, '/console/projects/demo');
  text = await settled(demo, 'project-demo');
  assert.match(text, /Threshold 2 of 2 maintainers/);
  assert.match(text, /Pending versions .* v1 1 of 2/);
  assert.match(text, /No version published yet/);

  const monitor = await open(context, '/console/monitor');
  text = await settled(monitor, 'monitor');
  assert.match(text, /State ok/);
  assert.match(text, /Findings \(1\)/);
  assert.match(text, /unknown signature bob@example\.com demo, widget/);
  await context.close();
});

test('admin pages: the token is asked once, kept for the tab, and never put in a URL', async () => {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const admin = await open(context, '/console/admin');
  assert.match(await settled(admin, 'admin-token-form'), /Admin pages need an admin token/);
  // Focus starts in the token field: type and press Enter.
  await admin.page.keyboard.type(t.adminToken);
  await admin.page.keyboard.press('Enter');
  await admin.page.locator('main h1', { hasText: 'Admin: status' }).locator('xpath=..').getByText('Online keys on this server').waitFor();
  let text = await settled(admin, 'admin-status');
  assert.match(text, /snapshot ecdsa/);
  assert.match(text, /widget v2 bin-/);
  assert.match(text, /1 pending, 1 contested|2 pending, 1 contested/);

  await admin.page.getByRole('link', { name: 'Registrations', exact: true }).click();
  await admin.page.locator('main h1', { hasText: 'registrations pending approval' }).waitFor();
  await admin.page.locator('table').waitFor();
  text = await settled(admin, 'admin-registrations');
  assert.match(text, /1 contested project\(s\): newproj/);
  assert.match(text, /newproj carol@example\.com .* contested by dave@example\.com/);

  await admin.page.getByRole('link', { name: 'Audit log' }).click();
  await admin.page.getByLabel('Action (or prefix, e.g. monitor)').fill('monitor');
  await admin.page.keyboard.press('Enter');
  await admin.page.waitForURL(/action=monitor/);
  await admin.page.locator('table').waitFor();
  text = await settled(admin, 'admin-audit');
  assert.match(text, /monitor monitor\.unknown_signature/);
  assert.doesNotMatch(text, /registration\.|metadata\./);

  for (const w of [admin]) assert.ok(!w.urls.some((u) => u.includes(t.adminToken)), 'the token is in no URL');
  // Another tab (context) has no token.
  const other = await browser.newContext();
  const fresh = await open(other, '/console/admin/audit');
  assert.match(await settled(fresh, 'admin-new-tab'), /Admin pages need an admin token/);
  await other.close();
  await context.close();
});

test('on a phone the pages fit the screen; tables scroll in their own region', async () => {
  const context = await browser.newContext({ viewport: { width: 375, height: 740 }, isMobile: true, hasTouch: true, deviceScaleFactor: 2 });
  for (const [url, name] of [
    ['/console/', 'phone-overview'],
    ['/console/projects/widget', 'phone-project'],
  ] as const) {
    const w = await open(context, url);
    await settled(w, name);
    const { scroll, width } = await w.page.evaluate(() => ({ scroll: document.documentElement.scrollWidth, width: window.innerWidth }));
    assert.ok(scroll <= width, `${url}: the page is ${scroll}px wide on a ${width}px screen`);
    // Every form field has a label, every scrolling region a name and a place in the tab order.
    const unlabelled = await w.page.evaluate(() => [...document.querySelectorAll('input')].filter((i) => i.labels?.length === 0).length);
    assert.equal(unlabelled, 0);
    const regions = await w.page.evaluate(() =>
      [...document.querySelectorAll('.scroll')].every((r) => r.getAttribute('aria-label') && r.getAttribute('tabindex') === '0'),
    );
    assert.ok(regions);
  }
  await context.close();
});
