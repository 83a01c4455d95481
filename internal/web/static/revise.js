// chatrelay web chat: editing and deleting messages. The user's own chat
// messages get edit and delete buttons, and every chat message gets a
// delete button for the room's owner and moderators; a click SENDs
// /app/rooms/{id}/edit (the new text asked with a prompt) or /delete,
// naming the message by offset and id. The EDIT and DELETE messages the
// room then carries (live, or replayed in their final form) change the
// message they name in place; they are never shown themselves. app.js
// calls chatrelayRevise(app) once.
"use strict";

globalThis.chatrelayRevise = (app) => {
  const { t } = globalThis.chatrelayI18n;
  const R = globalThis.chatrelayRender;
  const { state, $ } = app;
  const late = (name) => (...args) => app[name](...args); // a function of another file
  const connected = late("connected");

  // decorateMessage adds the edit and delete buttons this user may use to
  // li, the item of room message msg, and returns li.
  function decorateMessage(li, msg) {
    if ((msg.type || "TALK") !== "TALK" || msg.deleted || !Number.isFinite(msg.offset)) return li;
    const mine = msg.sender === state.me;
    const actions = mine ? ["edit", "delete"] : app.roleIn(state.current) ? ["delete"] : [];
    if (actions.length === 0) return li;
    const box = R.el("span", "msg-actions");
    for (const action of actions) {
      const b = R.el("button", `msg-${action}`, t(`msg.${action}`));
      b.type = "button";
      b.dataset.revise = action;
      box.append(b);
    }
    li.append(box);
    return li;
  }

  // revise asks the server to edit or delete the message of li.
  function revise(action, li) {
    const id = state.current;
    const j = state.joined.get(id);
    if (!connected() || !j) return;
    const msg = j.messages.find((m) => m.id === li.dataset.id && String(m.offset) === li.dataset.offset);
    if (!msg) return;
    const body = { offset: msg.offset, id: msg.id };
    if (action === "edit") {
      const text = window.prompt(t("msg.editPrompt"), msg.message || "");
      if (text === null || text === msg.message) return;
      body.message = text;
    }
    state.client.publish({ destination: `/app/rooms/${id}/${action}`, body: JSON.stringify(body), headers: { "content-type": "application/json" } });
  }

  // applyRevision applies an EDIT or DELETE of room id to the message it
  // names, if the page holds it, and reports whether the room shown must
  // be drawn again.
  function applyRevision(id, rev) {
    const j = state.joined.get(id);
    const msg = j && j.messages.find((m) => m.id === rev.ref);
    if (!msg || msg.deleted) return false;
    if (rev.type === "DELETE") {
      Object.assign(msg, { deleted: true, message: "", attachments: undefined, editedAt: undefined });
    } else if (typeof rev.message === "string") {
      Object.assign(msg, { message: rev.message, editedAt: rev.sentAt || new Date().toISOString() });
    }
    return id === state.current;
  }

  $("messages").addEventListener("click", (e) => {
    const b = e.target.closest("button[data-revise]");
    const li = b && b.closest("li[data-id]");
    if (li) revise(b.dataset.revise, li);
  });
  Object.assign(app, { decorateMessage, applyRevision });
};
