// chatrelay web chat: moderation. The owner and the moderators of the room
// shown see buttons beside each user online in it (kick, mute, ban; never
// beside the owner, themselves or, for a moderator, another moderator); a
// click SENDs /app/rooms/{id}/moderate, whose refusal comes back on
// /user/queue/errors like any other. The room's SYSTEM announcements keep
// the page current: a new moderator list is read again, and a kick or ban
// of this user leaves the room (the server has ended its subscription;
// following it again would only be refused). app.js calls
// chatrelayModeration(app) once.
"use strict";

globalThis.chatrelayModeration = (app) => {
  const { t } = globalThis.chatrelayI18n;
  const R = globalThis.chatrelayRender;
  const { state } = app;
  const late = (name) => (...args) => app[name](...args); // a function of another file
  const connected = late("connected");
  const ACTIONS = ["kick", "mute", "ban"];

  // roleIn returns this user's role in room id: "owner", "moderator" or "".
  function roleIn(id) {
    const r = state.rooms.get(id);
    if (!r || !state.me) return "";
    if (r.createdBy === state.me) return "owner";
    if (Array.isArray(r.moderators) && r.moderators.includes(state.me)) return "moderator";
    return "";
  }

  // decorateMember adds the moderation buttons to user's line of #online
  // when this user may act on them in the room shown.
  function decorateMember(li, user) {
    const id = state.current;
    const r = state.rooms.get(id);
    const role = roleIn(id);
    if (!r || !role || user === state.me || user === r.createdBy) return;
    if (role === "moderator" && Array.isArray(r.moderators) && r.moderators.includes(user)) return;
    const box = R.el("span", "mod-actions");
    for (const action of ACTIONS) {
      const b = R.el("button", `mod mod-${action}`, t(`mod.${action}`));
      b.type = "button";
      b.dataset.action = action;
      b.dataset.user = user;
      b.title = t(`mod.${action}.title`, { user });
      box.append(b);
    }
    li.append(box);
  }

  // act asks the server to take action on user in the room shown.
  function act(action, user) {
    if (!connected() || !state.current) return;
    state.client.publish({
      destination: `/app/rooms/${state.current}/moderate`,
      body: JSON.stringify({ action, user }),
      headers: { "content-type": "application/json" },
    });
  }

  // onSystem handles a SYSTEM message of joined room id.
  function onSystem(id, msg) {
    if (msg.event === "moderators") refreshRoom(id);
    // a kick or ban replayed from the history (before the subscription's
    // RECEIPT) is no news: the server ends only live subscriptions
    const j = state.joined.get(id);
    if ((msg.event === "kick" || msg.event === "ban") && msg.target === state.me && j && j.ready) {
      // the server ended the room's subscriptions itself (the typing one
      // too); the client forgets its own, the server ignores the ids
      if (j.typingSub && connected()) j.typingSub.unsubscribe();
      app.forgetRoom(id);
    }
  }

  // refreshRoom reads room id again (its moderators changed).
  async function refreshRoom(id) {
    try {
      const listed = state.rooms.get(id);
      const r = await app.api("GET", `/api/rooms/${encodeURIComponent(id)}`, undefined, !!(listed && listed.private));
      const old = state.rooms.get(id);
      if (!r || !old) return;
      state.rooms.set(id, { ...old, moderators: Array.isArray(r.moderators) ? r.moderators : [] });
      if (id === state.current) app.refreshMembersSoon();
    } catch {
      // the next announcement asks again
    }
  }

  // onMemberClick handles a click in #online; it reports whether it was
  // a moderation button.
  function onMemberClick(e) {
    const b = e.target.closest("button[data-action]");
    if (!b) return false;
    act(b.dataset.action, b.dataset.user);
    return true;
  }

  Object.assign(app, { decorateMember, onSystem, onMemberClick, roleIn });
};
