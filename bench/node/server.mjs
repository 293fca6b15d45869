// Node socket.io 4.8 baseline for socketwire's benchmark: the same events as
// bench/servers.py. Usage: node bench/node/server.mjs PORT
import { createServer } from "node:http";
import { Server } from "socket.io";

const port = Number(process.argv[2] || 5000);
const http = createServer();
const io = new Server(http, {
  pingInterval: 25000,
  pingTimeout: 20000,
  maxHttpBufferSize: 1e6,
  cors: { origin: "*" },
  serveClient: false,
});

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
