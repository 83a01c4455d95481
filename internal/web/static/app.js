// chatrelay web chat. Plain ES2020, no build step, no framework: it uses the
// globals StompJs (vendor/stomp.umd.min.js) and SockJS (vendor/sockjs.min.js).
// index.html lists the element ids. Everything the server sends is shown
// with textContent, never parsed as HTML.
"use strict";

(() => {
  const HISTORY = 50; // x-history when joining a room
  const MEMBERS_EVERY_MS = 3000; // GET /api/rooms/{id}/members poll
  const ROOM_PAGE = 100; // rooms per /app/rooms page (the server's most)
  const ROOM_PAGES = 50; // pages of the room list followed at most
  const RECONNECT_DELAY_MS = 2000; // stompjs reconnectDelay
  const KEEP_MESSAGES = 500; // messages kept in memory per joined room
  const USER_RE = /^[A-Za-z0-9._@+~-]{1,64}$/; // the server's user name charset

  const $ = (id) => document.getElementById(id);
  const params = new URLSearchParams(location.search);

  const state = {
    client: null, // the StompJs.Client, null when disconnected
    user: "", // the login we connect with
    me: "", // the user name the server confirmed
    everConnected: false, // tells "connecting" from "reconnecting"
    rooms: new Map(), // id → room {id, name, createdAt, createdBy, online}
    roomsLoaded: false, // the /app/rooms answer arrived on this connection
    pendingRoomEvents: [], // /topic/rooms events that came before it
    joined: new Map(), // id → {sub, lastOffset, messages, unread}
    current: "", // id of the room shown
    dmIds: new Set(), // private message ids shown
    membersSeq: 0, // drops out-of-order member answers
    membersTimer: 0,
  };

  // ---- small helpers ----

  function el(tag, className, text) {
    const e = document.createElement(tag);
    if (className) e.className = className;
    if (text !== undefined) e.textContent = text;
    return e;
  }

  function formatTime(iso) {
    const d = new Date(iso);
    if (Number.isNaN(d.getTime())) return "";
    return d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit" });
  }

  function connected() {
    return state.client !== null && state.client.connected;
  }

  // ---- status and errors ----

  function setStatus(s) {
    const st = $("status");
    st.textContent = s;
    st.dataset.state = s;
    updateControls();
  }

  // showError puts one error in the banner; source is stomp (ERROR frame),
  // queue (/user/queue/errors), http (REST) or client (this page).
  function showError(source, text) {
    const banner = $("error-banner");
    banner.dataset.source = source;
    $("error-text").textContent = text;
    banner.hidden = false;
    console.warn(`chatrelay ${source} error: ${text}`);
  }

  function clearError() {
    $("error-banner").hidden = true;
    $("error-text").textContent = "";
  }

  function updateControls() {
    const on = connected();
    const room = state.current !== "";
    $("disconnect").disabled = state.client === null;
    $("message-input").disabled = !(on && room);
    $("send").disabled = !(on && room);
    $("leave-room").disabled = !room;
    $("dm-send").disabled = !on;
    $("create-room").disabled = state.user === "";
  }

  // ---- REST ----

  // api calls the REST API and returns the decoded JSON answer (null for
  // none); a non-2xx answer throws an Error with the server's message.
  async function api(method, path, body) {
    const init = { method, headers: { Accept: "application/json" } };
    if (body !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    if (method === "POST" && state.user) {
      // the creator, for servers that record it (auth mode none: no password)
      init.headers.Authorization = "Basic " + btoa(state.user + ":");
    }
    const res = await fetch(path, init);
    const text = await res.text();
    let data = null;
    try {
      data = text ? JSON.parse(text) : null;
    } catch {
      data = null;
    }
    if (!res.ok) {
      const why = data && data.error ? data.error : res.statusText;
      throw new Error(`${method} ${path}: ${res.status} ${why}`);
    }
    return data;
  }

  // ---- connection ----

  function useSockJS() {
    return params.get("transport") === "sockjs" || typeof window.WebSocket !== "function";
  }

  function connect(user) {
    if (!USER_RE.test(user)) {
      showError("client", "The user name must be 1 to 64 letters, digits or ._@+~-");
      return;
    }
    if (typeof StompJs === "undefined") {
      showError("client", "The STOMP library (vendor/stomp.umd.min.js) did not load");
      return;
    }
    const sockjs = useSockJS();
    if (sockjs && typeof SockJS === "undefined") {
      showError("client", "SockJS (vendor/sockjs.min.js) did not load");
      return;
    }
    disconnect();
    state.user = user;
    const client = new StompJs.Client({
      connectHeaders: { login: user },
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
      const what = frame.headers.message || "ERROR";
      const body = (frame.body || "").trim();
      showError("stomp", body ? `Server error: ${what}: ${body}` : `Server error: ${what}`);
    };
    client.onWebSocketClose = () => {
      if (client !== state.client) return;
      for (const j of state.joined.values()) j.sub = null; // gone with the socket
      if (client.active) setStatus(state.everConnected ? "reconnecting" : "connecting");
    };
    state.client = client;
    setStatus("connecting");
    client.activate();
  }

  // disconnect closes the connection on purpose and forgets the session.
  function disconnect() {
    const client = state.client;
    if (client === null) return;
    state.client = null;
    client.deactivate();
    Object.assign(state, {
      me: "",
      everConnected: false,
      rooms: new Map(),
      roomsLoaded: false,
      pendingRoomEvents: [],
      joined: new Map(),
      current: "",
      dmIds: new Set(),
    });
    $("me").textContent = "";
    $("dms").replaceChildren();
    renderRooms();
    showRoom("");
    setStatus("disconnected");
  }

  function onConnected(frame) {
    state.everConnected = true;
    state.me = frame.headers["user-name"] || state.user;
    $("me").textContent = state.me;
    const client = state.client;
    client.subscribe("/user/queue/errors", onUserError);
    client.subscribe("/user/queue/messages", onDirectMessage);
    // room events first, then the list, so that no creation falls between
    state.roomsLoaded = false;
    state.pendingRoomEvents = [];
    client.subscribe("/topic/rooms", onRoomEvent);
    loadRoomPage(client, "", new Map(), 0);
    setStatus("connected");
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
        const page = parseBody(m, "room list");
        if (!page || !Array.isArray(page.rooms)) return;
        for (const r of page.rooms) rooms.set(r.id, r);
        if (page.next && pages + 1 < ROOM_PAGES) loadRoomPage(client, page.next, rooms, pages + 1);
        else onRoomList(rooms);
      },
      headers,
    );
  }

  // publish sends a JSON body to an /app destination; it reports false,
  // with an error in the banner, when there is no connection.
  function publish(destination, body) {
    if (!connected()) {
      showError("client", "Not connected: the message was not sent");
      return false;
    }
    state.client.publish({
      destination,
      body: JSON.stringify(body),
      headers: { "content-type": "application/json" },
    });
    return true;
  }

  function parseBody(m, what) {
    try {
      return JSON.parse(m.body);
    } catch {
      showError("client", `Unreadable ${what} from the server`);
      return null;
    }
  }

  function onUserError(m) {
    const e = parseBody(m, "error");
    if (!e) return;
    const where = e.destination ? ` (${e.destination})` : "";
    showError("queue", `${e.code || "error"}: ${e.message || ""}${where}`);
  }

  // ---- rooms ----

  function onRoomList(rooms) {
    state.rooms = rooms;
    state.roomsLoaded = true;
    for (const ev of state.pendingRoomEvents) applyRoomEvent(ev);
    state.pendingRoomEvents = [];
    // resume every followed room that still exists; forget the others
    for (const id of [...state.joined.keys()]) {
      if (state.rooms.has(id)) subscribeRoom(id);
      else forgetRoom(id);
    }
    renderRooms();
    if (state.current) refreshMembers();
  }

  function onRoomEvent(m) {
    const ev = parseBody(m, "room event");
    if (!ev || !ev.room) return;
    if (!state.roomsLoaded) {
      state.pendingRoomEvents.push(ev);
      return;
    }
    applyRoomEvent(ev);
    renderRooms();
  }

  function applyRoomEvent(ev) {
    if (ev.event === "created") {
      const old = state.rooms.get(ev.room.id);
      state.rooms.set(ev.room.id, { ...ev.room, online: old ? old.online : 0 });
    } else if (ev.event === "deleted") {
      state.rooms.delete(ev.room.id);
      if (state.joined.has(ev.room.id)) forgetRoom(ev.room.id);
    }
  }

  // subscribeRoom follows a joined room: the last HISTORY messages the
  // first time, every message after the last offset seen on a reconnect.
  function subscribeRoom(id) {
    const j = state.joined.get(id);
    const headers =
      j.lastOffset >= 0 ? { "x-resume-after": String(j.lastOffset) } : { "x-history": String(HISTORY) };
    j.sub = state.client.subscribe(`/topic/room.${id}`, (m) => onRoomMessage(id, m), headers);
  }

  function joinRoom(id) {
    if (!state.joined.has(id)) {
      if (!connected()) {
        showError("client", "Not connected: cannot join a room");
        return;
      }
      state.joined.set(id, { sub: null, lastOffset: -1, messages: [], unread: 0 });
      subscribeRoom(id);
    }
    showRoom(id);
  }

  function leaveRoom() {
    const id = state.current;
    if (!id) return;
    const j = state.joined.get(id);
    if (j && j.sub && connected()) j.sub.unsubscribe();
    forgetRoom(id);
  }

  // forgetRoom drops a room from the followed ones (its subscription is
  // already gone or left to the caller).
  function forgetRoom(id) {
    state.joined.delete(id);
    if (state.current === id) showRoom(state.joined.keys().next().value || "");
    renderRooms();
  }

  function onRoomMessage(id, m) {
    const j = state.joined.get(id);
    if (!j) return;
    const msg = parseBody(m, "room message");
    if (!msg) return;
    const offset = Number(m.headers["x-offset"] ?? msg.offset);
    if (Number.isFinite(offset)) {
      if (offset <= j.lastOffset) return; // already shown (replay overlap)
      j.lastOffset = offset;
      msg.offset = offset;
    }
    j.messages.push(msg);
    if (j.messages.length > KEEP_MESSAGES) j.messages.shift();
    if (id === state.current) {
      appendMessage(msg);
      if (msg.type === "ENTER" || msg.type === "LEAVE") refreshMembersSoon();
    } else {
      j.unread++;
      renderRooms();
    }
  }

  function sendMessage() {
    const input = $("message-input");
    const text = input.value;
    if (!state.current || text.trim() === "") return;
    if (publish("/app/chat.send", { roomId: state.current, type: "TALK", message: text })) {
      input.value = "";
    }
  }

  async function createRoom() {
    const input = $("new-room-name");
    const name = input.value.trim();
    if (name === "") {
      showError("client", "A room needs a name");
      return;
    }
    try {
      const room = await api("POST", "/api/rooms", { name });
      input.value = "";
      if (!state.rooms.has(room.id)) state.rooms.set(room.id, { ...room, online: 0 });
      renderRooms();
      if (connected()) joinRoom(room.id);
    } catch (err) {
      showError("http", err.message);
    }
  }

  // ---- rendering ----

  function renderRooms() {
    const items = [];
    for (const r of state.rooms.values()) {
      const li = el("li", "room");
      li.dataset.roomId = r.id;
      li.tabIndex = 0;
      li.setAttribute("role", "button");
      const j = state.joined.get(r.id);
      if (j) li.classList.add("joined");
      if (r.id === state.current) li.classList.add("current");
      li.append(el("span", "room-name", r.name));
      li.append(el("span", "room-online", typeof r.online === "number" ? String(r.online) : ""));
      li.append(el("span", "room-unread", j && j.unread ? String(j.unread) : ""));
      items.push(li);
    }
    $("room-list").replaceChildren(...items);
  }

  function showRoom(id) {
    state.current = id;
    const head = $("current-room");
    head.dataset.roomId = id;
    const j = state.joined.get(id);
    if (j) j.unread = 0;
    const room = state.rooms.get(id);
    head.textContent = id ? (room ? room.name : id) : "No room";
    $("messages").replaceChildren(...(j ? j.messages.map(messageItem) : []));
    scrollDown(true);
    $("online").replaceChildren();
    renderRooms();
    updateControls();
    if (id) refreshMembers();
  }

  function messageItem(msg) {
    const type = String(msg.type || "TALK").toUpperCase();
    const li = el("li", `msg msg-${type.toLowerCase().replace(/[^a-z]/g, "")}`);
    li.dataset.id = msg.id || "";
    li.dataset.type = type;
    if (msg.offset !== undefined) li.dataset.offset = String(msg.offset);
    if (msg.sender && msg.sender === state.me) li.classList.add("mine");
    let text = msg.message || "";
    if (type === "ENTER" && text === "") text = `${msg.sender} entered the room`;
    if (type === "LEAVE" && text === "") text = `${msg.sender} left the room`;
    const time = el("time", "time", formatTime(msg.sentAt));
    if (msg.sentAt) time.dateTime = msg.sentAt;
    li.append(time, el("span", "sender", msg.sender || (type === "SYSTEM" ? "system" : "")), el("span", "text", text));
    return li;
  }

  function appendMessage(msg) {
    const list = $("messages");
    const atBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 40;
    list.append(messageItem(msg));
    while (list.children.length > KEEP_MESSAGES) list.firstElementChild.remove();
    scrollDown(atBottom);
  }

  function scrollDown(really) {
    const list = $("messages");
    if (really) list.scrollTop = list.scrollHeight;
  }

  // ---- members ----

  async function refreshMembers() {
    const id = state.current;
    if (!id || !connected()) return;
    const seq = ++state.membersSeq;
    try {
      const data = await api("GET", `/api/rooms/${encodeURIComponent(id)}/members`);
      if (seq !== state.membersSeq || id !== state.current) return; // a newer answer counts
      const members = Array.isArray(data.members) ? data.members : [];
      $("online").replaceChildren(
        ...members.map((u) => {
          const li = el("li", u === state.me ? "member me" : "member", u);
          li.dataset.user = u;
          li.title = "send a private message";
          return li;
        }),
      );
      const room = state.rooms.get(id);
      if (room && room.online !== members.length) {
        room.online = members.length;
        renderRooms();
      }
    } catch (err) {
      if (seq === state.membersSeq) showError("http", err.message);
    }
  }

  let membersSoon = 0;
  function refreshMembersSoon() {
    clearTimeout(membersSoon); // a replayed burst of ENTER/LEAVE asks once
    membersSoon = setTimeout(refreshMembers, 150);
  }

  // ---- private messages ----

  function onDirectMessage(m) {
    const dm = parseBody(m, "private message");
    if (!dm) return;
    if (dm.id) {
      if (state.dmIds.has(dm.id)) return;
      state.dmIds.add(dm.id);
    }
    const out = dm.from === state.me;
    const li = el("li", out ? "dm dm-out" : "dm dm-in");
    li.dataset.id = dm.id || "";
    li.dataset.from = dm.from || "";
    li.dataset.to = dm.to || "";
    const time = el("time", "time", formatTime(dm.sentAt));
    if (dm.sentAt) time.dateTime = dm.sentAt;
    li.append(time, el("span", "sender", out ? `→ ${dm.to}` : `${dm.from}`), el("span", "text", dm.message || ""));
    const list = $("dms");
    list.append(li);
    while (list.children.length > KEEP_MESSAGES) list.firstElementChild.remove();
    list.scrollTop = list.scrollHeight;
  }

  function sendDM() {
    const to = $("dm-to").value.trim();
    const text = $("dm-text").value;
    if (!USER_RE.test(to)) {
      showError("client", "A private message needs a recipient: 1 to 64 letters, digits or ._@+~-");
      return;
    }
    if (text.trim() === "") return;
    if (publish("/app/chat.dm", { to, message: text })) $("dm-text").value = "";
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
  $("error-dismiss").addEventListener("click", clearError);
  $("user").addEventListener("input", () => {
    if (state.client === null) {
      state.user = $("user").value.trim();
      updateControls();
    }
  });

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
    const li = e.target.closest("li[data-user]");
    if (li) {
      $("dm-to").value = li.dataset.user;
      $("dm-text").focus();
    }
  });

  // test hook: scripted browsers simulate a network drop with
  // chatrelay.dropConnection() (stompjs then reconnects and resumes)
  window.chatrelay = Object.freeze({
    dropConnection: () => {
      if (state.client) state.client.forceDisconnect();
    },
    lastOffsets: () => Object.fromEntries([...state.joined].map(([id, j]) => [id, j.lastOffset])),
  });

  state.membersTimer = setInterval(refreshMembers, MEMBERS_EVERY_MS);
  $("transport").textContent = useSockJS() ? "sockjs" : "websocket";
  updateControls();

  const preset = params.get("user");
  if (preset) {
    $("user").value = preset;
    connect(preset.trim());
  }
})();
