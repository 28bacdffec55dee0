// The site fuse guard's options step in Chromium: log in, open the ocpp_cp entry's Configure
// dialog, pick "Site fuse guard", switch it on, pick the demo grid meter's three phase currents
// (DEMO_GRID_METER=1 gives the demo one), fuse 25 A, margin 1.5 A; a fallback above fuse minus
// margin first (the translated error must show), then a valid one, save. Screenshots go to
// SCREENSHOTS.
//
// Run by tests/browser/test_site_guard_browser.py with HA_URL, SCREENSHOTS, CHROMIUM,
// STEP_TIMEOUT_MS. Prints one JSON line per step and a last line {"done": true, "error": ...};
// on a failure it saves site-guard-failure.png and exits 1.
import { env, log, logIn, openBrowser, pickEntity, runSteps } from './common.mjs';

const haUrl = env('HA_URL');

const session = await openBrowser();
const { page, shot } = session;

// A number box filled in and left (Tab), until it shows the value: a re-render of the form just
// after an entity was picked can put back the old value.
const fillNumber = async (label, value) => {
  const field = page.getByLabel(label);
  for (let attempt = 1; ; attempt += 1) {
    await field.fill(value);
    await field.press('Tab');
    await page.waitForTimeout(300);
    if ((await field.inputValue()) === value) return;
    if (attempt === 3) throw new Error(`${label} does not keep ${value}`);
  }
};
await runSteps(session, 'site-guard-failure.png', async (mark) => {
  let step = mark('log in');
  await logIn(page, haUrl);
  log({ step, ok: true });

  step = mark('options menu');
  await page.goto(`${haUrl}/config/integrations/integration/ocpp_cp`);
  await page.getByRole('button', { name: 'Configure' }).first().click();
  await page.getByText('Site fuse guard', { exact: true }).first().click();
  await page.getByText('Guard the main fuse').first().waitFor();
  log({ step, ok: true });

  step = mark('fill in the guard');
  const toggle = page
    .locator('ha-formfield')
    .filter({ hasText: 'Guard the main fuse' })
    .locator('ha-switch')
    .first();
  await toggle.click();
  await page.waitForFunction((el) => el.checked === true, await toggle.elementHandle());
  for (const phase of ['L1', 'L2', 'L3']) {
    const entityId = `sensor.demo_grid_meter_current_${phase.toLowerCase()}`;
    // the search lists all three phases; the option (case-sensitive) is not the field's label
    await pickEntity(page, `Grid current ${phase}`, entityId, new RegExp(`Current ${phase}`));
  }
  await fillNumber('Main fuse rating', '25');
  await fillNumber('Safety margin', '1.5');
  await fillNumber('Fallback current', '6');
  await page.locator('ha-entity-picker').first().scrollIntoViewIfNeeded();
  await shot('options-site-guard.png');
  log({ step, ok: true });

  step = mark('fallback above the fuse');
  await fillNumber('Fallback current', '30');
  await page.getByRole('button', { name: 'Submit' }).click();
  const alert = page.locator('ha-alert[alert-type=error]').first();
  await alert.waitFor();
  const error = (await alert.innerText()).trim();
  await alert.scrollIntoViewIfNeeded();
  await shot('options-site-guard-error.png');
  log({ step, ok: true, error });

  step = mark('save');
  await fillNumber('Fallback current', '6');
  await page.getByRole('button', { name: 'Submit' }).click();
  await page.getByText('Options successfully saved.').first().waitFor();
  await page.getByRole('button', { name: /finish/i }).click();
  log({ step, ok: true });

  log({ done: true, error });
});
