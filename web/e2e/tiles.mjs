// With a tile server configured (`serve --map-tiles`), the maps draw its tiles: the map page
// in headless Chromium must load tiles from it, under the pages' Content-Security-Policy.
//
// node web/e2e/tiles.mjs   with BASE_URL (a serve started with --map-tiles) and SCREENSHOTS.
import { chromium } from 'playwright-core';

const base = process.env.BASE_URL;
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
try {
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  const blocked = [];
  page.on('console', (m) => {
    if (m.type() === 'error') blocked.push(m.text());
  });
  await page.goto(`${base}/`);
  await page.waitForSelector('#app[data-ready="/"]', { timeout: 15000 });
  await page.waitForSelector('img.leaflet-tile-loaded', { timeout: 15000 });
  const tiles = await page.locator('img.leaflet-tile-loaded').count();
  const attribution = await page.locator('.leaflet-control-attribution').textContent();
  await page.screenshot({ path: `${process.env.SCREENSHOTS}/map-with-tiles.png` });
  if (tiles < 4 || !attribution.includes('Test tiles') || blocked.length) {
    throw new Error(`tiles loaded: ${tiles}; attribution: ${attribution}; errors: ${blocked.join('; ')}`);
  }
  console.log(`tiles: ${tiles} loaded`);
} finally {
  await browser.close();
}
