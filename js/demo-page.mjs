#!/usr/bin/env node
// Drives the demo page (www/) in headless Chromium for the end-to-end test:
//   node js/demo-page.mjs SITE_URL MODEL ROWS.json SCREENSHOT.png DEAD_REGISTRY_URL > result.json
// Fills the form with each row, reads the probability the page shows (its exact value), types
// bad input, and opens the page against a registry that is down and for a model that does not
// exist. Prints what the page showed each time.
import { launch } from "./chromium.mjs";

const [site, model, rowsFile, screenshot, dead] = process.argv.slice(2);
const rows = JSON.parse((await import("node:fs")).readFileSync(rowsFile, "utf8"));
const browser = await launch();
const out = { pageErrors: [] };

/** Opens the page and waits until it has loaded a model or shown why not. */
async function open(query) {
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  page.on("pageerror", (e) => out.pageErrors.push(e.message));
  await page.goto(`${site}?${query}`);
  await page.waitForSelector("body:not([data-state=loading])", { timeout: 60000 });
  return page;
}
const shown = (page) =>
  page.evaluate(() => ({
    state: document.body.dataset.state,
    error: document.getElementById("error").hidden ? null : document.getElementById("error").textContent,
    value: JSON.parse(document.getElementById("probability").dataset.value ?? "null"),
    label: document.getElementById("label").textContent,
    version: document.getElementById("model-version").textContent,
    build: document.getElementById("t-build").textContent,
    features: document.querySelectorAll("#features tbody tr").length,
    invalid: [...document.querySelectorAll("#form .invalid")].map((e) => e.name),
  }));

async function fill(page, row) {
  for (const [name, value] of Object.entries(row)) {
    const el = page.locator(`#form [name="${name}"]`);
    if ((await el.evaluate((e) => e.tagName)) === "SELECT") await el.selectOption(String(value));
    else await el.fill(value === null ? "" : String(value));
  }
}

try {
  const page = await open(`model=${encodeURIComponent(model)}`);
  out.loaded = await shown(page);
  out.rows = [];
  for (const row of rows) {
    await fill(page, row);
    out.rows.push(await shown(page));
  }
  await page.screenshot({ path: screenshot, fullPage: true });

  await page.locator('#form [name="tenure"]').fill("twelve");
  out.badInput = await shown(page);
  await page.locator('#form [name="tenure"]').fill(String(rows.at(-1).tenure));
  out.recovered = await shown(page);

  // A panic inside the package while scoring (the package's test-only fault hook): the page
  // says so, starts a fresh module instance, reloads the model and scores the next input.
  await page.evaluate(async (build) => {
    window.errorsShown = [];
    const error = document.getElementById("error");
    new MutationObserver(() => error.hidden || window.errorsShown.push(error.textContent)).observe(error, {
      attributes: true,
      childList: true,
      characterData: true,
      subtree: true,
    });
    const pkg = await import(new URL(`pkg/${build}/scorelet_web.js`, location.href).href);
    pkg.__injectFault("score");
  }, out.loaded.build);
  await page.locator('#form [name="tenure"]').fill(String(rows[0].tenure));
  await page.waitForFunction(() => window.errorsShown.length > 0 && document.getElementById("error").hidden, null, {
    timeout: 60000,
  });
  await fill(page, rows[0]);
  out.afterTrap = { ...(await shown(page)), errorsShown: await page.evaluate(() => window.errorsShown) };

  const baseline = await open(`model=${encodeURIComponent(model)}&simd=0`);
  await fill(baseline, rows[0]);
  out.baseline = await shown(baseline);

  out.registryDown = await shown(await open(`model=${encodeURIComponent(model)}&registry=${encodeURIComponent(dead)}`));
  out.unknownModel = await shown(await open("model=nosuch@1"));
} finally {
  await browser.close();
}
process.stdout.write(JSON.stringify(out));
