// chatrelay web chat: read positions and unread counts. The room shown is
// marked read up to its newest message (SEND /app/rooms/{id}/read, at most
// every MARK_MS); the room list's badges start from the server's unread
// counts and follow new messages and the user's reads on any session
// (/user/queue/reads). In private rooms and conversations each chat
// message shows how many members other than its sender have not read it
// (KakaoTalk's count), from the members' positions: /app/rooms/{id}/reads
// once, then /topic/room.{id}.reads live. app.js calls
// chatrelayReads(app) once, after revise.js.
"use strict";

globalThis.chatrelayReads = (app) => {
  const { t } = globalThis.chatrelayI18n;
  const R = globalThis.chatrelayRender;
  const { state, $ } = app;
  const late = (name) => (...args) => app[name](...args); // a function of another file
  const connected = late("connected");
  const parseBody = late("parseBody");
  const MARK_MS = 300; // least time between two positions sent for a room
  let markTimer = 0;

  // counted reports whether room id shows per-message unread counts.
  function counted(id) {
    const r = state.rooms.get(id);
    return !!(r && (r.private || r.direct));
  }

  // subscribeReads follows the read positions of a joined private room
  // or conversation; app.js calls it with the room's own subscription.
  function subscribeReads(id, j) {
    if (!counted(id)) return;
    j.reads = j.reads || { members: [], positions: {} };
    const client = state.client;
    j.readsSub = client.subscribe(`/topic/room.${id}.reads`, (m) => onReads(id, m));
    const once = client.subscribe(`/app/rooms/${id}/reads`, (m) => {
      once.unsubscribe(); // answered once
      const v = parseBody(m);
      if (!v || !Array.isArray(v.members) || !v.positions) return;
      const jj = state.joined.get(id);
      if (!jj || !jj.reads) return;
      jj.reads.members = v.members.filter((u) => typeof u === "string");
      merge(jj.reads.positions, v.positions);
      if (id === state.current) updateCounts();
    });
  }

  // merge raises the positions of into to those of from.
  function merge(into, from) {
    for (const [u, o] of Object.entries(from || {})) {
      if (Number.isFinite(o) && !(into[u] >= o)) into[u] = o;
    }
  }

  function onReads(id, m) {
    const j = state.joined.get(id);
    const ev = parseBody(m);
    if (!j || !j.reads || !ev || ev.type !== "READ") return;
    merge(j.reads.positions, ev.positions);
    if (id === state.current) updateCounts();
  }

  // onMyReads takes a position the user set on any session: the room's
  // badge goes when it reaches the newest message known.
  function onMyReads(m) {
    const ev = parseBody(m);
    if (!ev || ev.type !== "READ" || !ev.positions) return;
    const pos = ev.positions[state.me];
    if (!Number.isFinite(pos)) return;
    const j = state.joined.get(ev.roomId);
    const r = state.rooms.get(ev.roomId);
    if (j && j.reads) merge(j.reads.positions, { [state.me]: pos });
    if (j && pos >= j.lastOffset) j.unread = 0;
    if (!j && r && r.lastMessage && pos >= r.lastMessage.offset) r.unread = 0;
    app.renderRooms();
  }

  // unreadOf is how many members other than msg's sender have not read
  // it, or -1 where no count is shown.
  function unreadOf(msg, j) {
    if (!j || !j.reads || j.reads.members.length === 0 || (msg.type || "TALK") !== "TALK" || !Number.isFinite(msg.offset)) return -1;
    let n = 0;
    for (const u of j.reads.members) {
      if (u !== msg.sender && !(j.reads.positions[u] >= msg.offset)) n++;
    }
    return n;
  }

  // setCount shows n on li (nothing for 0; data-unread holds it for
  // scripts either way).
  function setCount(li, n) {
    let span = li.querySelector(".read-count");
    if (n < 0) {
      if (span) span.remove();
      delete li.dataset.unread;
      return;
    }
    li.dataset.unread = String(n);
    if (!span) {
      span = R.el("span", "read-count");
      li.querySelector(".time")?.after(span);
    }
    span.textContent = n > 0 ? String(n) : "";
    span.title = n > 0 ? t("msg.unreadBy", { n }) : "";
  }

  // decorate adds the count to a message item; it wraps revise.js's
  // decorateMessage, which view.js calls for every item.
  const revise = app.decorateMessage;
  function decorateMessage(li, msg) {
    revise(li, msg);
    li.dataset.sender = msg.sender || "";
    setCount(li, unreadOf(msg, state.joined.get(state.current)));
    return li;
  }

  // updateCounts refreshes the counts of the room shown in place.
  function updateCounts() {
    const j = state.joined.get(state.current);
    for (const li of $("messages").querySelectorAll("li.msg[data-offset]")) {
      const msg = { type: li.dataset.type, sender: li.dataset.sender, offset: Number(li.dataset.offset) };
      setCount(li, unreadOf(msg, j));
    }
  }

  // markRead sends, soon, the position of the room shown: its newest
  // message seen, when it moved.
  function markRead() {
    clearTimeout(markTimer);
    markTimer = setTimeout(() => {
      const id = state.current;
      const j = state.joined.get(id);
      if (!j || !connected() || j.lastOffset < 0 || j.lastOffset <= (j.readSent ?? -1)) return;
      j.readSent = j.lastOffset;
      if (j.reads) merge(j.reads.positions, { [state.me]: j.lastOffset });
      state.client.publish({ destination: `/app/rooms/${id}/read`, body: JSON.stringify({ offset: j.lastOffset }) });
    }, MARK_MS);
  }

  // fromList takes the server's unread counts of a room list.
  function fromList(rooms) {
    for (const [id, r] of rooms) {
      const j = state.joined.get(id);
      if (j && id !== state.current && Number.isInteger(r.unread)) j.unread = r.unread;
    }
  }

  // onConversation lists a conversation a private message names, before
  // the next room list would.
  function onConversation(dm) {
    if (typeof dm.roomId !== "string" || !dm.roomId) return;
    let r = state.rooms.get(dm.roomId);
    if (!r) {
      r = { id: dm.roomId, name: dm.roomId, private: true, direct: true, createdBy: dm.from, members: [dm.to], online: 0, unread: 0 };
      state.rooms.set(dm.roomId, r);
    }
    if (dm.from !== state.me && !state.joined.has(dm.roomId)) r.unread = (r.unread || 0) + 1;
    app.renderRooms();
  }

  Object.assign(app, { subscribeReads, decorateMessage, markRead, fromList, onMyReads, onConversation, updateCounts });
};
