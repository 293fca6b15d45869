// Node socket.io 4.8 baseline for socketwire's benchmark: the same events as
// bench/servers.py. Usage: node bench/node/server.mjs PORT [REDIS_URL CHANNEL]
// With REDIS_URL the server is one node of a cluster: @socket.io/redis-adapter (node-redis
// clients), CHANNEL as the adapter's key (its pub/sub channel prefix).
import { createServer } from "node:http";
import { Server } from "socket.io";

const port = Number(process.argv[2] || 5000);
const redisUrl = process.argv[3];
const channel = process.argv[4] || "socketwire-bench";
const http = createServer();
const io = new Server(http, {
  pingInterval: 25000,
  pingTimeout: 20000,
  maxHttpBufferSize: 1e6,
  cors: { origin: "*" },
  serveClient: false,
});

if (redisUrl) {
  const { createAdapter } = await import("@socket.io/redis-adapter");
  const { createClient } = await import("redis");
  const pub = createClient({ url: redisUrl });
  const sub = pub.duplicate();
  for (const c of [pub, sub]) c.on("error", (err) => console.error("redis:", err.message));
  await Promise.all([pub.connect(), sub.connect()]);
  io.adapter(createAdapter(pub, sub, { key: channel }));
}

io.on("connection", (socket) => {
  // echo: acknowledge with the event's own arguments
  socket.on("echo", (...args) => {
    const ack = args.pop();
    if (typeof ack === "function") ack(...args);
  });
  // join: enter a room, ack with the room name
  socket.on("join", (room, ack) => {
    socket.join(room);
    if (typeof ack === "function") ack(room);
  });
  // broadcast: send {room, data} as event "bcast" (data) to everyone in the room
  socket.on("broadcast", (msg, ack) => {
    io.to(msg.room).emit("bcast", msg.data);
    if (typeof ack === "function") ack(true);
  });
});

http.listen(port, "127.0.0.1", 2048);
process.on("SIGTERM", () => process.exit(0));
process.on("SIGINT", () => process.exit(0));
