// chatrelay web chat: what survives a reload, in localStorage. Per user
// name ("chatrelay.session.NAME"): the rooms followed with their last
// offset and newest messages, the room shown, private messages, and the
// messages not yet confirmed; "chatrelay.lastUser" is the name to connect
// with when the page opens. Storage may be full or disabled: the page then
// works as before, without restoring.
"use strict";

(() => {
  const PREFIX = "chatrelay.session.";
  const LAST_USER = "chatrelay.lastUser";
  const KEEP_MESSAGES = 50; // newest messages kept per room
  const KEEP_DMS = 100; // newest private messages kept

  function get(key) {
    try {
      return localStorage.getItem(key);
    } catch {
      return null;
    }
  }

  function set(key, value) {
    try {
      if (value === null) localStorage.removeItem(key);
      else localStorage.setItem(key, value);
      return true;
    } catch {
      return false; // full or disabled
    }
  }

  // load returns user's saved session, or an empty one.
  function load(user) {
    const empty = { rooms: {}, order: [], current: "", dms: [], pending: [] };
    if (!user) return empty;
    try {
      const s = JSON.parse(get(PREFIX + user) || "null");
      if (!s || typeof s !== "object") return empty;
      return {
        rooms: s.rooms && typeof s.rooms === "object" ? s.rooms : {},
        order: Array.isArray(s.order) ? s.order : [],
        current: typeof s.current === "string" ? s.current : "",
        dms: Array.isArray(s.dms) ? s.dms : [],
        pending: Array.isArray(s.pending) ? s.pending : [],
      };
    } catch {
      return empty;
    }
  }

  // save writes user's session: joined is the Map of followed rooms
  // ({lastOffset, messages}), pending the unconfirmed messages. When the
  // whole does not fit, it is saved without messages (rooms and pending
  // messages matter most; the rooms then load their history again).
  function save(user, { joined, current, dms, pending }) {
    if (!user) return;
    const rooms = {};
    for (const [id, j] of joined) {
      rooms[id] = { name: j.name || "", lastOffset: j.lastOffset, messages: j.messages.slice(-KEEP_MESSAGES) };
    }
    const s = {
      rooms,
      order: [...joined.keys()],
      current,
      dms: dms.slice(-KEEP_DMS),
      pending: pending.map(({ key, kind, roomId, to, text, state }) => ({ key, kind, roomId, to, text, state })),
    };
    if (set(PREFIX + user, JSON.stringify(s))) return;
    for (const r of Object.values(rooms)) {
      r.messages = [];
      r.lastOffset = -1; // joins again with x-history instead
    }
    s.dms = [];
    set(PREFIX + user, JSON.stringify(s));
  }

  globalThis.chatrelayStore = Object.freeze({
    load,
    save,
    lastUser: () => get(LAST_USER) || "",
    setLastUser: (u) => set(LAST_USER, u || null),
  });
})();
