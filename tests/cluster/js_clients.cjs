#!/usr/bin/env node
// A pool of official socket.io-client 4.x clients driven over stdin/stdout, one JSON
// request per line: {"id", "op", ...} -> {"id", "ok", "result"|"error"}.
//   connect {urls: [...], transport: "websocket"|"polling"|"upgrade"} -> [sid, ...]
//   emit    {client, event, args: [...]}  (with an ack)                -> ack args
//   received {}                -> per client: [[event, ...args], ...] in arrival order
//   close   {}                 -> disconnects everything and exits
// Every client answers "add" (a, b, ack) with a + b and records every event it gets.
// Every wait is bounded; the process exits if stdin closes.
"use strict";

const path = require("path");
const readline = require("readline");
const { io } = require(path.join(__dirname, "..", "js", "node_modules", "socket.io-client"));

const clients = [];
const received = [];

function reply(obj) {
  process.stdout.write(JSON.stringify(obj) + "\n");
}

function transports(kind) {
  if (kind === "polling") return { transports: ["polling"], upgrade: false };
  if (kind === "upgrade") return { transports: ["polling", "websocket"] };
  return { transports: ["websocket"] };
}

function connectOne(url, kind) {
  return new Promise((resolve, reject) => {
    const socket = io(url, { ...transports(kind), reconnection: false, forceNew: true, timeout: 5000 });
    const index = clients.length;
    clients.push(socket);
    received.push([]);
    socket.onAny((event, ...args) => received[index].push([event, ...args]));
    socket.on("add", (a, b, ack) => ack(a + b));
    const timer = setTimeout(() => reject(new Error("connect timeout " + url)), 8000);
    socket.on("connect", () => {
      clearTimeout(timer);
      resolve(socket.id);
    });
    socket.on("connect_error", (err) => {
      clearTimeout(timer);
      reject(err);
    });
  });
}

async function handle(req) {
  switch (req.op) {
    case "connect":
      return Promise.all(req.urls.map((url) => connectOne(url, req.transport || "websocket")));
    case "emit":
      return clients[req.client].timeout(5000).emitWithAck(req.event, ...(req.args || []));
    case "received":
      return received;
    case "transports":
      return clients.map((s) => (s.connected ? s.io.engine.transport.name : null));
    case "close":
      clients.forEach((s) => s.disconnect());
      setTimeout(() => process.exit(0), 100);
      return true;
    default:
      throw new Error("unknown op " + req.op);
  }
}

const rl = readline.createInterface({ input: process.stdin });
rl.on("line", (line) => {
  const req = JSON.parse(line);
  handle(req).then(
    (result) => reply({ id: req.id, ok: true, result }),
    (err) => reply({ id: req.id, ok: false, error: String(err && err.message ? err.message : err) })
  );
});
rl.on("close", () => process.exit(0));
