// The charger-preset step in Chromium: log in, add "OCPP Charge Point", connect, pick the demo's
// Peblar in "Charger device" (DEMO_PRESET_CHARGER=1 gives the demo one), see the mapping form
// filled in, save. Screenshots go to SCREENSHOTS.
//
// Run by tests/browser/test_presets_browser.py with HA_URL, CSMS_URL, CP_ID, SCREENSHOTS,
// CHROMIUM, STEP_TIMEOUT_MS. Prints one JSON line per step and a last line {"done": true}; on a
// failure it saves presets-failure.png and exits 1.
import { env, log, logIn, openBrowser, runSteps } from './common.mjs';

const haUrl = env('HA_URL');
const csmsUrl = env('CSMS_URL');
const cpId = env('CP_ID', 'DEMO1');

const session = await openBrowser();
const { page, shot } = session;
await runSteps(session, 'presets-failure.png', async (mark) => {
  let step = mark('log in');
  await logIn(page, haUrl);
  // the demo adds its Peblar a moment after Home Assistant starts
  await page.waitForFunction(() =>
    Object.values(document.querySelector('home-assistant').hass.devices).some(
      (d) => d.name === 'Peblar EV Charger',
    ),
  );
  log({ step, ok: true });

  step = mark('connection step');
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

  step = mark('charger device step');
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

  step = mark('mapping filled in'); // what it was filled in with is checked in the stored entry
  await page.locator('ha-entity-picker').first().scrollIntoViewIfNeeded();
  await shot('config-flow-charger-mapping.png');
  await page.getByRole('button', { name: 'Submit' }).click();
  await page.getByText('Device created').first().waitFor();
  await page.getByRole('button', { name: /finish/i }).click();
  log({ step, ok: true });

  log({ done: true });
});
