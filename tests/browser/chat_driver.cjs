#!/usr/bin/env node
// Drives the chat example (examples/chat) in headless Chromium with playwright-core.
//
//   node tests/browser/chat_driver.cjs --url http://127.0.0.1:PORT --artifacts DIR
//        [--transport upgrade|polling|websocket] [--chromium /usr/bin/chromium]
//        [--timeout-ms 10000]
//
// --transport upgrade (the default) lets socket.io-client start with long-polling and
// upgrade to WebSocket, as it does for real users; polling and websocket pin one transport
// for the whole scenario.
//
// Prints exactly one JSON object on stdout:
//   {"ok": bool, "steps": [names of completed steps], "failed_step": str|null,
//    "error": str|null, "screenshots": [paths], "page_errors": [...], "console_errors": [...]}
// and exits 0 only when every step passed. Every wait is bounded by --timeout-ms, and the
// whole run by a watchdog, so a hung server turns into a failure instead of a hang.
// playwright-core comes from the shared npm project in tests/js.
"use strict";

const fs = require("fs");
const os = require("os");
const path = require("path");
const { createRequire } = require("module");
const { parseArgs } = require("util");

const requireFromPeers = createRequire(path.resolve(__dirname, "..", "js", "package.json"));
const { chromium } = requireFromPeers("playwright-core");

const { values: opts } = parseArgs({
  options: {
    url: { type: "string" },
    transport: { type: "string", default: "upgrade" },
    artifacts: { type: "string" },
    chromium: { type: "string", default: "/usr/bin/chromium" },
    "timeout-ms": { type: "string", default: "10000" },
    "watchdog-ms": { type: "string", default: "100000" },
  },
});
if (!opts.url || !opts.artifacts) {
  console.error("usage: chat_driver.cjs --url URL --artifacts DIR");
  process.exit(64);
}
const WAIT_MS = Number(opts["timeout-ms"]);
const TRANSPORTS = { upgrade: "websocket", polling: "polling", websocket: "websocket" };
if (!(opts.transport in TRANSPORTS)) {
  console.error(`--transport must be one of ${Object.keys(TRANSPORTS).join(", ")}`);
  process.exit(64);
}
const PAGE_URL =
  opts.transport === "upgrade" ? `${opts.url}/` : `${opts.url}/?transports=${opts.transport}`;
fs.mkdirSync(opts.artifacts, { recursive: true });

const CHROMIUM_FLAGS = [
  // --headless is added by playwright itself (headless: true below).
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

const result = {
  ok: false,
  steps: [],
  failed_step: null,
  error: null,
  screenshots: [],
  page_errors: [],
  console_errors: [],
};
let emitted = false;
function emit(exitCode) {
  if (emitted) return;
  emitted = true;
  process.stdout.write(JSON.stringify(result) + "\n", () => process.exit(exitCode));
}

const watchdog = setTimeout(() => {
  result.error = `watchdog: run exceeded ${opts["watchdog-ms"]} ms`;
  emit(2);
}, Number(opts["watchdog-ms"]));

let currentStep = null;
async function step(name, fn) {
  currentStep = name;
  await fn();
  result.steps.push(name);
  currentStep = null;
}

// --- page helpers ----------------------------------------------------------------------

const pages = {}; // label -> Page

async function openPage(context, label) {
  const page = await context.newPage();
  pages[label] = page;
  page.on("pageerror", (err) => result.page_errors.push(`${label}: ${err.message}`));
  page.on("console", (msg) => {
    if (msg.type() === "error") result.console_errors.push(`${label}: ${msg.text()}`);
  });
  await page.goto(PAGE_URL, { waitUntil: "load" });
  await page.locator('#conn-status[data-state="connected"]').waitFor();
  return page;
}

async function joinAs(page, nickname, room) {
  await page.fill("#nickname", nickname);
  await page.fill("#room", room);
  await page.click("#join-button");
  await page.locator("#room-title", { hasText: `# ${room}` }).waitFor();
  await page.locator("#messages .notice", { hasText: `You joined #${room}` }).waitFor();
}

function notice(page, text) {
  return page.locator("#messages .notice", { hasText: text });
}

// Their messages (not ours) with the given text and author.
function theirMessage(page, author, text) {
  return page
    .locator("#messages .message:not(.mine)")
    .filter({ has: page.locator(".author", { hasText: author }) })
    .filter({ has: page.locator(".text", { hasText: text }) });
}

async function waitForText(page, selector, expected) {
  await page.waitForFunction(
    ([sel, want]) => {
      const node = document.querySelector(sel);
      return node !== null && node.textContent.trim() === want;
    },
    [selector, expected]
  );
}

async function waitForMembers(page, expected) {
  await page.waitForFunction(
    (want) =>
      JSON.stringify([...document.querySelectorAll("#members li")].map((li) => li.textContent)) ===
      JSON.stringify(want),
    expected
  );
}

async function waitForRoomCount(page, room, count) {
  await waitForText(page, `#rooms button[data-room="${room}"] .count`, String(count));
}

// Two page screenshots side by side in one PNG, so a person can check the look at a glance.
async function sideBySide(context, shots, outPath) {
  const page = await context.newPage();
  const figures = shots
    .map(
      ({ label, file }) =>
        `<figure><figcaption>${label}</figcaption>` +
        `<img src="data:image/png;base64,${fs.readFileSync(file).toString("base64")}"></figure>`
    )
    .join("");
  await page.setViewportSize({ width: 1880, height: 700 });
  await page.setContent(
    `<style>body{margin:0;padding:16px;display:flex;gap:16px;background:#2b2f3a;font:14px sans-serif}
     figure{margin:0}figcaption{color:#fff;padding:0 0 6px}img{display:block;border:1px solid #555}</style>` +
      figures
  );
  await page.screenshot({ path: outPath, fullPage: true });
  await page.close();
  result.screenshots.push(outPath);
}

// --- scenario ----------------------------------------------------------------------------

async function scenario(context) {
  const ROOM = "lobby";
  let a, b, c;

  await step("A opens the page and connects", async () => {
    a = await openPage(context, "A");
  });
  await step(`A's connection settles on ${TRANSPORTS[opts.transport]}`, async () => {
    await a.waitForFunction(
      (want) => window.chat.socket.io.engine.transport.name === want,
      TRANSPORTS[opts.transport]
    );
  });
  await step("A sets nickname alice and joins #lobby", async () => {
    await joinAs(a, "alice", ROOM);
    await waitForMembers(a, ["alice"]);
  });
  await step("B opens the page and joins #lobby as bob", async () => {
    b = await openPage(context, "B");
    await joinAs(b, "bob", ROOM);
  });
  await step("A sees the join notice for bob and the member list", async () => {
    await notice(a, "bob joined").waitFor();
    await waitForMembers(a, ["alice", "bob"]);
    await waitForMembers(b, ["alice", "bob"]);
  });
  await step("both see #lobby with 2 members in the room list", async () => {
    await waitForRoomCount(a, ROOM, 2);
    await waitForRoomCount(b, ROOM, 2);
  });
  await step("B sees A's typing indicator", async () => {
    await a.locator("#message-input").pressSequentially("hello bob");
    await b.locator("#typing", { hasText: "alice is typing" }).waitFor();
  });
  await step("A sends a message and gets the ack", async () => {
    await a.locator("#message-input").pressSequentially(", from alice");
    await a.press("#message-input", "Enter");
    await a.locator("#messages .message.mine.sent", { hasText: "hello bob, from alice" }).waitFor();
    if ((await a.locator("#messages .message.failed").count()) !== 0) {
      throw new Error("A's message was marked as failed");
    }
  });
  await step("B shows A's message", async () => {
    await theirMessage(b, "alice", "hello bob, from alice").waitFor();
  });
  await step("B's typing indicator clears", async () => {
    await waitForText(b, "#typing", "");
  });
  await step("B replies and A shows it", async () => {
    await b.fill("#message-input", "hi alice, bob here");
    await b.click("#send-button");
    await b.locator("#messages .message.mine.sent", { hasText: "hi alice, bob here" }).waitFor();
    await theirMessage(a, "bob", "hi alice, bob here").waitFor();
  });
  await step("late joiner carol gets the room history", async () => {
    c = await openPage(context, "C");
    await joinAs(c, "carol", ROOM);
    const history = c.locator("#messages .message.history");
    await history.nth(1).waitFor();
    const got = await history.evaluateAll((items) =>
      items.map((li) => [li.querySelector(".author").textContent, li.querySelector(".text").textContent])
    );
    const want = [
      ["alice", "hello bob, from alice"],
      ["bob", "hi alice, bob here"],
    ];
    if (JSON.stringify(got) !== JSON.stringify(want)) {
      throw new Error(`history: want ${JSON.stringify(want)}, got ${JSON.stringify(got)}`);
    }
  });
  await step("A and B see carol join", async () => {
    await notice(a, "carol joined").waitFor();
    await notice(b, "carol joined").waitFor();
    await waitForMembers(a, ["alice", "bob", "carol"]);
    await waitForRoomCount(b, ROOM, 3);
  });
  await step("A sees B typing; screenshot of A and B", async () => {
    await b.locator("#message-input").pressSequentially("one moment");
    await a.locator("#typing", { hasText: "bob is typing" }).waitFor();
    const shots = [];
    for (const [label, page] of [["A — alice", a], ["B — bob", b]]) {
      const file = path.join(opts.artifacts, `page-${label[0]}.png`);
      await page.screenshot({ path: file });
      result.screenshots.push(file);
      shots.push({ label, file });
    }
    await sideBySide(context, shots, path.join(opts.artifacts, "chat-two-pages.png"));
    // Clearing the input is how a user stops typing: the others must be told at once.
    await b.fill("#message-input", "");
    await waitForText(a, "#typing", "");
  });
  await step("B leaves the room; A and C see the leave notice", async () => {
    await b.click("#leave-button");
    await b.locator("#join-panel").waitFor({ state: "visible" });
    await notice(a, "bob left").waitFor();
    await notice(c, "bob left").waitFor();
    await waitForMembers(a, ["alice", "carol"]);
  });
  // Over WebSocket a closed tab drops the TCP connection and the server notices at once.
  // Over long-polling nothing tells the server until the heartbeat times out (tens of
  // seconds), so there C hangs up explicitly, as a "log out" button would.
  const cGoesAway =
    opts.transport === "polling" ? "C disconnects its socket" : "C closes the tab";
  await step(`${cGoesAway}; A sees carol leave`, async () => {
    if (opts.transport === "polling") {
      await c.evaluate(() => window.chat.socket.disconnect());
      await c.locator('#conn-status[data-state="disconnected"]').waitFor();
    }
    await c.close();
    delete pages.C;
    await notice(a, "carol left").waitFor();
    await waitForMembers(a, ["alice"]);
    await waitForRoomCount(a, ROOM, 1);
  });
  await step("A switches to a new room #second; B's room list follows", async () => {
    await a.fill("#new-room", "second");
    await a.press("#new-room", "Enter");
    await a.locator("#room-title", { hasText: "# second" }).waitFor();
    await notice(a, "You joined #second").waitFor();
    if ((await a.locator("#messages .message").count()) !== 0) {
      throw new Error("a new room should start without messages");
    }
    await waitForRoomCount(b, "second", 1);
    await waitForRoomCount(b, ROOM, 0);
  });
  await step("no uncaught page errors", async () => {
    if (result.page_errors.length) throw new Error(`page errors: ${result.page_errors.join("; ")}`);
  });
}

async function main() {
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), "chat-chromium-"));
  let context;
  try {
    context = await chromium.launchPersistentContext(profile, {
      executablePath: opts.chromium,
      headless: true,
      args: CHROMIUM_FLAGS,
      viewport: { width: 900, height: 620 },
      timeout: 30000,
    });
    context.setDefaultTimeout(WAIT_MS);
    context.setDefaultNavigationTimeout(WAIT_MS);
    await scenario(context);
    result.ok = true;
  } catch (err) {
    result.failed_step = currentStep ?? "launch";
    // Playwright colours its call logs; the report is read as plain text.
    result.error = String(err && err.stack ? err.stack : err).replace(/\x1b\[[0-9;]*m/g, "");
    for (const [label, page] of Object.entries(pages)) {
      if (page.isClosed()) continue;
      const file = path.join(opts.artifacts, `failure-${label}.png`);
      try {
        await page.screenshot({ path: file, timeout: 5000 });
        result.screenshots.push(file);
      } catch {
        // The page may be wedged; the JSON report still says what failed.
      }
    }
  } finally {
    if (context) await context.close().catch(() => {});
    fs.rmSync(profile, { recursive: true, force: true });
  }
  clearTimeout(watchdog);
  emit(result.ok ? 0 : 1);
}

main();
