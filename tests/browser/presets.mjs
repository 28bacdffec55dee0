// The charger-preset step in Chromium: log in, add "OCPP Charge Point", connect, pick the demo's
// Peblar in "Charger device" (DEMO_PRESET_CHARGER=1 gives the demo one), see the mapping form
// filled in, save. Screenshots go to SCREENSHOTS.
//
// Run by tests/browser/test_presets_browser.py with HA_URL, CSMS_URL, CP_ID, SCREENSHOTS,
// CHROMIUM, STEP_TIMEOUT_MS. Prints one JSON line per step and a last line {"done": true}; on a
// failure it saves presets-failure.png and exits 1.
import fs from 'node:fs';
import path from 'node:path';
import { chromium } from 'playwright-core';

const env = (name, fallback) => {
  const value = process.env[name] ?? fallback;
  if (value === undefined) throw new Error(`${name} is not set`);
  return value;
};
const haUrl = env('HA_URL');
const csmsUrl = env('CSMS_URL');
const cpId = env('CP_ID', 'DEMO1');
const shots = env('SCREENSHOTS');
const stepTimeout = Number(env('STEP_TIMEOUT_MS', '30000'));

const log = (record) => console.log(JSON.stringify(record));
fs.mkdirSync(shots, { recursive: true });

const browser = await chromium.launch({
  executablePath: env('CHROMIUM', '/usr/bin/chromium'),
  headless: true,
  args: ['--no-sandbox', '--disable-dev-shm-usage'],
  timeout: stepTimeout,
});
const context = await browser.newContext({ viewport: { width: 1280, height: 900 }, locale: 'en-US' });
const page = await context.newPage();
page.setDefaultTimeout(stepTimeout);
page.setDefaultNavigationTimeout(stepTimeout);
await context.route('https://brands.home-assistant.io/**', (route) =>
  route.fulfill({ status: 404, body: '' }),
);

const shot = async (name) => {
  await page.waitForTimeout(400); // let animations settle
  const file = path.join(shots, name);
  await page.screenshot({ path: file });
  log({ screenshot: file });
};
let step = 'start';
try {
  step = 'log in';
  await page.goto(haUrl);
  await page.locator('input[name=username]').fill('demo');
  await page.locator('input[name=password]').fill('demo1234');
  await page.getByRole('button', { name: 'Log in' }).click();
  await page.waitForURL((url) => !url.pathname.startsWith('/auth/'));
  await page.waitForFunction(() => document.querySelector('home-assistant')?.hass?.connected);
  // the demo adds its Peblar a moment after Home Assistant starts
  await page.waitForFunction(() =>
    Object.values(document.querySelector('home-assistant').hass.devices).some(
      (d) => d.name === 'Peblar EV Charger',
    ),
  );
  log({ step, ok: true });

  step = 'connection step';
  await page.goto(`${haUrl}/config/integrations/dashboard`);
  await page.getByRole('button', { name: /add integration/i }).click();
  await page.getByLabel('Search for a brand name').fill('OCPP');
  await page.getByText('OCPP Charge Point', { exact: true }).click();
  await page.getByText('Connect to the central system').first().waitFor();
  await page.getByLabel('Central system URL').fill(csmsUrl);
  await page.getByLabel('Charge point ID').fill(cpId);
  await page.getByRole('button', { name: 'Submit' }).click();
  await page.getByText('Charger or firmware device for connector 1').first().waitFor();
  log({ step, ok: true });

  step = 'charger device step';
  // no firmware device in the demo: the charger picker is the only one
  const picker = page.locator('ha-device-picker').first();
  await picker.click();
  await page.locator('ha-picker-combo-box input:visible').first().fill('Peblar');
  await page.locator('ha-combo-box-item:visible').filter({ hasText: 'Peblar EV Charger' }).first().click();
  await picker.filter({ hasText: 'Peblar EV Charger' }).waitFor();
  await shot('config-flow-charger-device.png');
  await page.getByRole('button', { name: 'Submit' }).click();
  await page.getByText('Connector 1 of 1').first().waitFor();
  log({ step, ok: true });

  step = 'mapping filled in'; // what it was filled in with is checked in the stored entry
  await page.locator('ha-entity-picker').first().scrollIntoViewIfNeeded();
  await shot('config-flow-charger-mapping.png');
  await page.getByRole('button', { name: 'Submit' }).click();
  await page.getByText('Device created').first().waitFor();
  await page.getByRole('button', { name: /finish/i }).click();
  log({ step, ok: true });

  log({ done: true });
} catch (err) {
  log({ failed: step, error: String(err?.stack ?? err) });
  await page.screenshot({ path: path.join(shots, 'presets-failure.png') }).catch(() => {});
  process.exitCode = 1;
} finally {
  await browser.close();
}
