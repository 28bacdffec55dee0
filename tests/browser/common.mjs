// What the browser flows (flow.mjs, presets.mjs, site_guard.mjs) share: the environment, one JSON
// line per step, Debian's Chromium with offline brand images, screenshots, the demo's login and
// an entity picker. Each flow runs its steps in `runSteps`, which saves <failure> on an error.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const here = path.dirname(fileURLToPath(import.meta.url));
const brandDir = path.resolve(here, '../../custom_components/ocpp_cp/brand');

export const env = (name, fallback) => {
  const value = process.env[name] ?? fallback;
  if (value === undefined) throw new Error(`${name} is not set`);
  return value;
};

export const log = (record) => console.log(JSON.stringify(record));

// Chromium with one page, every wait bounded by STEP_TIMEOUT_MS, screenshots into SCREENSHOTS.
export const openBrowser = async () => {
  const shots = env('SCREENSHOTS');
  const stepTimeout = Number(env('STEP_TIMEOUT_MS', '30000'));
  fs.mkdirSync(shots, { recursive: true });
  const browser = await chromium.launch({
    executablePath: env('CHROMIUM', '/usr/bin/chromium'),
    headless: true,
    args: ['--no-sandbox', '--disable-dev-shm-usage'],
    timeout: stepTimeout,
  });
  const context = await browser.newContext({
    viewport: { width: 1280, height: 900 },
    locale: 'en-US',
  });
  const page = await context.newPage();
  page.setDefaultTimeout(stepTimeout);
  page.setDefaultNavigationTimeout(stepTimeout);
  // Brand images come from brands.home-assistant.io: answer from the integration's own brand/
  // folder (what HACS users see once the brand is published) and 404 for the rest, offline.
  await context.route('https://brands.home-assistant.io/**', async (route) => {
    const match = /\/_\/ocpp_cp\/(?:dark_)?(icon|logo)(@2x)?\.png$/.exec(route.request().url());
    if (match) {
      const file = path.join(brandDir, match[2] ? 'icon@2x.png' : 'icon.png');
      return route.fulfill({ contentType: 'image/png', body: fs.readFileSync(file) });
    }
    return route.fulfill({ status: 404, body: '' });
  });
  const shot = async (name) => {
    await page.waitForTimeout(400); // let animations settle
    const file = path.join(shots, name);
    await page.screenshot({ path: file });
    log({ screenshot: file });
  };
  return { browser, page, shot, shots, stepTimeout };
};

// Runs `steps(mark)`; `mark(name)` names the step a failure is reported for and returns the name.
// On an error: logs {"failed"}, saves `failure` (in SCREENSHOTS), sets exit code 1. Always closes
// the browser.
export const runSteps = async ({ browser, page, shots }, failure, steps) => {
  let step = 'start';
  try {
    await steps((name) => {
      step = name;
      return name;
    });
  } catch (err) {
    log({ failed: step, error: String(err?.stack ?? err) });
    await page.screenshot({ path: path.join(shots, failure) }).catch(() => {});
    process.exitCode = 1;
  } finally {
    await browser.close();
  }
};

// The demo's login page filled in; `beforeSubmit` (e.g. a screenshot) runs just before "Log in".
export const logIn = async (page, haUrl, beforeSubmit = async () => {}) => {
  await page.goto(haUrl);
  await page.locator('input[name=username]').fill('demo');
  await page.locator('input[name=password]').fill('demo1234');
  await beforeSubmit();
  await page.getByRole('button', { name: 'Log in' }).click();
  await page.waitForURL((url) => !url.pathname.startsWith('/auth/'));
  await page.waitForFunction(() => document.querySelector('home-assistant')?.hass?.connected);
};

// Picks `entityId` in the entity picker labelled `label`; `option` is the text of its list item.
export const pickEntity = async (page, label, entityId, option) => {
  const picker = page.locator('ha-entity-picker').filter({ hasText: label }).first();
  await picker.scrollIntoViewIfNeeded();
  await picker.click();
  await page.locator('ha-picker-combo-box input:visible').first().fill(entityId);
  await page.locator('ha-combo-box-item:visible').filter({ hasText: option }).first().click();
  await picker.filter({ hasText: option }).waitFor();
};
