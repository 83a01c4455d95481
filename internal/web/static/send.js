// chatrelay web chat: what the page sends. Room messages and private
// messages (kept as pending until confirmed: "sending…", then sent again
// after a reconnect's replay or marked failed), rooms created over REST,
// and /config.json read. app.js calls chatrelaySend(app) once; the
// functions below join app.
"use strict";

globalThis.chatrelaySend = (app) => {
  const { t } = globalThis.chatrelayI18n;
  const names = globalThis.chatrelayNames;
  const { state, $ } = app;
  const late = (name) => (...args) => app[name](...args); // a function of another file
  const connected = late("connected");
  const nextKey = late("nextKey");
  const persist = late("persist");
  const parseBody = late("parseBody");
  const joinRoom = late("joinRoom");
  const showError = late("showError");
  const clearError = late("clearError");
  const renderRooms = late("renderRooms");
  const renderMessages = late("renderMessages");
  const renderPendingOf = late("renderPendingOf");
  const renderDMs = late("renderDMs");
  const updateByteCount = late("updateByteCount");
  const KEEP_MESSAGES = app.KEEP_MESSAGES;
  const NOT_STORED_GRACE_MS = 60000; // a not_stored message's wait for its copy

  // ---- REST ----

  // api calls the REST API and returns {status, data}; a non-2xx answer
  // throws an Error with .status and .data.
  // api calls the REST API; signed (the user's name as HTTP Basic, as
  // in auth mode none) for a POST, or when asked: a private room's GETs.
  async function api(method, path, body, signed) {
    const init = { method, headers: { Accept: "application/json" } };
    if (body !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    if ((method === "POST" || signed) && state.user) {
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
    app.stopTyping();
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
    app.onConversation(dm);
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

  // onSendError marks the pending message an error on /user/queue/errors
  // names (by receipt-id) and reports whether it was one of ours.
  function onSendError(m, e) {
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
      return true;
    }
    if (!p) return false;
    p.state = "failed"; // not published: kept, with a Retry button
    p.receipt = "";
    renderPendingOf(p);
    persist();
    return true;
  }

  Object.assign(app, { api, loadConfig, checkLength, sendMessage, trySend, flushPending, retry, sendDM, onDirectMessage, createRoom, onSendError });
};
