// Drives the demo's Home Assistant in Chromium the way a newcomer would: log in, add the
// "OCPP Charge Point" integration (a wrong CSMS URL first, then the right one), map the demo
// charger's entities, open the new device, then perform actions in Developer tools (plug the car
// in, start a session, ocpp_cp.set_limit). Screenshots go to SCREENSHOTS.
//
// Run by tests/browser/test_browser.py with these environment variables:
//   HA_URL, CSMS_URL, WRONG_CSMS_URL, CP_ID, SCREENSHOTS (a folder), CHROMIUM (the executable),
//   STEP_TIMEOUT_MS (each wait; default 30000). Prints one JSON line per step and a last line
//   {"done": true, ...}; on a failure it saves failure.png and exits 1.
import { env, log, logIn, openBrowser, pickEntity, runSteps } from './common.mjs';

const haUrl = env('HA_URL');
const csmsUrl = env('CSMS_URL');
const wrongCsmsUrl = env('WRONG_CSMS_URL');
const cpId = env('CP_ID', 'DEMO1');

const session = await openBrowser();
const { page, shot, stepTimeout } = session;
await runSteps(session, 'failure.png', async (mark) => {
  let step = mark('log in');
  await logIn(page, haUrl, () => shot('login.png'));
  log({ step, ok: true });

  step = mark('add integration');
  await page.goto(`${haUrl}/config/integrations/dashboard`);
  await page.getByRole('button', { name: /add integration/i }).click();
  await page.getByLabel('Search for a brand name').fill('OCPP');
  await page.getByText('OCPP Charge Point', { exact: true }).click();
  await page.getByText('Connect to the central system').first().waitFor();
  log({ step, ok: true });

  step = mark('connection step with a wrong URL');
  await page.getByLabel('Central system URL').fill(wrongCsmsUrl);
  await page.getByLabel('Charge point ID').fill(cpId);
  await page.getByRole('button', { name: 'Submit' }).click();
  const alert = page.locator('ha-alert[alert-type=error]').first();
  await alert.waitFor();
  const error = (await alert.innerText()).trim();
  await alert.scrollIntoViewIfNeeded();
  await shot('config-flow-error.png');
  log({ step, ok: true, error });

  step = mark('connection step with the right URL');
  await page.getByLabel('Central system URL').fill(csmsUrl);
  await page.getByRole('button', { name: 'Submit' }).click();
  await page.getByText('Connector 1 of 1').first().waitFor();
  log({ step, ok: true });

  step = mark('mapping step');
  await pickEntity(page, 'Charge switch', 'switch.demo_charger_charging', 'Charging');
  await pickEntity(page, 'Current limit', 'number.demo_charger_current_limit', 'Current limit');
  await pickEntity(page, 'Plug sensor', 'binary_sensor.demo_charger_plug', 'Plug');
  await pickEntity(page, 'Power', 'sensor.demo_charger_power', 'Power');
  await pickEntity(page, 'Energy', 'sensor.demo_charger_energy', 'Energy');
  await pickEntity(page, 'State of charge', 'sensor.demo_car_battery', 'Battery');
  await page.locator('ha-entity-picker').first().scrollIntoViewIfNeeded();
  await shot('config-flow-mapping.png');
  await page.getByRole('button', { name: 'Submit' }).click();
  await page.getByText('Device created').first().waitFor();
  await page.getByRole('button', { name: /finish/i }).click();
  log({ step, ok: true });

  step = mark('device page');
  const device = await page.waitForFunction(
    (name) =>
      Object.values(document.querySelector('home-assistant').hass.devices).find(
        (d) => d.name === name,
      )?.id,
    cpId,
  );
  await page.goto(`${haUrl}/config/devices/device/${await device.jsonValue()}`);
  for (const entity of ['Connection state', 'Status', 'Current offered', 'Reconnect']) {
    await page.getByText(entity, { exact: true }).filter({ visible: true }).first().waitFor();
  }
  await page.waitForFunction(
    (name) =>
      Object.values(document.querySelector('home-assistant').hass.states).some(
        (s) => s.attributes.friendly_name === `${name} Connection state` && s.state === 'accepted',
      ),
    cpId,
  );
  await shot('device.png');
  log({ step, ok: true });

  step = mark('developer tools');
  const entries = await page.evaluate(() =>
    document
      .querySelector('home-assistant')
      .hass.callWS({ type: 'config_entries/get', domain: 'ocpp_cp' }),
  );
  const entryId = entries.find((e) => e.title === cpId).entry_id;
  await page.goto(`${haUrl}/developer-tools/action`);
  await page.getByText('Go to YAML mode').click();
  const editor = page.locator('ha-code-editor .cm-content').first();
  await editor.waitFor();
  const perform = async (yaml, check, what) => {
    await editor.click();
    await page.keyboard.press('Control+A');
    await page.keyboard.press('Delete');
    await page.keyboard.insertText(yaml); // no auto-indent, unlike typing
    await page.getByRole('button', { name: 'Perform action' }).click();
    await page.waitForFunction(check, null, { timeout: stepTimeout });
    log({ step, performed: what });
  };
  const state = (entityId) =>
    `document.querySelector('home-assistant').hass.states['${entityId}']?.state`;
  await perform(
    'action: switch.turn_on\ntarget:\n  entity_id: switch.demo_car_plugged_in\n',
    `${state('binary_sensor.demo_charger_plug')} === 'on'`,
    'plug in',
  );
  await perform(
    `action: ocpp_cp.start_transaction\ndata:\n  config_entry_id: ${entryId}\n`,
    `${state('switch.demo_charger_charging')} === 'on' && Number(${state('sensor.demo_charger_power')}) > 0`,
    'start_transaction',
  );
  await perform(
    `action: ocpp_cp.set_limit\ndata:\n  config_entry_id: ${entryId}\n  current: 10\n`,
    `Number(${state('number.demo_charger_current_limit')}) === 10`,
    'set_limit',
  );
  await page.mouse.move(760, 500);
  await page.mouse.wheel(0, -3000); // back to the top of the page, under the sticky header
  await shot('developer-tools-set-limit.png');
  log({ step, ok: true });

  log({ done: true, entry_id: entryId, error });
});
