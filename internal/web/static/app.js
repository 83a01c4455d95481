// chatrelay web chat. Plain ES2020, no build step, no framework: it uses the
// globals StompJs (vendor/stomp.umd.min.js), SockJS (vendor/sockjs.min.js),
// and the page's own i18n.js (strings), names.js (the server's name rules),
// store.js (what survives a reload) and render.js (how messages look).
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
  const MEMBERS_RETRIES = 10; // asks for a member list that lacks us, per room shown
  const MEMBERS_RETRY_MS = 1000;
  const NOT_STORED_GRACE_MS = 60000; // a not_stored message's wait for its copy

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
    membersRetries: 0, // asks again for the room shown, see MEMBERS_RETRIES
    seq: 0, // receipt and pending key counter
  };

  let membersSoon = 0; // timer of the next member list request

  const connected = () => state.client !== null && state.client.connected;
  const nextKey = (p) => `${p}-${Date.now().toString(36)}-${++state.seq}`;

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

  // ---- status and the banner ----

  function setStatus(s) {
    state.status = s;
    const st = $("status");
    st.textContent = t(`status.${s}`);
    st.dataset.state = s;
    updateControls();
  }

  // showError puts one error in the banner: source is stomp (ERROR
  // frame), closed (connection lost), queue (/user/queue/errors), http
  // (REST) or client (this page); key and params name its text in
  // i18n.js, so that it follows a change of language. action, when given,
  // is {key, run} for a button in the banner.
  function showError(source, key, params, extra) {
    state.banner = { source, key, params: params || {}, ...(extra || {}) };
    renderBanner();
    console.warn(`chatrelay ${source} error: ${t(key, params)}`);
  }

  function renderBanner() {
    const b = state.banner;
    const banner = $("error-banner");
    banner.hidden = b === null;
    $("error-text").textContent = b ? t(b.key, b.params) : "";
    banner.dataset.source = b ? b.source : "";
    const action = $("error-action");
    action.hidden = !(b && b.action);
    action.textContent = b && b.action ? t(b.action.key) : "";
  }

  // clearError hides the banner, or only if it came from one of sources.
  function clearError(...sources) {
    if (state.banner && (sources.length === 0 || sources.includes(state.banner.source))) {
      state.banner = null;
      renderBanner();
    }
  }

  function updateControls() {
    const on = connected();
    const room = state.current !== "";
    $("disconnect").disabled = state.client === null;
    $("message-input").disabled = !room;
    $("send").disabled = !room;
    $("leave-room").disabled = !room;
    $("dm-send").disabled = state.client === null;
    $("create-room").disabled = state.user === "";
    document.body.dataset.online = on ? "1" : "0";
  }

  // ---- REST ----

  // api calls the REST API and returns {status, data}; a non-2xx answer
  // throws an Error with .status and .data.
  async function api(method, path, body) {
    const init = { method, headers: { Accept: "application/json" } };
    if (body !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    if (method === "POST" && state.user) {
      // the creator, for servers that record it (auth mode none: no password)
      const bytes = new TextEncoder().encode(state.user + ":");
      init.headers.Authorization = "Basic " + btoa(String.fromCharCode(...bytes));
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
      const err = new Error(data && data.error ? data.error : res.statusText);
      err.status = res.status;
      err.data = data;
      throw err;
    }
    return data;
  }

  async function loadConfig() {
    try {
      const cfg = await api("GET", "config.json");
      if (cfg && Number.isInteger(cfg.maxMessageBytes) && cfg.maxMessageBytes > 0) state.maxBytes = cfg.maxMessageBytes;
    } catch {
      // an older server: keep the default
    }
    updateByteCount();
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
    // room events first, then the list, so that no creation falls between
    state.roomsLoaded = false;
    state.pendingRoomEvents = [];
    client.subscribe("/topic/rooms", onRoomEvent);
    loadRoomPage(client, "", new Map(), 0);
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
    const receipt = m.headers["receipt-id"] || e.receipt;
    const p = receipt && state.pending.find((x) => x.receipt === receipt);
    if (p && e.code === "not_stored") {
      // not seen stored in time: a copy may still wait in the relay's
      // outbox for the broker, so it stays "sending" until its copy comes
      // back, or is marked failed NOT_STORED_GRACE_MS later
      setTimeout(() => {
        if (state.pending.includes(p) && p.receipt === receipt) {
          p.state = "failed";
          p.receipt = "";
          renderPendingOf(p);
          persist();
        }
      }, NOT_STORED_GRACE_MS);
      return;
    }
    if (p) {
      p.state = "failed"; // not published: kept, with a Retry button
      p.receipt = "";
      renderPendingOf(p);
      persist();
    }
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
    j.messages.push(msg);
    if (j.messages.length > KEEP_MESSAGES) j.messages.shift();
    // our own message is back: it leaves the pending ones
    const mine = msg.sender === state.me && (msg.type || "TALK") === "TALK";
    const i = mine ? state.pending.findIndex((p) => p.kind === "room" && p.roomId === id && p.text === msg.message) : -1;
    if (i >= 0) state.pending.splice(i, 1);
    if (id === state.current) {
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

  // ---- sending ----

  // checkLength refuses text over the server's limit, with the reason
  // shown under the input; the text stays where it is.
  function checkLength(text, reasonId) {
    const n = names.utf8Bytes(text);
    const reason = $(reasonId);
    if (n > state.maxBytes) {
      reason.textContent = t("err.tooLong", { n, max: state.maxBytes });
      reason.hidden = false;
      return false;
    }
    reason.hidden = true;
    reason.textContent = "";
    return true;
  }

  function sendMessage() {
    const input = $("message-input");
    const text = input.value;
    if (!state.current || text.trim() === "") return;
    if (!checkLength(text, "send-reason")) return;
    const p = { key: nextKey("p"), kind: "room", roomId: state.current, text, state: "sending", receipt: "" };
    state.pending.push(p);
    input.value = "";
    updateByteCount();
    renderMessages();
    persist();
    trySend(p);
  }

  // trySend publishes p with a receipt when its way is open: connected
  // and, for a room message, the room's subscription replayed. Otherwise
  // p waits, shown as sending, for flushPending.
  function trySend(p) {
    if (!connected() || p.receipt || p.state !== "sending") return;
    const client = state.client;
    let destination = "/app/chat.dm";
    let body = { to: p.to, message: p.text };
    if (p.kind === "room") {
      const j = state.joined.get(p.roomId);
      if (!j || !j.ready) return;
      destination = "/app/chat.send";
      body = { roomId: p.roomId, type: "TALK", message: p.text };
    }
    p.receipt = nextKey("send");
    const receipt = p.receipt;
    client.watchForReceipt(receipt, () => {
      if (p.receipt !== receipt) return;
      // stored; a room message leaves the pending ones when its copy comes
      p.state = "sent";
      if (p.kind === "dm") state.pending = state.pending.filter((x) => x !== p);
      renderPendingOf(p);
      persist();
    });
    client.publish({ destination, body: JSON.stringify(body), headers: { "content-type": "application/json", receipt } });
  }

  function flushPending() {
    for (const p of state.pending) trySend(p);
  }

  function retry(key) {
    const p = state.pending.find((x) => x.key === key);
    if (!p) return;
    p.state = "sending";
    p.receipt = "";
    renderPendingOf(p);
    trySend(p);
  }

  function sendDM() {
    const to = $("dm-to").value.trim();
    const text = $("dm-text").value;
    if (!names.validUser(to)) {
      showError("client", "err.dmTo");
      return;
    }
    if (text.trim() === "" || !checkLength(text, "dm-reason")) return;
    const p = { key: nextKey("p"), kind: "dm", to, text, state: "sending", receipt: "" };
    state.pending.push(p);
    $("dm-text").value = "";
    renderDMs();
    persist();
    trySend(p);
  }

  function onDirectMessage(m) {
    const dm = parseBody(m);
    if (!dm) return;
    if (dm.id) {
      if (state.dmIds.has(dm.id)) return;
      state.dmIds.add(dm.id);
    }
    if (dm.from === state.me) {
      const i = state.pending.findIndex((p) => p.kind === "dm" && p.to === dm.to && p.text === dm.message);
      if (i >= 0) state.pending.splice(i, 1);
    }
    state.dms.push(dm);
    if (state.dms.length > KEEP_MESSAGES) state.dms.shift();
    renderDMs();
    persist();
  }

  async function createRoom() {
    const input = $("new-room-name");
    const name = names.cleanRoomName(input.value);
    if (name === null) {
      showError("client", "err.room", { max: names.MAX_ROOM_LEN });
      return;
    }
    try {
      const room = await api("POST", "/api/rooms", { name });
      input.value = "";
      clearError("http", "client");
      if (!state.rooms.has(room.id)) state.rooms.set(room.id, { ...room, online: 0 });
      renderRooms();
      if (connected()) joinRoom(room.id);
    } catch (err) {
      if (err.status === 409) {
        const existing = [...state.rooms.values()].find((r) => r.name === name);
        showError("http", "err.exists", { name }, existing ? { action: { key: "join", roomId: existing.id } } : {});
      } else if (err.status) {
        showError("http", "err.http", { status: err.status, what: err.message });
      } else {
        showError("http", "err.network", { what: err.message });
      }
    }
  }

  // ---- rendering ----

  function renderAll() {
    renderRooms();
    showRoom(state.current);
    renderDMs();
    renderBanner();
    updateByteCount();
  }

  function renderRooms() {
    const items = [];
    for (const r of state.rooms.values()) {
      const li = R.el("li", "room");
      li.dataset.roomId = r.id;
      li.tabIndex = 0;
      li.setAttribute("role", "button");
      const j = state.joined.get(r.id);
      if (j) li.classList.add("joined");
      if (r.id === state.current) li.classList.add("current");
      li.append(R.userText("span", "room-name", r.name));
      const online = R.el("span", "room-online", typeof r.online === "number" ? String(r.online) : "");
      online.title = t("room.online", { n: r.online ?? 0 });
      li.append(online);
      const unread = R.el("span", "room-unread", j && j.unread ? String(j.unread) : "");
      if (j && j.unread) unread.title = t("room.unread", { n: j.unread });
      li.append(unread);
      items.push(li);
    }
    $("room-list").replaceChildren(...items);
  }

  function showRoom(id) {
    const changed = state.current !== id;
    state.current = id;
    const head = $("current-room");
    head.dataset.roomId = id;
    const j = state.joined.get(id);
    if (j) j.unread = 0;
    const room = state.rooms.get(id);
    head.textContent = id ? (room ? room.name : (j && j.name) || id) : t("room.none");
    head.translate = id === "";
    renderMessages();
    if (changed || !id) {
      $("online").replaceChildren();
      state.membersRetries = 0;
    }
    renderRooms();
    updateControls();
    if (id && connected()) refreshMembers();
    if (changed) persist();
  }

  // renderMessages shows the room's messages, presence noise collapsed,
  // then its messages not yet confirmed.
  function renderMessages() {
    const j = state.joined.get(state.current);
    const list = $("messages");
    const atBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 40;
    const items = j ? R.collapse(j.messages).map((m) => R.messageItem(m, state.me)) : [];
    for (const p of state.pending) {
      if (p.kind === "room" && p.roomId === state.current) items.push(R.pendingItem(p, state.me || state.user, "room"));
    }
    list.replaceChildren(...items);
    if (atBottom || items.length === 0) list.scrollTop = list.scrollHeight;
  }

  // appendMessage adds a TALK message before the pending ones.
  function appendMessage(msg) {
    const list = $("messages");
    const atBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 40;
    list.insertBefore(R.messageItem(msg, state.me), list.querySelector("li[data-pending]"));
    while (list.children.length > KEEP_MESSAGES + state.pending.length) list.firstElementChild.remove();
    if (atBottom) list.scrollTop = list.scrollHeight;
  }

  function renderPendingOf(p) {
    if (p.kind === "dm") renderDMs();
    else if (p.roomId === state.current) renderMessages();
  }

  function renderDMs() {
    const list = $("dms");
    const items = state.dms.map((d) => R.dmItem(d, state.me));
    for (const p of state.pending) if (p.kind === "dm") items.push(R.pendingItem(p, state.me, "dm"));
    list.replaceChildren(...items);
    list.scrollTop = list.scrollHeight;
  }

  function updateByteCount() {
    const n = names.utf8Bytes($("message-input").value);
    const c = $("byte-count");
    c.textContent = t("bytes", { n, max: state.maxBytes });
    c.classList.toggle("over", n > state.maxBytes);
    c.dataset.bytes = String(n);
    c.dataset.max = String(state.maxBytes);
  }

  // ---- members ----

  async function refreshMembers() {
    const id = state.current;
    if (!id) return;
    const seq = ++state.membersSeq;
    try {
      const data = await api("GET", `/api/rooms/${encodeURIComponent(id)}/members`);
      if (seq !== state.membersSeq || id !== state.current) return; // a newer answer counts
      const members = Array.isArray(data.members) ? data.members : [];
      // the replica that answered may not have heard of our subscription
      // yet (presence travels between replicas every second): ask again
      const j = state.joined.get(id);
      if (j && j.ready && connected() && !members.includes(state.me) && state.membersRetries++ < MEMBERS_RETRIES) {
        clearTimeout(membersSoon);
        membersSoon = setTimeout(refreshMembers, MEMBERS_RETRY_MS);
      }
      $("online").replaceChildren(
        ...members.map((u) => {
          const li = R.userText("li", u === state.me ? "member me" : "member", u);
          li.dataset.user = u;
          li.title = t("online.title");
          return li;
        }),
      );
    } catch {
      // the next ENTER, LEAVE or online event asks again
    }
  }

  function refreshMembersSoon() {
    clearTimeout(membersSoon); // a burst of events asks once
    membersSoon = setTimeout(refreshMembers, 150);
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
