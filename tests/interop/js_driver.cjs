#!/usr/bin/env node
// Interop driver: runs one scenario with the official socket.io-client 4.x
// against a socketwire server and prints ONE JSON line on stdout:
//   {"ok": true, "result": {...}}   or   {"ok": false, "error": "...", "log": [...]}
//
// usage: node js_driver.cjs '<json config>'
//   config = {url, transport: "polling"|"websocket"|"upgrade", scenario, tag,
//             params?: {...}, timeout_ms?: number}
//
// Binary values are exchanged with the Python side as {"$bin": "<base64>"}.
// Every wait is bounded; a global watchdog fails the run if anything hangs.
"use strict";

const path = require("path");
const { io, Manager } = require(path.join(__dirname, "..", "js", "node_modules", "socket.io-client"));

const cfg = JSON.parse(process.argv[2] || "{}");
const URL_ = cfg.url;
const TAG = cfg.tag || "js-" + Math.random().toString(16).slice(2);
const PARAMS = cfg.params || {};
const WAIT_MS = PARAMS.wait_ms || 5000;
const LOG = [];

function log(...a) {
  LOG.push(a.map((x) => (typeof x === "string" ? x : JSON.stringify(enc(x)))).join(" "));
}

function finish(obj, code) {
  process.stdout.write(JSON.stringify(obj) + "\n", () => process.exit(code));
}

const watchdog = setTimeout(() => {
  finish({ ok: false, error: `watchdog: scenario did not finish in ${cfg.timeout_ms || 25000}ms`, log: LOG }, 3);
}, cfg.timeout_ms || 25000);

// ------------------------------------------------------------------ encoding
function isBinary(v) {
  return Buffer.isBuffer(v) || v instanceof ArrayBuffer || ArrayBuffer.isView(v);
}
function enc(v) {
  if (v === undefined) return null;
  if (isBinary(v)) {
    const buf = Buffer.isBuffer(v) ? v : v instanceof ArrayBuffer ? Buffer.from(v) : Buffer.from(v.buffer, v.byteOffset, v.byteLength);
    return { $bin: buf.toString("base64") };
  }
  if (Array.isArray(v)) return v.map(enc);
  if (v && typeof v === "object") {
    const o = {};
    for (const k of Object.keys(v)) o[k] = enc(v[k]);
    return o;
  }
  return v;
}
function dec(v) {
  if (Array.isArray(v)) return v.map(dec);
  if (v && typeof v === "object") {
    if (Object.keys(v).length === 1 && typeof v.$bin === "string") return Buffer.from(v.$bin, "base64");
    const o = {};
    for (const k of Object.keys(v)) o[k] = dec(v[k]);
    return o;
  }
  return v;
}
function toBuf(v) {
  return Buffer.isBuffer(v) ? v : v instanceof ArrayBuffer ? Buffer.from(v) : Buffer.from(v.buffer, v.byteOffset, v.byteLength);
}

// ------------------------------------------------------------------- helpers
function withTimeout(promise, ms, what) {
  let t;
  return Promise.race([
    promise,
    new Promise((_, reject) => {
      t = setTimeout(() => reject(new Error(`timeout after ${ms}ms waiting for ${what}`)), ms);
    }),
  ]).finally(() => clearTimeout(t));
}

function transportOpts() {
  switch (cfg.transport) {
    case "polling":
      return { transports: ["polling"] };
    case "websocket":
      return { transports: ["websocket"] };
    case "upgrade":
      return {}; // client defaults: polling first, then upgrade
    default:
      throw new Error("unknown transport " + cfg.transport);
  }
}

function managerOpts(extra) {
  return Object.assign({ reconnection: false, timeout: WAIT_MS, forceNew: true }, transportOpts(), extra || {});
}

const opened = [];

// Connect one socket (namespace nsp) on its own Manager.
function connect(nsp, auth, extra) {
  const socket = io(URL_ + (nsp || "/"), managerOpts(Object.assign({ auth }, extra || {})));
  opened.push(socket);
  return socket;
}

function waitConnect(socket, what) {
  if (socket.connected) return Promise.resolve(socket);
  return withTimeout(
    new Promise((resolve, reject) => {
      socket.once("connect", () => resolve(socket));
      socket.once("connect_error", (err) =>
        reject(Object.assign(new Error("connect_error: " + err.message), { data: err.data })),
      );
    }),
    WAIT_MS,
    what || "connect",
  );
}

function waitConnectError(socket, what) {
  return withTimeout(
    new Promise((resolve, reject) => {
      socket.once("connect", () => reject(new Error("unexpectedly connected (" + (what || "") + ")")));
      socket.once("connect_error", (err) => resolve({ message: err.message, data: enc(err.data) }));
    }),
    WAIT_MS,
    what || "connect_error",
  );
}

function waitEvent(socket, event, ms) {
  return withTimeout(
    new Promise((resolve) => socket.once(event, (...args) => resolve(args))),
    ms || WAIT_MS,
    `event ${JSON.stringify(event)}`,
  );
}

// Emit with an ack; resolves with ALL ack arguments (array).
function ack(socket, event, ...args) {
  return withTimeout(
    new Promise((resolve) => socket.emit(event, ...args, (...res) => resolve(res))),
    WAIT_MS,
    `ack for ${JSON.stringify(event)}`,
  );
}

// Wait until the engine runs over websocket (only meaningful in upgrade mode).
async function settledTransport(socket) {
  const engine = socket.io.engine;
  if (cfg.transport === "upgrade" && engine.transport.name !== "websocket") {
    await withTimeout(
      new Promise((resolve) => engine.once("upgrade", resolve)),
      WAIT_MS,
      "engine upgrade to websocket",
    );
  }
  return engine.transport.name;
}

// Record every incoming event on a socket, in order.
function recorder(socket) {
  const events = [];
  socket.onAny((event, ...args) => events.push([event, ...args]));
  return events;
}

// Ask the server (from a fresh connection) how it saw tag's disconnect.
async function probeDisconnect(nsp, tag, timeoutS) {
  const probe = connect("/", { tag: "probe-" + tag });
  await waitConnect(probe, "probe connect");
  const [res] = await withTimeout(
    new Promise((resolve) =>
      probe.emit("wait_disconnect", { tag, namespace: nsp, timeout: timeoutS }, (...r) => resolve(r)),
    ),
    (timeoutS + 5) * 1000,
    "wait_disconnect ack",
  );
  probe.disconnect();
  return res;
}

// ----------------------------------------------------------------- scenarios
const scenarios = {};

scenarios.connect_auth = async () => {
  const auth = { tag: TAG, token: "s3cr3t", nested: { list: [1, 2, "three"], ok: true }, welcome: true };
  const socket = connect("/", auth);
  const welcomeP = waitEvent(socket, "welcome");
  await waitConnect(socket);
  const [welcome] = await welcomeP;
  const engine = socket.io.engine;
  const [who] = await ack(socket, "whoami");
  const [sess1] = await ack(socket, "get_session");
  const [incr1] = await ack(socket, "session_incr");
  const [incr2] = await ack(socket, "session_incr");
  const [sess2] = await ack(socket, "get_session");
  const transport = await settledTransport(socket);
  const result = {
    socket_id: socket.id,
    engine_id: engine.id,
    connected: socket.connected,
    welcome,
    whoami: who,
    sent_auth: auth,
    session_before: sess1,
    incr: [incr1, incr2],
    session_after: sess2,
    handshake: { pingInterval: engine._pingInterval, pingTimeout: engine._pingTimeout, maxPayload: engine._maxPayload },
    transport,
  };
  const discP = waitEvent(socket, "disconnect");
  socket.disconnect();
  result.client_reason = (await discP)[0];
  result.server_view = await probeDisconnect("/", TAG, 10);
  return result;
};

scenarios.connect_refused = async () => {
  const result = {};
  // raise ConnectionRefusedError('go away', {...})
  const s1 = connect("/", { tag: TAG + "-r1", refuse: "go away" });
  result.refused = await waitConnectError(s1, "refused connect_error");
  result.refused_connected = s1.connected;
  s1.close();
  // connect handler returns False
  const s2 = connect("/", { tag: TAG + "-r2", reject_false: true });
  result.rejected_false = await waitConnectError(s2, "reject_false connect_error");
  s2.close();
  // '/' accepted, '/chat' refused on the same multiplexed connection
  const manager = new Manager(URL_, managerOpts());
  const root = manager.socket("/", { auth: { tag: TAG } });
  const chat = manager.socket("/chat", { auth: { tag: TAG, refuse: "chat closed" } });
  opened.push(root, chat);
  const chatErrP = waitConnectError(chat, "chat connect_error");
  await waitConnect(root, "root connect");
  result.chat_refused = await chatErrP;
  result.root_connected_after_chat_refusal = root.connected;
  result.root_echo_after = await ack(root, "echo", "still", "here");
  // after a refusal the same client can connect successfully
  const s3 = connect("/", { tag: TAG + "-ok" });
  await waitConnect(s3, "connect after refusals");
  result.later_connect_ok = s3.connected;
  result.transport = await settledTransport(root);
  return result;
};

scenarios.events = async () => {
  const socket = connect("/", { tag: TAG });
  await waitConnect(socket);
  const result = {};
  const payload = ["hello", 42, 3.5, true, null, { a: [1, null, false], u: "h\u00e9llo \u2713 \ud83d\ude80" }, [[], {}]];
  const p = waitEvent(socket, "server_says");
  socket.emit("echo_event", "server_says", ...payload);
  result.server_says = await p;
  result.sent = payload;
  // message / send()
  const m = waitEvent(socket, "message");
  socket.send("plain message \u00fc");
  result.message = (await m)[0];
  // catch-all handler, with ack
  result.catch_all = await ack(socket, "no_such_handler", { x: 1 }, "y");
  // a burst of events must arrive complete and in order
  const n = PARAMS.burst || 100;
  const got = [];
  const done = withTimeout(
    new Promise((resolve) => {
      socket.on("burst", (i) => {
        got.push(i);
        if (got.length === n) resolve();
      });
    }),
    WAIT_MS * 2,
    `burst of ${n} events`,
  ).catch((e) => e);
  for (let i = 0; i < n; i++) socket.emit("echo_event", "burst", i);
  const err = await done;
  result.burst = got;
  result.burst_error = err ? String(err) : null;
  result.transport = await settledTransport(socket);
  return result;
};

scenarios.acks = async () => {
  const socket = connect("/", { tag: TAG });
  socket.on("question", (...args) => {
    const cb = args.pop();
    cb({ got: args, from: "js" });
  });
  socket.on("question_multi", (...args) => {
    const cb = args.pop();
    cb(1, "two", { three: 3 }, args);
  });
  socket.on("question_empty", (...args) => {
    const cb = args.pop();
    cb();
  });
  socket.on("ignored", () => {}); // never acks
  await waitConnect(socket);
  const result = {};
  result.ack_none = await ack(socket, "echo");
  result.ack_one = await ack(socket, "echo", { a: 1 });
  result.ack_many = await ack(socket, "echo", "x", 2, [3], { four: 4 });
  result.server_call = await ack(socket, "ask_client", "question", { q: "life" });
  result.server_call_multi = await ack(socket, "ask_client", "question_multi", "m");
  result.server_call_empty = await ack(socket, "ask_client", "question_empty", "e");
  result.server_emit_callback = await ack(socket, "ask_client_cb", "question_multi", "cb");
  result.server_call_timeout = await ack(socket, "ask_client_timeout", "ignored", 1);
  // client-side ack timeout API works against our server too
  result.emit_with_ack = await socket.timeout(WAIT_MS).emitWithAck("echo", "ewa");
  result.transport = await settledTransport(socket);
  return result;
};

scenarios.binary = async () => {
  const socket = connect("/", { tag: TAG });
  await waitConnect(socket);
  const result = {};
  const small = Buffer.from([0, 1, 2, 253, 254, 255]);
  const nested = { nested: [Buffer.from("\x00\xff", "latin1"), { deep: Buffer.from("abc") }], n: 7, empty: Buffer.alloc(0) };
  result.echo = await ack(socket, "echo", small, nested, "text");
  // server -> client binary event + binary ack
  const binP = waitEvent(socket, "bin");
  result.from_server_ack = await ack(socket, "binary_from_server");
  result.from_server_event = await binP;
  // client -> server binary through sio.call (server asks, client acks with bytes)
  socket.on("give_bytes", (...args) => {
    const cb = args.pop();
    cb(Buffer.from([9, 8, 7]), { b: Buffer.from([6]) });
  });
  result.client_ack_bytes = await ack(socket, "ask_client", "give_bytes", "please");
  // large payloads both ways
  const size = PARAMS.big || 300000;
  const big = Buffer.alloc(size);
  for (let i = 0; i < size; i++) big[i] = (i * 7) % 256;
  const [bigBack] = await ack(socket, "echo", big);
  result.big_echo_ok = Buffer.isBuffer(bigBack) || isBinary(bigBack) ? Buffer.compare(toBuf(bigBack), big) === 0 : false;
  result.big_echo_len = bigBack && isBinary(bigBack) ? toBuf(bigBack).length : null;
  const bigEvP = waitEvent(socket, "big");
  const [bigLen] = await ack(socket, "big_binary", size);
  const [bigEv] = await bigEvP;
  const bb = isBinary(bigEv) ? toBuf(bigEv) : null;
  let ok = bb !== null && bb.length === size;
  for (let i = 0; ok && i < size; i++) if (bb[i] !== i % 251) ok = false;
  result.big_from_server = { ack_len: bigLen, len: bb ? bb.length : null, ok };
  result.transport = await settledTransport(socket);
  return result;
};

scenarios.namespaces = async () => {
  const manager = new Manager(URL_, managerOpts());
  const root = manager.socket("/", { auth: { tag: TAG } });
  const chat = manager.socket("/chat", { auth: { tag: TAG, room: "x" } });
  opened.push(root, chat);
  const rootEvents = recorder(root);
  const chatEvents = recorder(chat);
  await Promise.all([waitConnect(root, "root connect"), waitConnect(chat, "chat connect")]);
  const result = {};
  result.root_id = root.id;
  result.chat_id = chat.id;
  result.same_engine = root.io.engine === chat.io.engine;
  result.root_whoami = (await ack(root, "whoami"))[0];
  result.chat_whoami = (await ack(chat, "whoami"))[0];
  result.root_echo = await ack(root, "echo", "r");
  result.chat_echo = await ack(chat, "echo", "c", Buffer.from([1, 2]));
  // an event emitted to /chat must not show up on /
  await ack(chat, "chat_broadcast", { data: { hi: "chat" } });
  await ack(chat, "fence", { sids: [chat.id], token: "chat-fence" });
  await ack(root, "fence", { sids: [root.id], token: "root-fence" });
  result.root_events = rootEvents.slice();
  result.chat_events = chatEvents.slice();
  // server disconnects only /chat
  const chatDisc = waitEvent(chat, "disconnect");
  chat.emit("disconnect_me");
  result.chat_client_reason = (await chatDisc)[0];
  result.chat_server_view = await probeDisconnect("/chat", TAG, 10);
  result.root_connected_after = root.connected;
  result.root_echo_after = await ack(root, "echo", "alive");
  result.transport = await settledTransport(root);
  // client disconnects /
  const rootDisc = waitEvent(root, "disconnect");
  root.disconnect();
  result.root_client_reason = (await rootDisc)[0];
  result.root_server_view = await probeDisconnect("/", TAG, 10);
  return result;
};

scenarios.rooms = async () => {
  const room = "room-" + TAG;
  const names = ["A", "B", "C"];
  const socks = {};
  const events = {};
  for (const n of names) {
    socks[n] = connect("/", { tag: `${TAG}-${n}` });
    events[n] = recorder(socks[n]);
  }
  await Promise.all(names.map((n) => waitConnect(socks[n], "connect " + n)));
  const { A, B, C } = socks;
  const result = { ids: { A: A.id, B: B.id, C: C.id } };
  result.join_A = (await ack(A, "join", room))[0];
  result.join_B = (await ack(B, "join", room))[0];
  let fenceNo = 0;
  // emit fences to all three, wait for each to see it, return events received
  // by each since the previous fence (excluding the fence itself)
  const marks = { A: 0, B: 0, C: 0 };
  async function fenced(sender) {
    const token = "fence-" + ++fenceNo;
    const waits = names.map((n) =>
      withTimeout(
        new Promise((resolve) => {
          const check = () => {
            if (events[n].some((e) => e[0] === "fence" && e[1] === token)) return resolve();
            setTimeout(check, 5);
          };
          check();
        }),
        WAIT_MS,
        `${token} at ${n}`,
      ),
    );
    await ack(sender, "fence", { sids: [A.id, B.id, C.id], token });
    await Promise.all(waits);
    const out = {};
    for (const n of names) {
      const idx = events[n].findIndex((e) => e[0] === "fence" && e[1] === token);
      out[n] = events[n].slice(marks[n], idx).filter((e) => e[0] !== "fence");
      marks[n] = idx + 1;
    }
    return out;
  }
  await ack(A, "broadcast", { event: "news", data: "room-skip-self", room, skip_self: true });
  result.room_skip_self = await fenced(A);
  await ack(A, "broadcast", { event: "news", data: "room-all", room, skip_self: false });
  result.room_no_skip = await fenced(A);
  await ack(C, "broadcast", { event: "news", data: "everyone-but-C", room: null, skip_self: true });
  result.all_skip_C = await fenced(C);
  result.leave_B = (await ack(B, "leave", room))[0];
  await ack(A, "broadcast", { event: "news", data: "after-leave", room, skip_self: false });
  result.after_leave = await fenced(A);
  // emit to a single sid (room == sid)
  await ack(A, "broadcast", { event: "news", data: "to-C-sid", room: C.id, skip_self: false });
  result.to_sid = await fenced(A);
  result.close_room_A = (await ack(A, "close_room", room))[0];
  await ack(A, "broadcast", { event: "news", data: "after-close", room, skip_self: false });
  result.after_close = await fenced(A);
  result.transport = await settledTransport(A);
  return result;
};

scenarios.server_disconnect = async () => {
  const socket = connect("/", { tag: TAG });
  await waitConnect(socket);
  const result = { transport: await settledTransport(socket) };
  const disc = waitEvent(socket, "disconnect");
  socket.emit("disconnect_me");
  const [reason] = await disc;
  result.client_reason = reason;
  result.connected_after = socket.connected;
  result.server_view = await probeDisconnect("/", TAG, 10);
  return result;
};

scenarios.client_disconnect = async () => {
  const socket = connect("/", { tag: TAG });
  await waitConnect(socket);
  const result = { transport: await settledTransport(socket) };
  const [who] = await ack(socket, "whoami");
  result.whoami_tag = who.tag;
  const disc = waitEvent(socket, "disconnect");
  socket.disconnect();
  result.client_reason = (await disc)[0];
  result.server_view = await probeDisconnect("/", TAG, 10);
  return result;
};

// Connect, then vanish without any goodbye (process exits, OS closes TCP).
// The server's view is checked by a second run of the "probe" scenario.
scenarios.vanish = async () => {
  const socket = connect("/", { tag: TAG });
  await waitConnect(socket);
  const result = { transport: await settledTransport(socket) };
  const [who] = await ack(socket, "whoami");
  result.whoami_tag = who.tag;
  result.exit_without_close = true;
  return result;
};

scenarios.probe = async () => {
  return await probeDisconnect(PARAMS.namespace || "/", PARAMS.target_tag, PARAMS.timeout_s || 15);
};

scenarios.heartbeat = async () => {
  const socket = connect("/", { tag: TAG });
  await waitConnect(socket);
  const engine = socket.io.engine;
  const want = PARAMS.pings || 2;
  let pings = 0;
  await withTimeout(
    new Promise((resolve) =>
      engine.on("ping", () => {
        if (++pings >= want) resolve();
      }),
    ),
    PARAMS.ping_wait_ms || 15000,
    `${want} server pings`,
  );
  const result = { pings, connected: socket.connected, pingInterval: engine._pingInterval };
  result.echo_after = await ack(socket, "echo", "after-pings");
  result.transport = await settledTransport(socket);
  return result;
};

// --------------------------------------------------------------------- main
(async () => {
  const fn = scenarios[cfg.scenario];
  if (!fn) throw new Error("unknown scenario " + cfg.scenario);
  const result = await fn();
  clearTimeout(watchdog);
  if (cfg.scenario !== "vanish") {
    for (const s of opened) if (s.connected) s.disconnect();
  }
  finish({ ok: true, result: enc(result), log: LOG }, 0);
})().catch((err) => {
  clearTimeout(watchdog);
  finish({ ok: false, error: String((err && err.stack) || err), data: enc(err && err.data), log: LOG }, 1);
});
