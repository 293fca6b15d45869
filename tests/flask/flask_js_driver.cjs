#!/usr/bin/env node
// Drives the socketwire.flask test app (tests/flask/apps/flaskapp.py) with the official
// socket.io-client 4.x and prints ONE JSON line: {"ok": true, "result": {...}} or
// {"ok": false, "error": "...", "result": {... what completed ...}}.
//
// usage: node flask_js_driver.cjs '{"url": ..., "transport": "polling"|"websocket"|"upgrade",
//                                   "cookie": "session=...", "tag": "..."}'
// Every wait is bounded; a watchdog ends the run if anything hangs.
"use strict";

const path = require("path");
const { io } = require(path.join(__dirname, "..", "js", "node_modules", "socket.io-client"));

const cfg = JSON.parse(process.argv[2] || "{}");
const WAIT_MS = 8000;
const result = {};

function finish(obj, code) {
  process.stdout.write(JSON.stringify(obj) + "\n", () => process.exit(code));
}
setTimeout(() => finish({ ok: false, error: "watchdog: scenario took over 60 s", result }, 3), 60000);

function enc(v) {
  if (Buffer.isBuffer(v) || v instanceof ArrayBuffer || ArrayBuffer.isView(v)) {
    const b = Buffer.isBuffer(v) ? v : v instanceof ArrayBuffer ? Buffer.from(v) : Buffer.from(v.buffer, v.byteOffset, v.byteLength);
    return { $bin: b.toString("base64") };
  }
  if (Array.isArray(v)) return v.map(enc);
  if (v && typeof v === "object") {
    const o = {};
    for (const k of Object.keys(v)) o[k] = enc(v[k]);
    return o;
  }
  return v === undefined ? null : v;
}

function bounded(promise, what) {
  let t;
  return Promise.race([
    promise,
    new Promise((_, rej) => (t = setTimeout(() => rej(new Error(`timeout waiting for ${what}`)), WAIT_MS))),
  ]).finally(() => clearTimeout(t));
}

const sockets = [];
function open(nsp, opts) {
  const transports = { polling: ["polling"], websocket: ["websocket"], upgrade: ["polling", "websocket"] }[cfg.transport];
  const s = io(cfg.url + nsp, Object.assign({ transports, reconnection: false, forceNew: true, timeout: WAIT_MS }, opts || {}));
  // Record every event, so none is missed between awaits.
  s.received = [];
  s.waiters = [];
  s.onAny((event, ...args) => {
    s.received.push([event, args]);
    s.waiters.forEach((w) => w());
  });
  sockets.push(s);
  return s;
}
function next(s, event, match) {
  return bounded(
    new Promise((resolve) => {
      const look = () => {
        const i = s.received.findIndex(([e, a]) => e === event && (!match || match(a)));
        if (i >= 0) {
          const [, args] = s.received.splice(i, 1)[0];
          s.waiters = s.waiters.filter((w) => w !== look);
          resolve(args);
        }
      };
      s.waiters.push(look);
      look();
    }),
    `event ${event}`
  );
}
function connected(s) {
  if (s.connected) return Promise.resolve();
  return bounded(
    new Promise((resolve, reject) => {
      s.once("connect", resolve);
      s.once("connect_error", (err) => reject(new Error("connect_error: " + err.message)));
    }),
    "connect"
  );
}
function refused(s) {
  return bounded(
    new Promise((resolve, reject) => {
      s.once("connect", () => reject(new Error("unexpectedly connected")));
      s.once("connect_error", (err) => resolve({ message: err.message, data: err.data === undefined ? null : err.data }));
    }),
    "connect_error"
  );
}
function ack(s, event, ...args) {
  return bounded(new Promise((resolve) => s.emit(event, ...args, (...res) => resolve(res))), `ack of ${event}`);
}
function disconnected(s) {
  return bounded(new Promise((resolve) => s.once("disconnect", (reason) => resolve(reason))), "disconnect");
}

async function main() {
  const tag = cfg.tag;
  const observer = open("/", { auth: { observe: true } });
  await connected(observer);

  // connect with auth and query string, welcome emitted by the connect handler
  const a = open("/", { auth: { token: "js" }, query: { tag: "q-" + tag } });
  await connected(a);
  const [welcome] = await next(a, "welcome");
  result.welcome = { ...welcome, sid_matches: welcome.sid === a.id };
  if (cfg.transport === "upgrade") {
    await bounded(new Promise((r) => (a.io.engine.transport.name === "websocket" ? r() : a.io.engine.once("upgrade", r))), "upgrade");
  }
  result.transport = a.io.engine.transport.name;

  // events, several arguments, acks, unnamed events, binary, catch-all
  result.echo_ack = await ack(a, "echo", "x", 2, { y: [3] });
  result.echo_event = await next(a, "echo");
  result.two_values = await ack(a, "two_values");
  a.send("plain");
  result.message = await next(a, "message");
  a.emit("json", { j: 1 });
  result.json = await next(a, "json");
  const blob = Buffer.from([...Array(300).keys()].map((n) => n % 256));
  result.bin_ack = enc(await ack(a, "bin", blob));
  result.bin_event = enc(await next(a, "bin"));
  result.catch_all = await ack(a, "unregistered", 1);

  // rooms and broadcasts
  const b = open("/");
  await connected(b);
  const room = "r-" + tag;
  result.join = await ack(a, "join", room);
  result.join_ids = [a.id];
  await ack(b, "join", room);
  await ack(a, "to_room", room, "hello", false);
  result.room_b = await next(b, "room_message");
  await ack(b, "broadcast", "bcast-" + tag, false);
  result.broadcast_a = await next(a, "broadcast", (args) => args[0] === "bcast-" + tag);
  result.leave = await ack(b, "leave", room);

  // server-to-client acknowledgement callback, run in the client's context
  a.on("question", (data, cb) => cb("answer to " + data));
  a.emit("ask_back", "q");
  result.answered = await next(a, "answered");

  // background thread pushing with socketio.emit
  result.ticks_ack = await ack(a, "ticks", 3);
  result.ticks = [];
  for (let i = 0; i < 3; i++) result.ticks.push((await next(a, "tick"))[0]);

  // error handlers keep the client
  result.boom_ack = await ack(a, "boom", 9);
  result.boom_event = await next(a, "error_seen");
  result.after_boom = await ack(a, "echo", "alive");

  // namespaces: decorated /chat, class-based /ns
  const chat = open("/chat");
  await connected(chat);
  result.chat_welcome = await next(chat, "chat_welcome");
  result.chat_fail = await ack(chat, "fail");
  const ns = open("/ns", { auth: { k: 3 } });
  await connected(ns);
  result.ns_welcome = await next(ns, "ns_welcome");
  result.ns_ping = await ack(ns, "ping_me", "p");
  result.ns_whoami_matches = (await ack(ns, "whoami"))[0].sid === ns.id;

  // refusals
  result.denied = await refused(open("/", { query: { deny: "1" } }));
  result.refused = await refused(open("/", { auth: { refuse: "js-no" } }));
  result.bad_namespace = await refused(open("/nowhere"));

  // Flask-Login: cookie from an HTTP login, protected namespace
  const headers = cfg.cookie ? { extraHeaders: { Cookie: cfg.cookie } } : {};
  const priv = open("/private", headers);
  if (cfg.cookie) {
    await connected(priv);
    result.secret = await ack(priv, "secret");
  } else {
    result.private_refused = await refused(priv);
  }

  // disconnect reasons as the server saw them
  const kicked = open("/");
  await connected(kicked);
  const kickedId = kicked.id;
  kicked.emit("kick");
  result.kicked_client_reason = await disconnected(kicked);
  result.kicked_server_reason = (await next(observer, "left", (x) => x[0].sid === kickedId))[0].reason;
  const leaving = open("/");
  await connected(leaving);
  const leavingId = leaving.id;
  leaving.disconnect();
  result.leaving_server_reason = (await next(observer, "left", (x) => x[0].sid === leavingId))[0].reason;

  // a client that disconnects while the server is still working on its acknowledged event
  const slow = open("/", { query: { tag: "slow-" + tag } });
  await connected(slow);
  let lateAck = false;
  slow.emit("slow_ack", () => (lateAck = true));
  result.slow_started = await ack(b, "slow_ack_started", "slow-" + tag);
  slow.disconnect();
  result.slow_status = await ack(b, "slow_ack_status", "slow-" + tag);
  result.late_ack = lateAck;
  result.after_slow = await ack(b, "echo", "still fine");
}

main()
  .then(() => {
    sockets.forEach((s) => s.disconnect());
    finish({ ok: true, result }, 0);
  })
  .catch((err) => {
    sockets.forEach((s) => s.disconnect());
    finish({ ok: false, error: String(err && err.stack ? err.stack : err), result }, 1);
  });
