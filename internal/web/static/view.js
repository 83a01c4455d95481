// chatrelay web chat: what is shown. The status, the banner, the controls,
// the room list, the room's messages (then its unconfirmed ones), private
// messages, the byte count and the member list. app.js calls
// chatrelayView(app) once; the functions below join app.
"use strict";

globalThis.chatrelayView = (app) => {
  const { t } = globalThis.chatrelayI18n;
  const names = globalThis.chatrelayNames;
  const R = globalThis.chatrelayRender;
  const { state, $ } = app;
  const late = (name) => (...args) => app[name](...args); // a function of another file
  const connected = late("connected");
  const persist = late("persist");
  const api = late("api");
  const KEEP_MESSAGES = app.KEEP_MESSAGES;
  const MEMBERS_RETRIES = 10; // asks for a member list that lacks us, per room shown
  const MEMBERS_RETRY_MS = 1000;
  let membersSoon = 0; // timer of the next member list request

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

  // ---- rendering ----

  function renderAll() {
    renderRooms();
    showRoom(state.current);
    renderDMs();
    renderBanner();
    updateByteCount();
  }

  // roomName is how a room is named on the page: a direct room (a private
  // conversation) after the other user.
  function roomName(r) {
    if (!r.direct) return r.name;
    const members = Array.isArray(r.members) ? r.members : [];
    const peer = r.createdBy === state.me ? members[0] || state.me : r.createdBy;
    return t("room.direct", { user: peer });
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
      if (r.direct) li.classList.add("direct");
      li.append(R.userText("span", "room-name", roomName(r)));
      const online = R.el("span", "room-online", typeof r.online === "number" ? String(r.online) : "");
      online.title = t("room.online", { n: r.online ?? 0 });
      li.append(online);
      // a followed room counts what came since; another starts from the
      // server's count (the room list's, or a private message's)
      const n = j ? j.unread : Number.isInteger(r.unread) ? r.unread : 0;
      li.dataset.unread = String(n);
      const unread = R.el("span", "room-unread", n ? String(n) : "");
      if (n) unread.title = t("room.unread", { n });
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
    if (room) room.unread = 0;
    head.textContent = id ? (room ? roomName(room) : (j && j.name) || id) : t("room.none");
    head.translate = id === "";
    renderMessages();
    if (changed) app.stopTyping(); // a start for the room left
    app.renderTyping();
    if (changed || !id) {
      $("online").replaceChildren();
      $("online").dataset.key = "";
      state.membersRetries = 0;
    }
    renderRooms();
    updateControls();
    if (id) app.markRead();
    if (id && connected()) refreshMembers();
    if (changed) persist();
  }

  // renderMessages shows the room's messages, presence noise collapsed,
  // then its messages not yet confirmed.
  function renderMessages() {
    const j = state.joined.get(state.current);
    const list = $("messages");
    const atBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 40;
    const items = j ? R.collapse(j.messages).map((m) => app.decorateMessage(R.messageItem(m, state.me), m)) : [];
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
    list.insertBefore(app.decorateMessage(R.messageItem(msg, state.me), msg), list.querySelector("li[data-pending]"));
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
      const room = state.rooms.get(id);
      const data = await api("GET", `/api/rooms/${encodeURIComponent(id)}/members`, undefined, !!(room && room.private));
      if (seq !== state.membersSeq || id !== state.current) return; // a newer answer counts
      const members = Array.isArray(data.members) ? data.members : [];
      // the replica that answered may not have heard of our subscription
      // yet (presence travels between replicas every second): ask again
      const j = state.joined.get(id);
      if (j && j.ready && connected() && !members.includes(state.me) && state.membersRetries++ < MEMBERS_RETRIES) {
        clearTimeout(membersSoon);
        membersSoon = setTimeout(refreshMembers, MEMBERS_RETRY_MS);
      }
      // the list is built again only when it changed: a click on one of
      // its buttons must not land on a line replaced meanwhile
      const key = JSON.stringify([id, state.me, app.roleIn(id), globalThis.chatrelayI18n.lang(), members]);
      if ($("online").dataset.key === key) return;
      $("online").dataset.key = key;
      $("online").replaceChildren(
        ...members.map((u) => {
          const li = R.userText("li", u === state.me ? "member me" : "member", u);
          li.dataset.user = u;
          li.title = t("online.title");
          app.decorateMember(li, u);
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

  Object.assign(app, { setStatus, showError, renderBanner, clearError, updateControls, renderAll, renderRooms, showRoom, renderMessages, appendMessage, renderPendingOf, renderDMs, updateByteCount, refreshMembers, refreshMembersSoon });
};
