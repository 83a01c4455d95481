// chatrelay web chat: the state, the connection, rooms and the wiring.
// Plain ES2020, no build step, no framework: it uses the globals StompJs
// (vendor/stomp.umd.min.js), SockJS (vendor/sockjs.min.js), and the page's
// own i18n.js (strings), names.js (the server's name rules), store.js (what
// survives a reload), render.js (how messages look), view.js (what is
// shown), send.js (messages, private messages and rooms sent),
// typing.js (typing indicators), moderation.js (moderator actions),
// revise.js (editing and deleting messages) and reads.js (read positions
// and unread counts).
// index.html lists the element ids. Everything the server sends is shown
// with textContent, never parsed as HTML.
"use strict";

(() => {
  const { t, apply, setLang, lang, onChange } = globalThis.chatrelayI18n;
  const names = globalThis.chatrelayNames;
  const store = globalThis.chatrelayStore;
  const R = globalThis.chatrelayRender;

  const HISTORY = 50; // x-history when joining a room
  const ROOM_PAGE = 100; // rooms per /app/rooms page (the server's most)
  const ROOM_PAGES = 50; // pages of the room list followed at most
  const RECONNECT_DELAY_MS = 2000; // stompjs reconnectDelay
  const RESUBSCRIBE_MS = 2000; // after a room subscription failed or ended
  const KEEP_MESSAGES = 500; // messages kept in memory per joined room

  const $ = (id) => document.getElementById(id);
  const params = new URLSearchParams(location.search);

  const state = {
    client: null, // the StompJs.Client, null when disconnected
    user: "", // the login we connect with
    me: "", // the user name the server confirmed
    everConnected: false, // tells "connecting" from "reconnecting"
    status: "disconnected",
    maxBytes: 4096, // rooms.max_message_bytes, from /config.json
    rooms: new Map(), // id → room {id, name, createdAt, createdBy, online}
    roomsLoaded: false, // the /app/rooms answer arrived on this connection
    pendingRoomEvents: [], // /topic/rooms events that came before it
    joined: new Map(), // id → {sub, ready, lastOffset, messages, unread}
    current: "", // id of the room shown
    dms: [], // private messages shown
    dmIds: new Set(),
    pending: [], // messages not yet confirmed: {key, kind room|dm, roomId, to, text, state, receipt}
    banner: null, // {source, key, params, action, roomId} shown in #error-banner
    membersSeq: 0, // drops out-of-order member answers
    membersRetries: 0, // asks again for the room shown (view.js)
    seq: 0, // receipt and pending key counter
  };

  const connected = () => state.client !== null && state.client.connected;
  const nextKey = (p) => `${p}-${Date.now().toString(36)}-${++state.seq}`;

  // the page's parts share app: view.js (what is shown) and send.js (what
  // is sent) add their functions to it, and call this file's through it
  const app = { state, $, params, connected, nextKey, persist, parseBody, joinRoom, forgetRoom, KEEP_MESSAGES };
  globalThis.chatrelayView(app);
  globalThis.chatrelaySend(app);
  globalThis.chatrelayTyping(app);
  globalThis.chatrelayModeration(app);
  globalThis.chatrelayRevise(app);
  globalThis.chatrelayReads(app);
  const { setStatus, showError, clearError, updateControls } = app;
  const { renderAll, renderRooms, showRoom, renderMessages, appendMessage, renderDMs, updateByteCount } = app;
  const { refreshMembersSoon } = app;
  const { loadConfig, checkLength, sendMessage, flushPending, retry, sendDM, onDirectMessage, createRoom, onSendError } = app;

  // ---- persistence ----

  function persist() {
    if (state.user) store.save(state.user, state);
  }

  // restore loads the user's saved rooms, messages, DMs and pending ones.
  function restore(user) {
    const s = store.load(user);
    state.joined = new Map();
    for (const id of s.order) {
      const r = s.rooms[id];
      if (!r) continue;
      const messages = Array.isArray(r.messages) ? r.messages : [];
      const lastOffset = Number.isFinite(r.lastOffset) ? r.lastOffset : -1;
      const name = typeof r.name === "string" ? r.name : "";
      state.joined.set(id, { sub: null, ready: false, lastOffset, messages, unread: 0, name });
    }
    state.current = state.joined.has(s.current) ? s.current : "";
    state.dms = s.dms;
    state.dmIds = new Set(s.dms.map((d) => d.id).filter(Boolean));
    state.pending = s.pending
      .filter((p) => p && typeof p.text === "string" && p.key)
      .map((p) => ({ ...p, state: p.state === "failed" ? "failed" : "sending", receipt: "" }));
  }

  // ---- connection ----

  function useSockJS() {
    return params.get("transport") === "sockjs" || typeof window.WebSocket !== "function";
  }

  function connect(user) {
    if (!names.validUser(user)) {
      showError("client", "err.user");
      return;
    }
    const sockjs = useSockJS();
    if (typeof StompJs === "undefined" || (sockjs && typeof SockJS === "undefined")) {
      showError("client", "err.library");
      return;
    }
    disconnect();
    clearError("client");
    state.user = user;
    store.setLastUser(user);
    restore(user);
    const client = new StompJs.Client({
      connectHeaders: { login: user, "accept-language": lang() },
      reconnectDelay: RECONNECT_DELAY_MS,
      heartbeatIncoming: 10000,
      heartbeatOutgoing: 10000,
      connectionTimeout: 10000,
      debug: params.get("debug") === "1" ? (s) => console.debug(s) : () => {},
    });
    if (sockjs) {
      client.webSocketFactory = () => new SockJS("/ws-stomp");
    } else {
      const scheme = location.protocol === "https:" ? "wss://" : "ws://";
      client.brokerURL = `${scheme}${location.host}/ws`;
    }
    $("transport").textContent = sockjs ? "sockjs" : "websocket";
    // callbacks of a client replaced by a newer one are ignored
    client.beforeConnect = () => {
      if (client === state.client) setStatus(state.everConnected ? "reconnecting" : "connecting");
    };
    client.onConnect = (frame) => {
      if (client === state.client) onConnected(frame);
    };
    client.onStompError = (frame) => {
      if (client !== state.client) return;
      if (/shutting down/i.test(frame.headers.message || "")) {
        showError("stomp", "err.shutdown"); // a replica going away: stompjs reconnects
        return;
      }
      const what = [frame.headers.message, (frame.body || "").trim()].filter(Boolean).join(": ");
      showError("stomp", "err.server", { what: what || "ERROR" });
    };
    client.onWebSocketClose = () => {
      if (client !== state.client) return;
      for (const j of state.joined.values()) Object.assign(j, { sub: null, ready: false }); // gone with the socket
      for (const p of state.pending) p.receipt = ""; // its RECEIPT can no longer come
      if (client.active) setStatus(state.everConnected ? "reconnecting" : "connecting");
    };
    state.client = client;
    setStatus("connecting");
    renderAll();
    client.activate();
  }

  // disconnect closes the connection on purpose; the session stays saved
  // for the next connect, but the page no longer connects by itself.
  function disconnect() {
    const client = state.client;
    if (client === null) return;
    persist();
    state.client = null;
    client.deactivate();
    store.setLastUser("");
    Object.assign(state, {
      me: "",
      everConnected: false,
      rooms: new Map(),
      roomsLoaded: false,
      pendingRoomEvents: [],
      joined: new Map(),
      current: "",
      dms: [],
      dmIds: new Set(),
      pending: [],
    });
    $("me").textContent = "";
    clearError();
    renderAll();
    setStatus("disconnected");
  }

  function onConnected(frame) {
    state.everConnected = true;
    state.me = frame.headers["user-name"] || state.user;
    $("me").textContent = state.me;
    renderDMs(); // restored ones: which are ours is known now
    clearError("stomp", "closed"); // recovered
    const client = state.client;
    client.subscribe("/user/queue/errors", onUserError);
    client.subscribe("/user/queue/messages", onDirectMessage);
    client.subscribe("/user/queue/reads", app.onMyReads);
    // room events first, then the list, so that no creation falls
    // between: the list is asked for once the server receipted the event
    // subscription (the broker has bound it), and the server answers it
    // with every room created before the question
    state.roomsLoaded = false;
    state.pendingRoomEvents = [];
    const receipt = nextKey("rooms");
    client.watchForReceipt(receipt, () => {
      if (client === state.client) loadRoomPage(client, "", new Map(), 0);
    });
    client.subscribe("/topic/rooms", onRoomEvent, { receipt });
    setStatus("connected");
    flushPending(); // private messages typed while offline
  }

  // loadRoomPage asks /app/rooms for one page of the room list (after
  // cursor) and follows "next" until the last page, or ROOM_PAGES pages.
  function loadRoomPage(client, cursor, rooms, pages) {
    const headers = { limit: String(ROOM_PAGE) };
    if (cursor) headers.cursor = cursor;
    const listSub = client.subscribe(
      "/app/rooms",
      (m) => {
        listSub.unsubscribe(); // /app/rooms answers once
        if (client !== state.client) return; // a newer connection lists again
        const page = parseBody(m);
        if (!page || !Array.isArray(page.rooms)) return;
        for (const r of page.rooms) rooms.set(r.id, r);
        if (page.next && pages + 1 < ROOM_PAGES) loadRoomPage(client, page.next, rooms, pages + 1);
        else onRoomList(rooms);
      },
      headers,
    );
  }

  function parseBody(m) {
    try {
      return JSON.parse(m.body);
    } catch {
      showError("client", "err.unreadable");
      return null;
    }
  }

  function onUserError(m) {
    const e = parseBody(m);
    if (!e) return;
    if (onSendError(m, e)) return;
    // a typing signal or a read position refused (a limit, a room just
    // left) is no news
    if (typeof e.destination === "string" && /\/(typing|read)$/.test(e.destination)) return;
    // a room subscription that failed or ended: follow the room again
    for (const [id, j] of state.joined) {
      if (j.subId && (e.subscription === j.subId || m.headers.subscription === j.subId)) {
        Object.assign(j, { sub: null, ready: false });
        setTimeout(() => resubscribe(id), RESUBSCRIBE_MS);
        showError("queue", `code.${e.code}`, { what: e.message || "" }, { roomId: id });
        return;
      }
    }
    const key = `code.${e.code}`;
    if (t(key) !== key) showError("queue", key, { what: e.message || "" });
    else showError("queue", "err.queue", { what: [e.code, e.message].filter(Boolean).join(": ") });
  }

  // ---- rooms ----

  function onRoomList(rooms) {
    for (const [id, r] of rooms) {
      const old = state.rooms.get(id);
      if (old && typeof old.online === "number" && typeof r.online !== "number") r.online = old.online;
      const j = state.joined.get(id);
      if (j) j.name = r.name;
    }
    state.rooms = rooms;
    state.roomsLoaded = true;
    app.fromList(rooms);
    for (const ev of state.pendingRoomEvents) applyRoomEvent(ev);
    state.pendingRoomEvents = [];
    // resume every followed room that still exists; forget the others
    for (const id of [...state.joined.keys()]) {
      if (state.rooms.has(id)) subscribeRoom(id);
      else forgetRoom(id);
    }
    renderRooms();
    showRoom(state.current);
  }

  function onRoomEvent(m) {
    const ev = parseBody(m);
    if (!ev || typeof ev.event !== "string") return;
    if (!state.roomsLoaded) {
      state.pendingRoomEvents.push(ev);
      return;
    }
    applyRoomEvent(ev);
    renderRooms();
  }

  function applyRoomEvent(ev) {
    if (ev.event === "online" && ev.online && typeof ev.online === "object") {
      for (const [id, n] of Object.entries(ev.online)) {
        const r = state.rooms.get(id);
        if (r && Number.isInteger(n)) r.online = n;
        if (id === state.current) refreshMembersSoon();
      }
    } else if (ev.event === "created" && ev.room) {
      const old = state.rooms.get(ev.room.id);
      state.rooms.set(ev.room.id, { ...ev.room, online: old ? old.online : 0 });
    } else if (ev.event === "deleted" && ev.room) {
      state.rooms.delete(ev.room.id);
      if (state.joined.has(ev.room.id)) forgetRoom(ev.room.id);
    }
  }

  // subscribeRoom follows a joined room: the last HISTORY messages the
  // first time, every message after the last offset seen afterwards (a
  // reconnect, a reload). Its RECEIPT comes after the replay: then the
  // messages still unconfirmed that the replay did not bring are sent.
  function subscribeRoom(id) {
    const j = state.joined.get(id);
    const client = state.client;
    const receipt = nextKey("sub");
    const headers =
      j.lastOffset >= 0 ? { "x-resume-after": String(j.lastOffset) } : { "x-history": String(HISTORY) };
    headers.receipt = receipt;
    j.subId = nextKey("room");
    headers.id = j.subId;
    client.watchForReceipt(receipt, () => {
      if (client !== state.client || state.joined.get(id) !== j) return;
      j.ready = true;
      if (state.banner && state.banner.roomId === id) clearError();
      if (id === state.current) refreshMembersSoon(); // we are among them now
      flushPending();
    });
    j.sub = client.subscribe(`/topic/room.${id}`, (m) => onRoomMessage(id, m), headers);
    app.subscribeTyping(id, j);
    app.subscribeReads(id, j);
  }

  function resubscribe(id) {
    const j = state.joined.get(id);
    if (j && !j.sub && connected() && state.rooms.has(id)) subscribeRoom(id);
  }

  function joinRoom(id) {
    if (!state.joined.has(id)) {
      if (!connected()) {
        showError("client", "err.notConnected");
        return;
      }
      const room = state.rooms.get(id);
      state.joined.set(id, { sub: null, ready: false, lastOffset: -1, messages: [], unread: 0, name: room ? room.name : "" });
      subscribeRoom(id);
    }
    showRoom(id);
    persist();
  }

  function leaveRoom() {
    const id = state.current;
    if (!id) return;
    const j = state.joined.get(id);
    if (j && j.sub && connected()) j.sub.unsubscribe();
    if (j && j.typingSub && connected()) j.typingSub.unsubscribe();
    if (j && j.readsSub && connected()) j.readsSub.unsubscribe();
    forgetRoom(id);
  }

  // forgetRoom drops a room from the followed ones (its subscription is
  // already gone or left to the caller), with its unsent messages.
  function forgetRoom(id) {
    state.joined.delete(id);
    state.pending = state.pending.filter((p) => p.roomId !== id);
    if (state.current === id) showRoom(state.joined.keys().next().value || "");
    renderRooms();
    persist();
  }

  function onRoomMessage(id, m) {
    const j = state.joined.get(id);
    if (!j) return;
    const msg = parseBody(m);
    if (!msg) return;
    const offset = Number(m.headers["x-offset"] ?? msg.offset);
    if (Number.isFinite(offset)) {
      if (offset <= j.lastOffset) return; // already shown (replay overlap)
      j.lastOffset = offset;
      msg.offset = offset;
    }
    if (msg.type === "EDIT" || msg.type === "DELETE") {
      // a change of an earlier message, never shown itself
      if (app.applyRevision(id, msg)) renderMessages();
      persist();
      return;
    }
    j.messages.push(msg);
    if (j.messages.length > KEEP_MESSAGES) j.messages.shift();
    if (msg.type === "SYSTEM" && typeof msg.event === "string") {
      app.onSystem(id, msg);
      if (!state.joined.has(id)) return; // kicked or banned: the room is left
    }
    // our own message is back: it leaves the pending ones
    const mine = msg.sender === state.me && (msg.type || "TALK") === "TALK";
    const i = mine ? state.pending.findIndex((p) => p.kind === "room" && p.roomId === id && p.text === msg.message) : -1;
    if (i >= 0) state.pending.splice(i, 1);
    if (id === state.current) {
      app.markRead();
      if (R.isPresence(msg)) {
        renderMessages();
        refreshMembersSoon();
      } else {
        if (i >= 0) renderMessages();
        else appendMessage(msg);
      }
    } else if (!R.isPresence(msg)) {
      j.unread++;
      renderRooms();
    }
    persist();
  }

  // ---- wiring ----

  function onSubmit(id, fn) {
    $(id).addEventListener("submit", (e) => {
      e.preventDefault();
      fn();
    });
  }

  onSubmit("login-form", () => connect($("user").value.trim()));
  onSubmit("create-room-form", createRoom);
  onSubmit("send-form", sendMessage);
  onSubmit("dm-form", sendDM);
  $("disconnect").addEventListener("click", disconnect);
  $("leave-room").addEventListener("click", leaveRoom);
  $("error-dismiss").addEventListener("click", () => clearError());
  $("error-action").addEventListener("click", () => {
    const a = state.banner && state.banner.action;
    clearError();
    if (a && a.roomId) joinRoom(a.roomId);
  });
  $("message-input").addEventListener("keydown", (e) => {
    // Enter sends, Shift+Enter is a new line; never while an IME (Korean
    // input) is composing
    if (e.key === "Enter" && !e.shiftKey && !e.isComposing && e.keyCode !== 229) {
      e.preventDefault();
      sendMessage();
    }
  });
  $("message-input").addEventListener("input", () => {
    updateByteCount();
    if (!$("send-reason").hidden) checkLength($("message-input").value, "send-reason");
  });
  $("user").addEventListener("input", () => {
    if (state.client === null) {
      state.user = $("user").value.trim();
      updateControls();
    }
  });
  $("lang").addEventListener("change", (e) => setLang(e.target.value));
  onChange(() => {
    $("lang").value = lang();
    setStatus(state.status);
    renderAll();
    for (const id of ["send-reason", "dm-reason"]) $(id).hidden = true;
    for (const li of $("online").children) li.title = t("online.title");
    // the moderator buttons too, at once: the member list is asked for
    // again, but a screenshot or a reader must not see the old language
    for (const b of $("online").querySelectorAll("button[data-action]")) {
      b.textContent = t(`mod.${b.dataset.action}`);
      b.title = t(`mod.${b.dataset.action}.title`, { user: b.dataset.user });
    }
  });
  for (const list of ["messages", "dms"]) {
    $(list).addEventListener("click", (e) => {
      const b = e.target.closest("button[data-retry]");
      if (b) retry(b.dataset.retry);
    });
  }

  const pickRoom = (e) => {
    const li = e.target.closest("li[data-room-id]");
    if (li) joinRoom(li.dataset.roomId);
  };
  $("room-list").addEventListener("click", pickRoom);
  $("room-list").addEventListener("keydown", (e) => {
    if (e.key === "Enter" || e.key === " ") {
      e.preventDefault();
      pickRoom(e);
    }
  });
  $("online").addEventListener("click", (e) => {
    if (app.onMemberClick(e)) return;
    const li = e.target.closest("li[data-user]");
    if (li) {
      $("dm-to").value = li.dataset.user;
      $("dm-text").focus();
    }
  });

  // test hooks: scripted browsers simulate a network drop with
  // chatrelay.dropConnection() (stompjs then reconnects and resumes)
  window.chatrelay = Object.freeze({
    dropConnection: () => {
      if (state.client) state.client.forceDisconnect();
    },
    lastOffsets: () => Object.fromEntries([...state.joined].map(([id, j]) => [id, j.lastOffset])),
    pending: () => state.pending.map(({ key, kind, roomId, to, text, state: s }) => ({ key, kind, roomId, to, text, state: s })),
    maxMessageBytes: () => state.maxBytes,
    systemEvents: () =>
      ((state.joined.get(state.current) || {}).messages || []).filter((m) => m.type === "SYSTEM").map(({ event, target }) => ({ event, target })),
  });

  apply();
  $("lang").value = lang();
  $("transport").textContent = useSockJS() ? "sockjs" : "websocket";
  setStatus("disconnected");
  renderAll();
  loadConfig();

  const preset = (params.get("user") || store.lastUser()).trim();
  if (preset) {
    $("user").value = preset;
    connect(preset);
  }
})();
