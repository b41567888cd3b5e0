// The web app in a real browser (Debian's Chromium, driven by playwright-core), against a
// running `porchlight serve`: the map and a call's story, a resident who subscribes and sees a
// live alert arrive, and the transparency page showing a new camera request. Each page is
// screenshotted and checked with axe-core (no serious or critical violations).
//
// node web/e2e/app.mjs   with BASE_URL, PUSH_SECRET (hex, the milwaukee agency's push key),
// ADMIN_EMAIL and ADMIN_PASSWORD (the portal's platform administrator), SCREENSHOTS (folder).
import { createHmac } from 'node:crypto';
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
  await page.waitForSelector(`#app[data-ready="${path}"]`, { timeout: 15000 });
}

// The portal's API, as its own pages will call it: a session cookie and a CSRF token.
async function session(email, password) {
  const response = await fetch(`${base}/v1/portal/sessions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ email, password }),
  });
  check(response.status === 201, `sign in ${email}: ${response.status}`);
  const cookie = response.headers.get('set-cookie').split(';')[0];
  const { csrf_token: csrf } = await response.json();
  return async (method, path, body) => {
    const answer = await fetch(`${base}${path}`, {
      method,
      headers: { 'content-type': 'application/json', cookie, 'x-csrf-token': csrf },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    check(answer.ok, `${method} ${path}: ${answer.status} ${await answer.clone().text()}`);
    return answer.status === 204 ? null : answer.json();
  };
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
  if (message.type() === 'error') failures.push(`console error: ${message.text()}`);
});
try {
  // The map and list of calls, and one call's story.
  await page.goto(`${base}/`);
  await ready(page, '/');
  const listed = await page.locator('#incidents li a').count();
  check(listed > 10, `the list shows ${listed} calls`);
  const markers = await page.locator('.leaflet-interactive').count();
  check(markers > 10, `the map shows ${markers} shapes`);
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
  await shot(page, 'subscribe');
  await accessible(page, 'subscribe');
  await page.getByRole('button', { name: 'Subscribe' }).click();
  await page.waitForURL(/\/alerts\//);
  await page.waitForFunction(() => document.querySelector('#status')?.textContent.startsWith('Live'));
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

  // An officer's camera request shows on the transparency page.
  const admin = await session(process.env.ADMIN_EMAIL, process.env.ADMIN_PASSWORD);
  await admin('POST', '/v1/portal/agencies', { id: 'milwaukee-pd', name: 'Milwaukee Police Department' });
  await admin('POST', '/v1/portal/agencies/milwaukee-pd/verify', {});
  await register('chief@mpd.example');
  await register('officer@mpd.example');
  await admin('POST', '/v1/portal/agencies/milwaukee-pd/admins', { email: 'chief@mpd.example' });
  const chief = await session('chief@mpd.example', 'correct horse battery');
  await chief('POST', '/v1/portal/agencies/milwaukee-pd/officers', { email: 'officer@mpd.example' });
  const officer = await session('officer@mpd.example', 'correct horse battery');
  const now = Date.now();
  await officer('POST', '/v1/portal/agencies/milwaukee-pd/requests', {
    case_number: '2026-0042',
    incident_type: 'burglary',
    area: { lat: 43.0512, lon: -87.9534, radius_m: 300 },
    window_start: new Date(now - 2 * 3600e3).toISOString(),
    window_end: new Date(now - 3600e3).toISOString(),
    description: 'Garage door forced overnight',
    contact: 'Detective Ruiz, 414-555-0100',
  });
  let made = '0';
  for (let attempt = 0; attempt < 30 && made !== '1'; attempt += 1) {
    await page.goto(`${base}/transparency`);
    await ready(page, '/transparency');
    const row = page.locator('section', { has: page.locator('h2', { hasText: 'milwaukee-pd' }) }).locator('tbody tr').first();
    made = (await row.count()) ? (await row.locator('td').first().textContent()).trim() : '0';
    if (made !== '1') await page.waitForTimeout(500);
  }
  check(made === '1', `the transparency page shows ${made} requests made`);
  check(Number(await page.locator('#tree-size').textContent()) > 3, 'the signed head is shown');
  check((await page.locator('canvas').count()) >= 1, 'a chart is drawn');
  await shot(page, 'transparency');
  await accessible(page, 'transparency');
  check(failures.length === 0, failures.join('\n'));
  console.log('web app: all checks passed');
} finally {
  await browser.close();
}
