// The web app in a real browser (Debian's Chromium, driven by playwright-core), against a
// running `porchlight serve`: the map and a call's story; a resident who subscribes and sees a
// live alert arrive; a camera owner, an officer and a moderator, each signed in in a browser
// of their own, from a camera and a request to a shared clip the officer downloads intact;
// and the transparency page showing it all. Each page is screenshotted and checked with
// axe-core (no serious or critical violations).
//
// node web/e2e/app.mjs   with BASE_URL, PUSH_SECRET (hex, the milwaukee agency's push key),
// ADMIN_EMAIL and ADMIN_PASSWORD (the portal's platform administrator), SCREENSHOTS (folder).
import { createHash, createHmac } from 'node:crypto';
import { mkdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { chromium } from 'playwright-core';

const require = createRequire(import.meta.url);
// Evaluated through the DevTools protocol, so the pages' Content-Security-Policy (which the
// app itself runs under) need not allow it.
const AXE = readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');
const base = process.env.BASE_URL;
const shots = process.env.SCREENSHOTS;
mkdirSync(shots, { recursive: true });

function check(condition, message) {
  if (!condition) {
    throw new Error(message);
  }
}

async function accessible(page, name) {
  await page.evaluate(AXE);
  const result = await page.evaluate(async () => {
    // eslint-disable-next-line no-undef
    const r = await axe.run(document, { resultTypes: ['violations'] });
    return r.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.map((n) => n.target.join(' ')).slice(0, 3) }));
  });
  const serious = result.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  check(serious.length === 0, `${name}: accessibility violations ${JSON.stringify(serious, null, 1)}`);
  if (result.length) console.log(`${name}: minor accessibility notes: ${result.map((v) => v.id).join(', ')}`);
}

async function shot(page, name) {
  await page.screenshot({ path: `${shots}/${name}.png`, fullPage: true });
  console.log(`screenshot ${shots}/${name}.png`);
}

async function ready(page, path) {
  try {
    await page.waitForSelector(`#app[data-ready="${path}"]`, { timeout: 15000 });
  } catch (error) {
    const shown = await page.locator('#app').textContent().catch(() => '');
    throw new Error(`${path} was not drawn (${error.message}); the page shows: ${shown.slice(0, 300)}; errors: ${failures.join('; ')}`);
  }
}

async function register(email) {
  const response = await fetch(`${base}/v1/portal/accounts`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ email, password: 'correct horse battery', display_name: email }),
  });
  check(response.status === 201, `register ${email}: ${response.status}`);
}

async function push(records) {
  const body = JSON.stringify({ records });
  const timestamp = Math.floor(Date.now() / 1000);
  const secret = Buffer.from(process.env.PUSH_SECRET, 'hex');
  const signature = createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex');
  const response = await fetch(`${base}/v1/agencies/milwaukee/calls`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'X-Porchlight-Timestamp': String(timestamp), 'X-Porchlight-Signature': `v1=${signature}` },
    body,
  });
  check(response.ok, `push: ${response.status} ${await response.text()}`);
}

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
const failures = [];
const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
page.on('pageerror', (error) => failures.push(`page error: ${error.message}`));
page.on('console', (message) => {
  // Playwright's browser contexts are incognito, where Chromium has no Push API: the page
  // must cope (and says so), but the console line is Chromium's, not ours.
  if (message.type() === 'error' && !message.text().includes('Push API in incognito mode')) {
    failures.push(`console error: ${message.text()}`);
  }
});
try {
  // The map and list of calls, and one call's story.
  await page.goto(`${base}/`);
  await ready(page, '/');
  const listed = await page.locator('#incidents li a').count();
  check(listed > 10, `the list shows ${listed} calls`);
  const markers = await page.locator('.leaflet-interactive').count();
  check(markers > 10, `the map shows ${markers} shapes`);
  // The open formats are linked, and answer.
  for (const link of await page.locator('#formats a').all()) {
    const href = await link.getAttribute('href');
    const answer = await page.request.get(new URL(href, base).href);
    check(answer.status() === 200, `${href}: ${answer.status()}`);
  }
  check((await page.locator('#formats a').count()) >= 3, 'GeoJSON, CAP and an agency feed are linked');
  await shot(page, 'map');
  await accessible(page, 'map');
  // Filtering to one category leaves only its calls.
  for (const box of await page.locator('input[name="category"]').all()) {
    if ((await box.getAttribute('value')) !== 'traffic') await box.uncheck();
  }
  await page.getByRole('button', { name: 'Show' }).click();
  await page.waitForURL(/categories=traffic/);
  await ready(page, '/');
  const metas = await page.locator('#incidents li .meta').allTextContents();
  check(metas.length > 0 && metas.every((m) => m.startsWith('Traffic')), `filtered: ${metas.slice(0, 3)}`);
  const first = page.locator('#incidents li a').first();
  const title = (await first.textContent()).trim();
  await first.click();
  await page.waitForURL(/\/incidents\//);
  await page.waitForSelector('.story li');
  check((await page.locator('h1').textContent()).includes(title), 'the story is of the call clicked');
  check((await page.locator('.context').first().textContent()).length > 10, 'the story has its context line');
  await shot(page, 'incident');
  await accessible(page, 'incident');

  // A resident subscribes (clicking the map, then typing the exact point) and sees a live
  // alert arrive.
  await page.goto(`${base}/subscribe`);
  await ready(page, '/subscribe');
  await page.locator('#map').click();
  check((await page.locator('input[name="lat"]').inputValue()) !== '', 'clicking the map sets the point');
  await page.getByLabel('Latitude').fill('43.1128');
  await page.getByLabel('Longitude').fill('-87.9567');
  await page.getByLabel('Radius (metres)').fill('1500');
  await page.getByLabel('Disorder and noise').check();
  await page.context().grantPermissions(['notifications'], { origin: base });
  await page.getByLabel("This browser's notifications").check();
  await shot(page, 'subscribe');
  await accessible(page, 'subscribe');
  await page.getByRole('button', { name: 'Subscribe' }).click();
  await page.waitForURL(/\/alerts\//);
  await page.waitForFunction(() => document.querySelector('#status')?.textContent.startsWith('Live'));
  // Notifications: this machine reaches no browser vendor's push service, so the browser's
  // push subscription fails and the page says so plainly; the service worker it registered
  // is then handed a push message through the DevTools protocol, as a push service would,
  // and must show it as a notification.
  const note = await page.locator('#notify').textContent();
  check(note.includes('notifications'), `the page says how notifications went: ${note}`);
  const cdp = await page.context().newCDPSession(page);
  const registrations = [];
  cdp.on('ServiceWorker.workerRegistrationUpdated', (e) => registrations.push(...e.registrations));
  await cdp.send('ServiceWorker.enable');
  for (let i = 0; i < 50 && !registrations.some((r) => r.scopeURL === `${base}/`); i += 1) await page.waitForTimeout(100);
  const registration = registrations.find((r) => r.scopeURL === `${base}/`);
  check(registration, 'the service worker is registered for the whole site');
  // Delivered once the worker is active; again if the first arrived while it was starting.
  await page.evaluate(async () => {
    await navigator.serviceWorker.ready;
  });
  let titles = [];
  for (let attempt = 0; attempt < 5 && titles.length === 0; attempt += 1) {
    await cdp.send('ServiceWorker.deliverPushMessage', {
      origin: base,
      registrationId: registration.registrationId,
      data: JSON.stringify({ kind: 'update', title: 'Disturbance, 5200 block of N 35th St', body: 'A disturbance call is a report of noise or conflict.', incident: 'x', url: `${base}/incidents/x` }),
    });
    for (let i = 0; i < 20 && titles.length === 0; i += 1) {
      titles = await page.evaluate(async () => (await (await navigator.serviceWorker.ready).getNotifications()).map((n) => n.title));
      if (titles.length === 0) await page.waitForTimeout(100);
    }
  }
  const permission = await page.evaluate(() => Notification.permission);
  check(titles.includes('Update: Disturbance, 5200 block of N 35th St'), `the notification shown: ${titles} (permission ${permission}, note ${note}, registration ${JSON.stringify(registration)})`);
  await push([
    {
      incident_id: 'e2e-1',
      received_at: '2018-05-01T00:10:28-05:00',
      call_type: 'TRBL W/SUBJ',
      status: 'Unable to Locate Complainant',
      address: '5237 N 35TH ST,MKE',
      latitude: 43.1127987,
      longitude: -87.9567415,
    },
  ]);
  await page.waitForSelector('.alerts li', { timeout: 15000 });
  const alert = await page.locator('.alerts li').first().textContent();
  check(alert.includes('TRBL W/SUBJ') && alert.includes('block of N 35th St'), `the alert: ${alert}`);
  check(!alert.includes('5237'), 'no house number in the alert');
  await shot(page, 'live-alerts');
  await accessible(page, 'live-alerts');

  // Private mode: only cells leave the browser, and the alerts still come.
  await page.goto(`${base}/subscribe`);
  await ready(page, '/subscribe');
  await page.getByLabel('Latitude').fill('43.1128');
  await page.getByLabel('Longitude').fill('-87.9567');
  await page.getByLabel('Radius (metres)').fill('1000');
  await page.getByLabel('Disorder and noise').check();
  await page.getByLabel('Private mode').check();
  await page.getByRole('button', { name: 'Subscribe' }).click();
  await page.waitForURL(/\/alerts\//);
  await page.waitForFunction(() => document.querySelector('#status')?.textContent.startsWith('Live'));
  const privateId = page.url().split('/alerts/')[1];
  const stored = await (await page.request.get(`${base}/v1/subscriptions/${privateId}`)).json();
  check(Array.isArray(stored.cells) && stored.cells.length >= 1 && stored.cells.every((c) => c.startsWith('87')), `cells of resolution 7: ${JSON.stringify(stored)}`);
  check(stored.lat === undefined && stored.lon === undefined, 'no point is stored');
  await push([
    { incident_id: 'e2e-2', received_at: '2018-05-01T01:10:28-05:00', call_type: 'TRBL W/SUBJ', address: '5237 N 35TH ST,MKE', latitude: 43.1127987, longitude: -87.9567415 },
  ]);
  await page.waitForSelector('.alerts li', { timeout: 15000 });

  // The portal, each person in a browser of their own: the platform's administrator adds and
  // verifies an agency and appoints its administrator and a moderator; the agency's
  // administrator makes an officer.
  const as = async (email, password = 'correct horse battery') => {
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    const tab = await context.newPage();
    tab.on('pageerror', (error) => failures.push(`${email}: page error: ${error.message}`));
    await tab.goto(`${base}/account`);
    await ready(tab, '/account');
    const form = tab.locator('#sign-in');
    await form.getByLabel('E-mail').fill(email);
    await form.getByLabel('Password').fill(password);
    await form.getByRole('button', { name: 'Sign in' }).click();
    return tab;
  };
  for (const who of ['chief@mpd.example', 'officer@mpd.example', 'mod@city.example']) {
    await register(who);
  }
  const admin = await as(process.env.ADMIN_EMAIL, process.env.ADMIN_PASSWORD);
  await ready(admin, '/admin');
  const newAgency = admin.locator('#new-agency');
  await newAgency.getByLabel('Id').fill('milwaukee-pd');
  await newAgency.getByLabel('Name').fill('Milwaukee Police Department');
  await newAgency.getByRole('button', { name: 'Add the agency' }).click();
  await admin.getByRole('button', { name: 'Verify' }).click();
  await admin.waitForFunction(() => document.querySelector('#agencies')?.textContent.replace(/\s+/g, ' ').includes('milwaukee-pd · verified'));
  const appoint = admin.locator('#agency-admin');
  await appoint.getByLabel('Agency').selectOption('milwaukee-pd');
  await appoint.getByLabel('E-mail').fill('chief@mpd.example');
  await appoint.getByRole('button', { name: 'Make them its administrator' }).click();
  const moderatorForm = admin.locator('#moderator');
  await moderatorForm.getByLabel('E-mail').fill('mod@city.example');
  await moderatorForm.getByRole('button', { name: 'Make them a moderator' }).click();
  await admin.waitForFunction(() => document.querySelector('#moderator .status')?.textContent.includes('is a moderator'));
  check((await appoint.locator('.error').textContent()) === '', 'the agency administrator was appointed');
  await shot(admin, 'admin');
  await accessible(admin, 'admin');

  // The agency's administrator previews a stricter policy on a sample of the city's own data.
  const chiefTab = await as('chief@mpd.example');
  await ready(chiefTab, '/agency');
  await chiefTab.waitForSelector('#officers li');
  await chiefTab.locator('#add-officer').getByLabel('E-mail').fill('officer@mpd.example');
  await chiefTab.getByRole('button', { name: 'Make them an officer' }).click();
  await chiefTab.waitForFunction(() => document.querySelector('#officers')?.textContent.includes('officer@mpd.example'));
  await chiefTab.getByLabel('Calls of').selectOption('milwaukee');
  await chiefTab.getByLabel('A sample of your data').setInputFiles(process.env.SAMPLE_CSV);
  await chiefTab.getByRole('button', { name: 'Preview' }).click();
  await chiefTab.waitForSelector('#preview-published');
  const before = Number(await chiefTab.locator('#preview-published').textContent());
  const withheldBefore = Number(await chiefTab.locator('#preview-withheld').textContent());
  check(before > 50, `the preview publishes ${before}`);
  check(!(await chiefTab.locator('#preview-sample').textContent()).match(/\b\d{4,5} [NSEW] /), 'no house number in the sample');
  await chiefTab.locator('input[name="withhold"][value="traffic"]').check();
  await chiefTab.getByRole('button', { name: 'Preview' }).click();
  await chiefTab.waitForFunction((n) => Number(document.querySelector('#preview-published')?.textContent) < n, before);
  const after = Number(await chiefTab.locator('#preview-published').textContent());
  check(Number(await chiefTab.locator('#preview-withheld').textContent()) === withheldBefore + (before - after), 'what is no longer published is withheld');
  check((await chiefTab.locator('#preview').textContent()).includes('category:traffic'), 'withheld traffic is counted by reason');
  await shot(chiefTab, 'agency');
  await accessible(chiefTab, 'agency');

  // A resident creates an account on the page, lands on their cameras and registers one.
  const owner = await (await browser.newContext({ viewport: { width: 1280, height: 900 } })).newPage();
  owner.on('pageerror', (error) => failures.push(`owner: page error: ${error.message}`));
  await owner.goto(`${base}/account`);
  await ready(owner, '/account');
  await shot(owner, 'account');
  await accessible(owner, 'account');
  const signUp = owner.locator('#register');
  await signUp.getByLabel('Name shown').fill('Maple St');
  await signUp.getByLabel('E-mail').fill('owner@mail.example');
  await signUp.getByLabel('Password').fill('correct horse battery');
  await signUp.getByRole('button', { name: 'Create the account' }).click();
  await ready(owner, '/cameras');
  await owner.getByLabel('Name').fill('Porch');
  await owner.getByLabel('Latitude').fill('43.0513');
  await owner.getByLabel('Longitude').fill('-87.9531');
  await owner.getByRole('button', { name: 'Add the camera' }).click();
  await owner.waitForSelector('#cameras li[data-camera]');
  await shot(owner, 'cameras');
  await accessible(owner, 'cameras');

  // The officer asks; the limits are checked as they type.
  const officer = await as('officer@mpd.example');
  await ready(officer, '/officer');
  await officer.getByLabel('Latitude').fill('43.0512');
  await officer.getByLabel('Longitude').fill('-87.9534');
  const hour = (h) => {
    const d = new Date(Date.now() - h * 3600e3);
    return new Date(d - d.getTimezoneOffset() * 60000).toISOString().slice(0, 16);
  };
  await officer.getByLabel('From').fill(hour(14));
  await officer.getByLabel('To').fill(hour(1));
  await officer.waitForSelector('#problems li');
  check((await officer.locator('#problems').textContent()).includes('12 hours'), 'a 13-hour window is refused as typed');
  check(await officer.getByRole('button', { name: 'Send for moderation' }).isDisabled(), 'and cannot be sent');
  await officer.getByLabel('From').fill(hour(2));
  await officer.getByLabel('Case number').fill('2026-0042');
  await officer.getByLabel('Incident type').selectOption('burglary');
  await officer.getByLabel('What happened').fill('Garage door forced overnight');
  await officer.getByLabel('Contact for owners').fill('Detective Ruiz, 414-555-0100');
  check((await officer.locator('#problems li').count()) === 0, 'a valid request shows no problem');
  await officer.getByRole('button', { name: 'Send for moderation' }).click();
  await officer.waitForSelector('#requests .state');
  check((await officer.locator('#requests .state').first().textContent()) === 'pending', 'the request waits for moderation');
  await shot(officer, 'officer');
  await accessible(officer, 'officer');

  // The moderator approves.
  const moderator = await as('mod@city.example');
  await ready(moderator, '/moderation');
  await moderator.waitForSelector('#pending button.approve');
  await shot(moderator, 'moderation');
  await accessible(moderator, 'moderation');
  await moderator.getByRole('button', { name: 'Approve' }).click();
  await moderator.waitForSelector('#pending li:not([data-request])');

  // The owner finds it in the inbox and shares a clip, with progress.
  const video = Buffer.alloc(3_000_000, 7);
  const digest = createHash('sha256').update(video).digest('hex');
  await owner.goto(`${base}/inbox`);
  await ready(owner, '/inbox');
  await owner.waitForSelector('#requests li[data-request]');
  await owner.getByLabel('Video file').setInputFiles({ name: 'porch.mp4', mimeType: 'video/mp4', buffer: video });
  await owner.getByLabel('Shared as').fill('Maple St neighbour');
  await owner.getByRole('button', { name: 'Share the clip' }).click();
  await owner.waitForFunction(() => document.querySelector('.share .status')?.textContent.startsWith('Shared'));
  check((await owner.locator('.share .status').textContent()).includes(digest), 'the owner sees the digest');
  check((await owner.locator('.share progress').getAttribute('value')) === '100', 'the upload finished');
  await shot(owner, 'inbox');
  await accessible(owner, 'inbox');

  // The officer sees it and downloads it, bytes and digest intact.
  await officer.goto(`${base}/officer`);
  await ready(officer, '/officer');
  await officer.getByRole('button', { name: 'Shared clips' }).click();
  const link = officer.locator('.clip-list a').first();
  await link.waitFor();
  check((await link.textContent()) === 'Maple St neighbour', 'the clip is shown by the name its owner chose');
  const fetched = await officer.request.get(new URL(await link.getAttribute('href'), base).href);
  check(fetched.status() === 200, `download: ${fetched.status()}`);
  check(createHash('sha256').update(await fetched.body()).digest('hex') === digest, 'the downloaded bytes are the shared ones');
  await officer.locator('.clip-list').scrollIntoViewIfNeeded();
  await shot(officer, 'officer-clips');

  // The transparency page shows the request, its approval and the access.
  let figures = '';
  for (let attempt = 0; attempt < 30 && figures !== '1 1 0 0 1'; attempt += 1) {
    await page.goto(`${base}/transparency`);
    await ready(page, '/transparency');
    const row = page.locator('section', { has: page.locator('h2', { hasText: 'milwaukee-pd' }) }).locator('tbody tr').first();
    figures = (await row.count()) ? (await row.locator('td').allTextContents()).slice(0, 5).map((t) => t.trim()).join(' ') : '';
    if (figures !== '1 1 0 0 1') await page.waitForTimeout(500);
  }
  check(figures === '1 1 0 0 1', `the transparency page shows made, approved, refused, shared, accessed: ${figures}`);
  check(Number(await page.locator('#tree-size').textContent()) > 3, 'the signed head is shown');
  check((await page.locator('canvas').count()) >= 1, 'a chart is drawn');
  await shot(page, 'transparency');
  await accessible(page, 'transparency');

  // The API's reference, drawn from /openapi.json: every operation, each linked to its schemas.
  const described = await (await fetch(`${base}/openapi.json`)).json();
  const operations = Object.values(described.paths).reduce(
    (n, item) => n + ['get', 'post', 'put', 'patch', 'delete'].filter((m) => item[m]).length,
    0,
  );
  await page.goto(`${base}/api`);
  await ready(page, '/api');
  check(Number(await page.locator('#api-count').textContent()) === operations, 'the API page counts every operation');
  check((await page.locator('article.api-op').count()) === operations, 'the API page shows every operation');
  const subscribe = page.locator('#op-post-v1-subscriptions');
  check((await subscribe.locator('a[href="#schema-newsubscriptionbody"]').count()) === 1, 'an operation links its body schema');
  check((await page.locator('#schema-incident td code', { hasText: 'location' }).count()) === 1, 'a schema lists its fields');
  await shot(page, 'api');
  await accessible(page, 'api');
  check(failures.length === 0, failures.join('\n'));
  console.log('web app: all checks passed');
} finally {
  await browser.close();
}
