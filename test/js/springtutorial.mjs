#!/usr/bin/env node
// springtutorial.mjs: the client of the Korean Spring STOMP chat tutorials
// (roomdetail page: SockJS "/ws-stomp", Stomp.over(sock), connect without a
// login, subscribe "/sub/chat/room/{roomId}", send "/pub/chat/message" with
// {type, roomId, sender[, message]}; room page: POST /chat/room with a form
// "name", GET /chat/rooms, GET /chat/room/{roomId}), written as the
// tutorials write it, for the Go test internal/server
// TestSpringTutorialClientAcrossReplicas.
//
// Usage: node springtutorial.mjs '<config JSON>'
//   {"replicas":["http://127.0.0.1:PORT", ...], "users":[{"name":"철수","replica":0}, ...],
//    "roomName":"채팅방", "timeoutMs":30000}
//
// The room is made on the first replica through POST /chat/room, found on
// the last through GET /chat/rooms and GET /chat/room/{id}. Each user then
// opens the room page on its replica, one after the other: a user starts
// once every earlier user has seen the previous one's ENTER. Once all are
// in, each sends one TALK; once every user has every TALK, the first user
// leaves (disconnects) and the others wait for a LEAVE from it. It prints
// one JSON line, {"roomId","created","room","list","members":[per replica],
// "views":{name:[messages]},"errors":[...]}, and exits 1 when a wait timed out.

import SockJS from "sockjs-client";
import { Stomp } from "@stomp/stompjs";

const cfg = JSON.parse(process.argv[2] ?? "{}");
const timeoutMs = cfg.timeoutMs ?? 30000;
// stompjs's compat client logs every frame with console.log: keep stdout
// for the one result line
console.log = (...a) => process.stderr.write(a.join(" ") + "\n");
console.warn = console.log;

const views = {};
const errors = [];
const waiters = [];

// until resolves once cond() holds, checked after every message.
function until(what, cond) {
  if (cond()) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), timeoutMs);
    waiters.push(() => {
      if (!cond()) return false;
      clearTimeout(timer);
      resolve();
      return true;
    });
  });
}

function recvMessage(name, recv) {
  views[name].push(recv);
  for (let i = waiters.length - 1; i >= 0; i--) {
    if (waiters[i]()) waiters.splice(i, 1);
  }
}

// the room page of one user: as the tutorial's roomdetail.ftl does it
function enterRoom(base, roomId, sender) {
  views[sender] = [];
  const sock = new SockJS(base + "/ws-stomp");
  const ws = Stomp.over(sock);
  ws.connect({}, function (frame) {
    ws.subscribe("/sub/chat/room/" + roomId, function (message) {
      const recv = JSON.parse(message.body);
      recvMessage(sender, recv);
    });
    ws.send("/pub/chat/message", {}, JSON.stringify({ type: "ENTER", roomId: roomId, sender: sender }));
  }, function (error) {
    errors.push(`${sender}: ${error.headers ? error.headers.message : error}`);
  });
  return {
    sendMessage(message) {
      ws.send("/pub/chat/message", {}, JSON.stringify({ type: "TALK", roomId: roomId, sender: sender, message: message }));
    },
    leave() {
      ws.disconnect();
    },
  };
}

const count = (name, type, sender) => views[name].filter((m) => m.type === type && m.sender === sender).length;

async function run() {
  const first = cfg.replicas[0];
  const last = cfg.replicas[cfg.replicas.length - 1];
  // the room list page: createRoom() posts URLSearchParams, a form body
  const params = new URLSearchParams();
  params.append("name", cfg.roomName);
  const made = await fetch(first + "/chat/room", { method: "POST", body: params });
  if (!made.ok) throw new Error(`POST /chat/room: ${made.status} ${await made.text()}`);
  const created = await made.json();
  const list = await (await fetch(last + "/chat/rooms")).json();
  const roomRes = await fetch(last + "/chat/room/" + created.roomId);
  const room = await roomRes.json();
  const users = cfg.users;
  const pages = [];
  for (let i = 0; i < users.length; i++) {
    const u = users[i];
    pages.push(enterRoom(cfg.replicas[u.replica], room.roomId, u.name));
    // everyone in so far sees the newcomer's ENTER
    await until(`${u.name}'s ENTER`, () => users.slice(0, i + 1).every((v) => count(v.name, "ENTER", u.name) >= 1));
  }
  // who is online, on every replica: the typed names, no generated one
  const want = users.map((u) => u.name).sort();
  const members = [];
  for (const base of cfg.replicas) {
    const deadline = Date.now() + timeoutMs;
    let got = [];
    for (;;) {
      got = (await (await fetch(base + "/api/rooms/" + room.roomId + "/members")).json()).members;
      if (JSON.stringify(got) === JSON.stringify(want)) break;
      if (Date.now() > deadline) throw new Error(`members on ${base}: ${JSON.stringify(got)}, want ${JSON.stringify(want)}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    members.push(got);
  }
  for (let i = 0; i < users.length; i++) {
    pages[i].sendMessage(`${users[i].name}: 안녕하세요 (replica ${users[i].replica})`);
  }
  await until("every TALK at every user", () => users.every((v) => users.every((u) => count(v.name, "TALK", u.name) >= 1)));
  pages[0].leave();
  await until(`${users[0].name}'s LEAVE`, () => users.slice(1).every((v) => count(v.name, "LEAVE", users[0].name) >= 1));
  for (const p of pages.slice(1)) p.leave();
  return { roomId: created.roomId, created, room, list, members };
}

run().then(
  (r) => {
    process.stdout.write(JSON.stringify({ ...r, views, errors }) + "\n");
    process.exit(errors.length === 0 ? 0 : 1);
  },
  (e) => {
    errors.push(String(e));
    process.stdout.write(JSON.stringify({ views, errors }) + "\n");
    process.exit(1);
  },
);
