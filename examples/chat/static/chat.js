// Browser side of the socketwire chat demo. The event names and payloads are described
// at the top of examples/chat/app.py.
"use strict";

(() => {
  const ACK_TIMEOUT_MS = 5000;
  // Stop announcing "typing" after this long without a keystroke.
  const TYPING_IDLE_MS = 1500;
  // Forget a remote typist we have not heard from: a lost "stop" must not stick forever.
  const TYPING_EXPIRY_MS = 6000;

  const $ = (id) => document.getElementById(id);
  const ui = {
    status: $("conn-status"),
    me: $("me"),
    rooms: $("rooms"),
    members: $("members"),
    newRoomForm: $("new-room-form"),
    newRoom: $("new-room"),
    joinPanel: $("join-panel"),
    joinForm: $("join-form"),
    nickname: $("nickname"),
    room: $("room"),
    joinError: $("join-error"),
    roomPanel: $("room-panel"),
    roomTitle: $("room-title"),
    leave: $("leave-button"),
    messages: $("messages"),
    typing: $("typing"),
    composer: $("composer"),
    input: $("message-input"),
  };

  const state = {
    nickname: null,
    room: null,
    rooms: [],
    seen: new Set(), // ids of the messages shown for the current room
    joining: null, // the room of the join request in flight
    joinTicket: 0,
    early: [], // events for the room being joined that overtook the join's ack
    typists: new Map(), // sid -> {nickname, timer}
    typingSent: false,
    typingTimer: null,
  };

  // Same origin as the page. By default the client starts with HTTP long-polling and
  // upgrades to WebSocket; ?transports=polling or ?transports=websocket pins one instead
  // (the browser test runs its scenario over each).
  const pinned = new URLSearchParams(location.search).get("transports");
  const socket = io(pinned ? { transports: pinned.split(",") } : {});
  // Handy from the devtools console, and lets the browser test check the transport.
  window.chat = { socket };

  // --- connection ----------------------------------------------------------------------

  function setStatus(kind, text) {
    ui.status.dataset.state = kind;
    ui.status.textContent = text;
  }

  socket.on("connect", () => {
    setStatus("connected", "connected");
    // After a reconnect the server has forgotten us: take our seat again.
    if (state.room && state.nickname) join(state.room);
  });
  socket.on("disconnect", (reason) => {
    setStatus("disconnected", `disconnected (${reason})`);
    clearTypists();
  });
  socket.on("connect_error", (err) => setStatus("disconnected", `cannot connect: ${err.message}`));

  // --- rendering helpers -------------------------------------------------------------

  function colorFor(name) {
    let hash = 0;
    for (const ch of name) hash = (hash * 31 + ch.codePointAt(0)) >>> 0;
    return `hsl(${hash % 360} 55% 42%)`;
  }

  function timeOf(ts) {
    return new Date(ts * 1000).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  }

  function scrollToEnd() {
    ui.messages.scrollTop = ui.messages.scrollHeight;
  }

  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text; // never innerHTML: text is user input
    return node;
  }

  function renderMessage({ id, nickname, text, ts }, extraClass) {
    const li = el("li", `message${extraClass ? " " + extraClass : ""}`);
    if (id !== undefined) li.dataset.id = String(id);
    const meta = el("div", "meta");
    const author = el("span", "author", nickname);
    author.style.color = colorFor(nickname);
    meta.append(author, el("time", "time", ts ? timeOf(ts) : ""), el("span", "delivery"));
    li.append(meta, el("div", "text", text));
    ui.messages.append(li);
    scrollToEnd();
    return li;
  }

  function renderNotice(text) {
    ui.messages.append(el("li", "notice", text));
    scrollToEnd();
  }

  function renderRooms() {
    ui.rooms.replaceChildren(
      ...state.rooms.map(({ name, members }) => {
        const li = el("li");
        const button = el("button", name === state.room ? "room active" : "room");
        button.type = "button";
        button.dataset.room = name;
        button.append(el("span", "name", `# ${name}`), el("span", "count", String(members)));
        button.addEventListener("click", () => pickRoom(name));
        li.append(button);
        return li;
      })
    );
  }

  function renderMembers(names) {
    ui.members.replaceChildren(
      ...names.map((name) => {
        const li = el("li", name === state.nickname ? "member self" : "member", name);
        li.style.setProperty("--dot", colorFor(name));
        return li;
      })
    );
  }

  function renderTypists() {
    const names = [...state.typists.values()].map((t) => t.nickname);
    let text = "";
    if (names.length === 1) text = `${names[0]} is typing…`;
    else if (names.length === 2) text = `${names[0]} and ${names[1]} are typing…`;
    else if (names.length > 2) text = "several people are typing…";
    ui.typing.textContent = text;
    ui.typing.classList.toggle("active", names.length > 0);
  }

  function clearTypists() {
    for (const { timer } of state.typists.values()) clearTimeout(timer);
    state.typists.clear();
    renderTypists();
  }

  function showRoom(joined) {
    ui.joinPanel.hidden = joined;
    ui.roomPanel.hidden = !joined;
    ui.me.textContent = state.nickname ? state.nickname : "not joined";
    ui.roomTitle.textContent = state.room ? `# ${state.room}` : "";
    renderRooms();
    if (joined) ui.input.focus();
  }

  // --- actions -------------------------------------------------------------------------

  function join(room) {
    ui.joinError.textContent = "";
    const ticket = ++state.joinTicket;
    state.joining = room;
    state.early = [];
    socket.timeout(ACK_TIMEOUT_MS).emit("join", { nickname: state.nickname, room }, (err, reply) => {
      if (ticket !== state.joinTicket) return; // a later join superseded this one
      const early = state.early;
      state.joining = null;
      state.early = [];
      if (err || !reply.ok) {
        ui.joinError.textContent = err ? "the server did not answer" : reply.error;
        if (!state.room) {
          state.nickname = null; // the nickname is only ours once a join succeeded
          showRoom(false);
        }
        return;
      }
      stopTyping();
      clearTypists();
      state.room = reply.room;
      state.nickname = reply.nickname;
      ui.messages.replaceChildren();
      state.seen = new Set(reply.history.map((msg) => msg.id));
      for (const msg of reply.history) renderMessage(msg, "history");
      renderNotice(
        reply.history.length
          ? `You joined #${reply.room} · ${reply.history.length} earlier message(s) above`
          : `You joined #${reply.room}`
      );
      renderMembers(reply.members);
      showRoom(true);
      for (const replay of early) replay();
    });
  }

  function pickRoom(name) {
    if (state.nickname) {
      if (name !== state.room) join(name);
    } else {
      ui.room.value = name; // not joined yet: the join form still needs a nickname
      ui.nickname.focus();
    }
  }

  function leave() {
    socket.timeout(ACK_TIMEOUT_MS).emit("leave", (err) => {
      if (err) return;
      stopTyping();
      clearTypists();
      ui.room.value = state.room || ui.room.value;
      state.room = null;
      ui.messages.replaceChildren();
      renderMembers([]);
      ui.nickname.value = state.nickname || "";
      showRoom(false);
    });
  }

  function send(text) {
    const li = renderMessage({ nickname: state.nickname, text }, "mine pending");
    socket.timeout(ACK_TIMEOUT_MS).emit("chat message", { text }, (err, reply) => {
      li.classList.remove("pending");
      if (err || !reply.ok) {
        li.classList.add("failed");
        li.querySelector(".delivery").textContent = err ? "not delivered" : reply.error;
        return;
      }
      li.classList.add("sent");
      li.dataset.id = String(reply.id);
      li.querySelector(".time").textContent = timeOf(reply.ts);
      li.querySelector(".delivery").textContent = "✓";
    });
  }

  function stopTyping() {
    clearTimeout(state.typingTimer);
    if (state.typingSent) {
      state.typingSent = false;
      socket.emit("typing", false);
    }
  }

  // --- server events -------------------------------------------------------------------

  // Wraps a handler of events about one room. The server subscribes us to a room before it
  // answers the join, so that room's events can arrive before the ack: they are held and
  // replayed once the ack has set the room up. Events for other rooms are stale: dropped.
  function forRoom(handler) {
    return (payload) => {
      if (state.joining !== null && payload.room === state.joining) {
        state.early.push(() => handler(payload));
      } else if (payload.room === state.room) {
        handler(payload);
      }
    };
  }

  socket.on("rooms", (rooms) => {
    state.rooms = rooms;
    renderRooms();
  });

  socket.on("members", forRoom(({ members }) => renderMembers(members)));

  socket.on(
    "notice",
    forRoom(({ kind, nickname }) => {
      renderNotice(`${nickname} ${kind === "join" ? "joined" : "left"}`);
    })
  );

  socket.on(
    "chat message",
    forRoom((msg) => {
      if (state.seen.has(msg.id)) return; // already shown as history
      state.seen.add(msg.id);
      // Their message is the end of their typing, even if the "stop" is still in flight.
      for (const [sid, typist] of state.typists) {
        if (typist.nickname === msg.nickname) {
          clearTimeout(typist.timer);
          state.typists.delete(sid);
        }
      }
      renderTypists();
      renderMessage(msg);
    })
  );

  socket.on(
    "typing",
    forRoom(({ sid, nickname, typing }) => {
      const previous = state.typists.get(sid);
      if (previous) clearTimeout(previous.timer);
      if (typing) {
        const timer = setTimeout(() => {
          state.typists.delete(sid);
          renderTypists();
        }, TYPING_EXPIRY_MS);
        state.typists.set(sid, { nickname, timer });
      } else {
        state.typists.delete(sid);
      }
      renderTypists();
    })
  );

  // --- DOM events ----------------------------------------------------------------------

  ui.joinForm.addEventListener("submit", (event) => {
    event.preventDefault();
    state.nickname = ui.nickname.value.trim();
    join(ui.room.value.trim());
  });

  ui.newRoomForm.addEventListener("submit", (event) => {
    event.preventDefault();
    const name = ui.newRoom.value.trim();
    if (!name) return;
    ui.newRoom.value = "";
    pickRoom(name);
  });

  ui.leave.addEventListener("click", leave);

  ui.composer.addEventListener("submit", (event) => {
    event.preventDefault();
    const text = ui.input.value.trim();
    if (!text) return;
    ui.input.value = "";
    stopTyping();
    send(text);
  });

  ui.input.addEventListener("input", () => {
    if (!ui.input.value) return stopTyping();
    if (!state.typingSent) {
      state.typingSent = true;
      socket.emit("typing", true);
    }
    clearTimeout(state.typingTimer);
    state.typingTimer = setTimeout(stopTyping, TYPING_IDLE_MS);
  });
})();
