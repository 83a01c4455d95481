// chatrelay web chat: typing indicators. While the user types in the room
// shown, the page SENDs /app/rooms/{id}/typing at most every SIGNAL_MS,
// and {"typing":false} once the input is empty, the message is sent or
// another room is shown. It follows /topic/room.{id}.typing for every
// joined room and shows who is typing in the room shown under its
// messages (#typing), forgetting a typist once the event's expiresInMs
// has passed without a new one. app.js calls chatrelayTyping(app) once.
"use strict";

globalThis.chatrelayTyping = (app) => {
  const { t } = globalThis.chatrelayI18n;
  const { state, $ } = app;
  const late = (name) => (...args) => app[name](...args); // a function of another file
  const connected = late("connected");
  const parseBody = late("parseBody");
  const SIGNAL_MS = 1500; // least time between two starts sent (the server refreshes every 2 s)
  const DEFAULT_EXPIRY_MS = 5000; // when an event names none
  let signalled = ""; // the room the last start was sent for ("" after a stop)
  let lastSignal = 0; // when it was sent
  let expiryTimer = 0;

  function signal(id, typing) {
    if (!connected()) return;
    state.client.publish({ destination: `/app/rooms/${id}/typing`, body: typing ? "" : '{"typing":false}' });
  }

  // typingInput runs on every input in the message box.
  function typingInput() {
    const id = state.current;
    const j = state.joined.get(id);
    if (!j || !j.ready || $("message-input").value.trim() === "") {
      stopTyping();
      return;
    }
    if (signalled !== id) stopTyping();
    const now = Date.now();
    if (signalled === id && now - lastSignal < SIGNAL_MS) return;
    signal(id, true);
    signalled = id;
    lastSignal = now;
  }

  // stopTyping tells the room typed in last that the user stopped.
  function stopTyping() {
    if (signalled) signal(signalled, false);
    signalled = "";
    lastSignal = 0;
  }

  // subscribeTyping follows a joined room's typing topic; app.js calls
  // it with the room's own subscription.
  function subscribeTyping(id, j) {
    j.typists = new Map(); // user → when their indicator expires (ms)
    j.typingSub = state.client.subscribe(`/topic/room.${id}.typing`, (m) => onTyping(id, m));
  }

  function onTyping(id, m) {
    const j = state.joined.get(id);
    const ev = parseBody(m);
    if (!j || !j.typists || !ev || ev.type !== "TYPING" || typeof ev.sender !== "string" || ev.sender === state.me) return;
    if (ev.typing === true) {
      const ms = Number(ev.expiresInMs);
      j.typists.set(ev.sender, Date.now() + (Number.isFinite(ms) && ms > 0 ? Math.min(ms, 60000) : DEFAULT_EXPIRY_MS));
    } else {
      j.typists.delete(ev.sender);
    }
    if (id === state.current) renderTyping();
  }

  // renderTyping shows who is typing in the room shown, and comes back
  // when the first of them expires.
  function renderTyping() {
    clearTimeout(expiryTimer);
    const j = state.joined.get(state.current);
    const now = Date.now();
    const users = [];
    let next = Infinity;
    if (j && j.typists) {
      for (const [user, until] of j.typists) {
        if (until <= now) {
          j.typists.delete(user);
        } else {
          users.push(user);
          next = Math.min(next, until);
        }
      }
    }
    users.sort();
    const el = $("typing");
    el.dataset.users = users.join(",");
    el.textContent =
      users.length === 0 ? "" : users.length === 1 ? t("typing.one", { name: users[0] }) : t("typing.many", { names: users.join(", ") });
    el.hidden = users.length === 0;
    if (next !== Infinity) expiryTimer = setTimeout(renderTyping, next - now + 50);
  }

  $("message-input").addEventListener("input", typingInput);
  Object.assign(app, { subscribeTyping, stopTyping, renderTyping });
};
