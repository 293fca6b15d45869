#!/usr/bin/env node
// Drives examples/flask in headless Chromium (playwright-core from tests/js): an anonymous
// page and a page logged in as admin share a room, watch the ticker, and the admin's
// announcement reaches the anonymous page; the anonymous page is refused by /admin.
//
//   node flask_example_driver.cjs --url URL --artifacts DIR [--transport upgrade|polling|websocket]
//
// Prints one JSON object: {"ok", "steps", "failed_step", "error", "page_errors", "console_errors"}.
"use strict";

const fs = require("fs");
const path = require("path");
const { createRequire } = require("module");
const { parseArgs } = require("util");
const { chromium } = createRequire(path.resolve(__dirname, "..", "js", "package.json"))("playwright-core");

const { values: opts } = parseArgs({
  options: {
    url: { type: "string" },
    artifacts: { type: "string" },
    transport: { type: "string", default: "upgrade" },
    chromium: { type: "string", default: "/usr/bin/chromium" },
  },
});
const WAIT_MS = 10000;
const query = opts.transport === "upgrade" ? "" : `?transports=${opts.transport}`;
fs.mkdirSync(opts.artifacts, { recursive: true });
const result = { ok: false, steps: [], failed_step: null, error: null, page_errors: [], console_errors: [] };
let done = false;
function report(code) {
  if (done) return;
  done = true;
  process.stdout.write(JSON.stringify(result) + "\n", () => process.exit(code));
}
setTimeout(() => { result.error = "watchdog: over 90 s"; report(2); }, 90000);

let current = null;
async function step(name, fn) {
  current = name;
  await fn();
  result.steps.push(name);
}
function watch(page, label) {
  page.on("pageerror", (e) => result.page_errors.push(`${label}: ${e.message}`));
  page.on("console", (m) => m.type() === "error" && result.console_errors.push(`${label}: ${m.text()}`));
}
async function tickAbove(page, n) {
  await page.waitForFunction((min) => Number(document.getElementById("tick-n").dataset.n) > min, n);
  return Number(await page.locator("#tick-n").getAttribute("data-n"));
}

(async () => {
  const browser = await chromium.launch({ executablePath: opts.chromium, headless: true, args: ["--no-sandbox", "--disable-gpu"] });
  try {
    const anonCtx = await browser.newContext();
    const adminCtx = await browser.newContext();
    anonCtx.setDefaultTimeout(WAIT_MS);
    adminCtx.setDefaultTimeout(WAIT_MS);
    const anon = await anonCtx.newPage();
    const admin = await adminCtx.newPage();
    watch(anon, "anon");
    watch(admin, "admin");

    await step("anonymous page connects", async () => {
      await anon.goto(opts.url + "/" + query);
      await anon.locator('#status[data-state="connected"]').waitFor();
    });
    await step("ticker pushes every second", async () => {
      const first = await tickAbove(anon, 0);
      const t0 = Date.now();
      await tickAbove(anon, first);
      const elapsed = Date.now() - t0;
      if (elapsed > 3000) throw new Error(`next tick took ${elapsed} ms`);
    });
    await step("anonymous page is refused by /admin", async () => {
      await anon.locator('#admin-panel[data-state="refused"]').waitFor();
    });
    await step("admin logs in through the form", async () => {
      await admin.goto(opts.url + "/login");
      await admin.fill("#username", "admin");
      await admin.fill("#password", "admin");
      await Promise.all([admin.waitForURL(opts.url + "/"), admin.click("#login-button")]);
      if (query) await admin.goto(opts.url + "/" + query);
      await admin.locator('#status[data-state="connected"]').waitFor();
      await admin.locator("#user", { hasText: "admin" }).waitFor();
      await admin.locator('#admin-panel[data-state="connected"]').waitFor();
    });
    await step("both join the lobby", async () => {
      await admin.fill("#name", "boss");
      await admin.click("#join");
      await admin.locator('#joined[data-room="lobby"]').waitFor();
      await anon.fill("#name", "ann");
      await anon.click("#join");
      await anon.locator('#joined[data-room="lobby"]').waitFor();
      await admin.locator("#messages .notice", { hasText: "ann joined lobby" }).waitFor();
    });
    await step("room messages reach both", async () => {
      await anon.fill("#text", "hello from ann");
      await anon.click("#send");
      await admin.locator("#messages .message", { hasText: "ann: hello from ann" }).waitFor();
      await anon.locator("#messages .message", { hasText: "ann: hello from ann" }).waitFor();
    });
    await step("admin announcement reaches the anonymous page", async () => {
      await admin.fill("#announcement", "maintenance at noon");
      await admin.click("#announce");
      await anon.locator("#announcements li", { hasText: "admin: maintenance at noon" }).waitFor();
    });
    await step("other rooms do not hear the lobby", async () => {
      await anon.fill("#room", "elsewhere");
      await anon.click("#join");
      await anon.locator('#joined[data-room="elsewhere"]').waitFor();
      await admin.fill("#text", "lobby only");
      await admin.click("#send");
      await admin.locator("#messages .message", { hasText: "boss: lobby only" }).waitFor();
      await anon.fill("#text", "ping elsewhere");
      await anon.click("#send");
      await anon.locator("#messages .message", { hasText: "ann: ping elsewhere" }).waitFor();
      if ((await anon.locator("#messages .message", { hasText: "lobby only" }).count()) !== 0)
        throw new Error("a lobby message reached a client in another room");
    });
    await anon.screenshot({ path: path.join(opts.artifacts, "anonymous.png") });
    await admin.screenshot({ path: path.join(opts.artifacts, "admin.png") });
    result.ok = result.page_errors.length === 0;
    if (!result.ok) result.error = "page errors";
  } catch (err) {
    result.failed_step = current;
    result.error = String(err && err.message ? err.message : err);
  } finally {
    await browser.close().catch(() => {});
  }
  report(result.ok ? 0 : 1);
})();
