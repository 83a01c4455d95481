// chatrelay web chat: every string a person reads on the page, in English
// and Korean. The language comes from localStorage ("chatrelay.lang", set
// by the page's language menu), else from the browser (navigator.languages),
// else English. Static elements name their strings with data-i18n
// (textContent), data-i18n-placeholder, data-i18n-title and
// data-i18n-aria-label; app.js translates what it builds with t().
"use strict";

(() => {
  const CATALOG = {
    en: {
      "lang.label": "Language",
      "name.label": "Name",
      "name.placeholder": "your name",
      "name.title": "1 to 64 letters, digits or ._@+~-",
      connect: "Connect",
      disconnect: "Disconnect",
      "status.disconnected": "offline",
      "status.connecting": "connecting…",
      "status.connected": "online",
      "status.reconnecting": "reconnecting…",
      dismiss: "Dismiss",
      rooms: "Rooms",
      "room.placeholder": "new room",
      "room.create": "Create",
      "room.none": "No room",
      "room.leave": "Leave",
      "room.online": "{n} online",
      "room.unread": "{n} unread",
      "msg.unreadBy": "not read by {n}",
      "room.direct": "@{user}",
      "typing.one": "{name} is typing…",
      "typing.many": "{names} are typing…",
      "msg.edited": "(edited)",
      "msg.deleted": "message deleted",
      "msg.edit": "edit",
      "msg.delete": "delete",
      "msg.editPrompt": "New text of your message:",
      "mod.kick": "kick",
      "mod.mute": "mute",
      "mod.ban": "ban",
      "mod.kick.title": "remove {user} from the room (they may come back)",
      "mod.mute.title": "let {user} read the room but not write",
      "mod.ban.title": "ban {user} from the room",
      "msg.placeholder": "message",
      send: "Send",
      bytes: "{n} / {max} bytes",
      online: "Online",
      "online.title": "send a private message",
      dms: "Private messages",
      "dm.to": "to",
      "dm.placeholder": "private message",
      sending: "sending…",
      failed: "not sent",
      retry: "Retry",
      join: "Join it",
      enter: "{user} entered the room",
      leave: "{user} left the room",
      system: "system",
      "err.user": "A name is 1 to 64 letters, digits or ._@+~- (for example 철수 or alice).",
      "err.dmTo": "A private message needs a recipient: 1 to 64 letters, digits or ._@+~-.",
      "err.room": "A room name is 1 to {max} printable characters.",
      "err.tooLong": "Too long: {n} bytes, the server takes at most {max}. Shorten it; your text is kept.",
      "err.library": "The page's STOMP library did not load. Reload the page.",
      "err.notConnected": "Not connected: connect first.",
      "err.server": "The server reported: {what}",
      "err.closed": "The connection was lost: reconnecting…",
      "err.shutdown": "The server is restarting: reconnecting…",
      "err.unreadable": "The server sent something this page cannot read.",
      "err.http": "The server refused ({status}): {what}",
      "err.network": "The server could not be reached: {what}",
      "err.exists": "A room named “{name}” exists already.",
      "err.queue": "The server refused: {what}",
      "code.not_stored": "A message was not confirmed as stored in time; retry it.",
      "code.busy": "The server is busy: a message was not sent; retry it.",
      "code.rate_limited": "Slow down: you are sending too fast.",
      "code.room_unavailable": "The room is not readable right now; the page tries again.",
      "code.subscription_ended": "The room's messages stopped; the page follows it again.",
      "code.subscribe_refused": "The server refused to follow the room.",
      "code.forbidden": "Not allowed: {what}",
      "code.not_found": "Not found: {what}",
      "code.too_large": "Too long for the server.",
    },
    ko: {
      "lang.label": "언어",
      "name.label": "이름",
      "name.placeholder": "이름 입력",
      "name.title": "글자, 숫자 또는 ._@+~- 1~64자",
      connect: "접속",
      disconnect: "접속 끊기",
      "status.disconnected": "오프라인",
      "status.connecting": "연결 중…",
      "status.connected": "온라인",
      "status.reconnecting": "다시 연결 중…",
      dismiss: "닫기",
      rooms: "채팅방",
      "room.placeholder": "새 채팅방 이름",
      "room.create": "만들기",
      "room.none": "선택한 채팅방 없음",
      "room.leave": "나가기",
      "room.online": "{n}명 접속 중",
      "room.unread": "읽지 않은 메시지 {n}개",
      "msg.unreadBy": "{n}명이 읽지 않음",
      "room.direct": "{user}님과의 대화",
      "typing.one": "{name}님이 입력 중…",
      "typing.many": "{names}님이 입력 중…",
      "msg.edited": "(수정됨)",
      "msg.deleted": "삭제된 메시지입니다",
      "msg.edit": "수정",
      "msg.delete": "삭제",
      "msg.editPrompt": "메시지를 어떻게 고칠까요?",
      "mod.kick": "내보내기",
      "mod.mute": "채팅 금지",
      "mod.ban": "차단",
      "mod.kick.title": "{user}님을 방에서 내보냅니다 (다시 들어올 수 있습니다)",
      "mod.mute.title": "{user}님은 읽기만 하고 쓸 수 없습니다",
      "mod.ban.title": "{user}님을 방에서 차단합니다",
      "msg.placeholder": "메시지 입력",
      send: "보내기",
      bytes: "{n} / {max}바이트",
      online: "접속자",
      "online.title": "개인 메시지 보내기",
      dms: "개인 메시지",
      "dm.to": "받는 사람",
      "dm.placeholder": "개인 메시지 입력",
      sending: "보내는 중…",
      failed: "전송 실패",
      retry: "다시 보내기",
      join: "입장하기",
      enter: "{user}님이 입장하셨습니다.",
      leave: "{user}님이 퇴장하셨습니다.",
      system: "시스템",
      "err.user": "이름은 글자, 숫자 또는 ._@+~- 1~64자입니다 (예: 철수, alice).",
      "err.dmTo": "개인 메시지에는 받는 사람이 필요합니다: 글자, 숫자 또는 ._@+~- 1~64자.",
      "err.room": "채팅방 이름은 출력 가능한 문자 1~{max}자입니다.",
      "err.tooLong": "너무 깁니다: {n}바이트, 서버는 최대 {max}바이트까지 받습니다. 줄여 주세요. 입력한 내용은 그대로 있습니다.",
      "err.library": "STOMP 라이브러리를 불러오지 못했습니다. 페이지를 새로 고쳐 주세요.",
      "err.notConnected": "연결되어 있지 않습니다. 먼저 접속해 주세요.",
      "err.server": "서버 알림: {what}",
      "err.closed": "연결이 끊어졌습니다. 다시 연결하는 중…",
      "err.shutdown": "서버가 다시 시작하는 중입니다. 다시 연결하는 중…",
      "err.unreadable": "서버가 보낸 내용을 읽을 수 없습니다.",
      "err.http": "서버가 거절했습니다 ({status}): {what}",
      "err.network": "서버에 연결할 수 없습니다: {what}",
      "err.exists": "“{name}” 채팅방이 이미 있습니다.",
      "err.queue": "서버가 거절했습니다: {what}",
      "code.not_stored": "메시지 저장이 제때 확인되지 않았습니다. 다시 보내 주세요.",
      "code.busy": "서버가 바빠 메시지를 보내지 못했습니다. 다시 보내 주세요.",
      "code.rate_limited": "너무 빨리 보내고 있습니다. 잠시 후 다시 시도해 주세요.",
      "code.room_unavailable": "지금은 채팅방을 읽을 수 없습니다. 다시 시도하는 중입니다.",
      "code.subscription_ended": "채팅방 메시지 수신이 끊겼습니다. 다시 받아오는 중입니다.",
      "code.subscribe_refused": "서버가 채팅방 수신을 거절했습니다.",
      "code.forbidden": "권한이 없습니다: {what}",
      "code.not_found": "찾을 수 없습니다: {what}",
      "code.too_large": "서버가 받기에는 너무 깁니다.",
    },
  };
  const LANGS = Object.keys(CATALOG);
  const STORAGE_KEY = "chatrelay.lang";

  function stored() {
    try {
      return localStorage.getItem(STORAGE_KEY);
    } catch {
      return null; // storage disabled
    }
  }

  // detect picks the stored language, else the browser's first one the
  // page knows, else English.
  function detect() {
    const s = stored();
    if (LANGS.includes(s)) return s;
    const prefs = navigator.languages && navigator.languages.length ? navigator.languages : [navigator.language || ""];
    for (const p of prefs) {
      const base = String(p).toLowerCase().split("-")[0];
      if (LANGS.includes(base)) return base;
    }
    return "en";
  }

  let lang = detect();
  const listeners = [];

  // t returns key's text in the page language with {name} replaced by
  // params.name; a key missing there falls back to English, then to itself.
  function t(key, params) {
    const s = CATALOG[lang][key] ?? CATALOG.en[key] ?? key;
    return s.replace(/\{(\w+)\}/g, (m, k) => (params && params[k] !== undefined ? String(params[k]) : m));
  }

  // apply translates the static elements under root.
  function apply(root = document) {
    for (const e of root.querySelectorAll("[data-i18n]")) e.textContent = t(e.dataset.i18n);
    for (const [attr, data] of [
      ["placeholder", "i18nPlaceholder"],
      ["title", "i18nTitle"],
      ["aria-label", "i18nAriaLabel"],
    ]) {
      for (const e of root.querySelectorAll(`[data-${attr === "aria-label" ? "i18n-aria-label" : "i18n-" + attr}]`)) {
        e.setAttribute(attr, t(e.dataset[data]));
      }
    }
    document.documentElement.lang = lang;
  }

  // setLang switches the page language, remembers it and tells listeners.
  function setLang(l) {
    if (!LANGS.includes(l)) return;
    lang = l;
    try {
      localStorage.setItem(STORAGE_KEY, l);
    } catch {
      // not remembered: storage disabled
    }
    apply();
    for (const f of listeners) f(l);
  }

  globalThis.chatrelayI18n = Object.freeze({
    t,
    apply,
    setLang,
    lang: () => lang,
    langs: LANGS,
    onChange: (f) => listeners.push(f),
    catalog: CATALOG,
  });
})();
