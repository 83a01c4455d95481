// chatrelay web chat: the server's name rules, for the page to check what
// it sends before the server refuses it. They mirror auth.ValidUser and
// rooms.CleanName exactly; internal/web/names_test.go runs this file and
// the Go functions over the same cases (testdata/names.json).
"use strict";

(() => {
  // auth.ValidUser: ^[\p{L}\p{N}._@+~-]{1,64}$ (64 characters, not bytes)
  const USER_RE = /^[\p{L}\p{N}._@+~-]{1,64}$/u;
  // strings.TrimSpace trims unicode.IsSpace, the Unicode White_Space set
  const TRIM_RE = /^\p{White_Space}+|\p{White_Space}+$/gu;
  // unicode.IsPrint: letters, marks, numbers, punctuation, symbols and the
  // ASCII space
  const PRINT_RE = /^[\p{L}\p{M}\p{N}\p{P}\p{S} ]*$/u;
  const MAX_ROOM_LEN = 100; // rooms.MaxNameLen, characters
  const MAX_ROOM_BYTES = 300; // rooms.MaxNameBytes, UTF-8 bytes

  const encoder = new TextEncoder();

  // utf8Bytes returns how many bytes text takes in UTF-8, as the server
  // counts a message's length.
  function utf8Bytes(text) {
    return encoder.encode(text).length;
  }

  function validUser(name) {
    return typeof name === "string" && USER_RE.test(name);
  }

  // cleanRoomName returns the name as the server stores it (trimmed), or
  // null when the server would refuse it.
  function cleanRoomName(name) {
    if (typeof name !== "string") return null;
    const s = name.replace(TRIM_RE, "");
    if (s === "" || !s.isWellFormed() || utf8Bytes(s) > MAX_ROOM_BYTES || [...s].length > MAX_ROOM_LEN) return null;
    return PRINT_RE.test(s) ? s : null;
  }

  globalThis.chatrelayNames = Object.freeze({ validUser, cleanRoomName, utf8Bytes, MAX_ROOM_LEN, MAX_ROOM_BYTES });
})();
