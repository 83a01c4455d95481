// chatrelay web chat: how messages look. Pure DOM building, no state:
// app.js decides what to show. Everything a user wrote goes in with
// textContent inside translate="no" elements (the screenshot test checks
// that every other visible string comes from i18n.js).
"use strict";

(() => {
  const { t, lang } = globalThis.chatrelayI18n;

  function el(tag, className, text) {
    const e = document.createElement(tag);
    if (className) e.className = className;
    if (text !== undefined) e.textContent = text;
    return e;
  }

  // userText is an element holding text a user wrote (a name, a message).
  function userText(tag, className, text) {
    const e = el(tag, className, text);
    e.translate = false;
    return e;
  }

  function formatTime(iso) {
    const d = new Date(iso);
    if (Number.isNaN(d.getTime())) return "";
    return d.toLocaleTimeString(lang(), { hour: "2-digit", minute: "2-digit" });
  }

  function timeEl(iso) {
    const time = el("time", "time", formatTime(iso));
    if (iso) time.dateTime = iso;
    return time;
  }

  const isPresence = (m) => m.type === "ENTER" || m.type === "LEAVE";

  // collapse drops ENTER/LEAVE noise: within a run of presence messages
  // (no TALK between), a user who left and came back (a reconnect) or came
  // and went shows nothing, one with several same-way messages shows the
  // last; and a user already shown entered (left) is not shown entering
  // (leaving) again.
  function collapse(messages) {
    const out = [];
    const shown = new Map(); // user → the last presence type shown
    for (let i = 0; i < messages.length; ) {
      if (!isPresence(messages[i])) {
        out.push(messages[i++]);
        continue;
      }
      let k = i;
      while (k < messages.length && isPresence(messages[k])) k++;
      const run = messages.slice(i, k);
      const first = new Map();
      const last = new Map();
      for (const m of run) {
        if (!first.has(m.sender)) first.set(m.sender, m);
        last.set(m.sender, m);
      }
      for (const m of run) {
        if (last.get(m.sender) !== m || first.get(m.sender).type !== m.type) continue;
        if (shown.get(m.sender) === m.type) continue;
        shown.set(m.sender, m.type);
        out.push(m);
      }
      i = k;
    }
    return out;
  }

  // messageItem is one room message as received (with its offset).
  function messageItem(msg, me) {
    const type = String(msg.type || "TALK").toUpperCase();
    const li = el("li", `msg msg-${type.toLowerCase().replace(/[^a-z]/g, "")}`);
    li.dataset.id = msg.id || "";
    li.dataset.type = type;
    if (msg.offset !== undefined) li.dataset.offset = String(msg.offset);
    if (msg.sender && msg.sender === me) li.classList.add("mine");
    li.append(timeEl(msg.sentAt));
    if (isPresence(msg)) {
      // the text in the page's language, whatever the server wrote
      const who = el("span", "text");
      const [before, after] = t(type === "ENTER" ? "enter" : "leave", { user: "\u0000" }).split("\u0000");
      who.append(before, userText("b", "sender", msg.sender || ""), after);
      li.append(who);
    } else if (msg.deleted) {
      // a tombstone: the server keeps no text of it
      const sender = msg.sender ? userText("span", "sender", msg.sender) : el("span", "sender", t("system"));
      li.classList.add("deleted");
      li.dataset.deleted = "1";
      li.append(sender, el("span", "text deleted-text", t("msg.deleted")));
    } else {
      const sender = msg.sender ? userText("span", "sender", msg.sender) : el("span", "sender", t("system"));
      li.append(sender, userText("span", "text", msg.message || ""));
      if (msg.editedAt) {
        li.dataset.edited = "1";
        li.append(el("span", "edited", t("msg.edited")));
      }
      const files = attachmentList(msg.attachments);
      if (files) li.append(files);
    }
    return li;
  }

  // attachmentList is a message's attachments as links (ul.attachments,
  // each a[href] with the file's name, or its URL when it has none), or
  // null when it has none. The server accepts https (and, when
  // configured, http) links only; anything else is shown unlinked.
  function attachmentList(list) {
    if (!Array.isArray(list) || list.length === 0) return null;
    const ul = el("ul", "attachments");
    for (const a of list) {
      if (!a || typeof a.url !== "string") continue;
      const li = el("li", "attachment");
      const name = typeof a.name === "string" && a.name !== "" ? a.name : a.url;
      if (/^https?:\/\//i.test(a.url)) {
        const link = userText("a", "attachment-link", name);
        link.href = a.url;
        link.target = "_blank";
        link.rel = "noopener noreferrer nofollow";
        li.append(link);
      } else {
        li.append(userText("span", "attachment-link", name));
      }
      ul.append(li);
    }
    return ul;
  }

  // pendingItem is a message sent but not yet confirmed: state sending
  // (shown "sending…"), sent (receipted, waiting for its copy) or failed
  // (with a Retry button carrying data-retry=KEY).
  function pendingItem(p, me, kind) {
    const li = el("li", kind === "dm" ? "dm dm-out dm-pending" : "msg msg-pending mine");
    li.dataset.pending = p.key;
    li.dataset.state = p.state;
    li.dataset.type = "TALK";
    li.append(el("span", "time"));
    li.append(userText("span", "sender", kind === "dm" ? `→ ${p.to}` : me));
    li.append(userText("span", "text", p.text));
    if (p.state === "failed") {
      li.append(el("span", "pending-state", t("failed")));
      const retry = el("button", "retry", t("retry"));
      retry.type = "button";
      retry.dataset.retry = p.key;
      li.append(retry);
    } else if (p.state === "sending") {
      li.append(el("span", "pending-state", t("sending")));
    }
    return li;
  }

  // dmItem is one private message.
  function dmItem(dm, me) {
    const out = dm.from === me;
    const li = el("li", out ? "dm dm-out" : "dm dm-in");
    li.dataset.id = dm.id || "";
    li.dataset.from = dm.from || "";
    li.dataset.to = dm.to || "";
    li.append(timeEl(dm.sentAt));
    li.append(userText("span", "sender", out ? `→ ${dm.to}` : `${dm.from}`), userText("span", "text", dm.message || ""));
    return li;
  }

  globalThis.chatrelayRender = Object.freeze({ el, userText, collapse, messageItem, pendingItem, dmItem, isPresence, attachmentList });
})();
