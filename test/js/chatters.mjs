#!/usr/bin/env node
// chatters.mjs: many ordinary @stomp/stompjs chat users in one process, for
// Go tests that need a crowd (one node process per client would cost the
// test machine more than the server under test).
//
// Usage: node chatters.mjs '<json config>'
//   {"urls":["ws://127.0.0.1:P1/ws","ws://127.0.0.1:P2/ws"],
//    "rooms":["id1","id2"], "clients":50, "messages":20, "interval_ms":1000,
//    "heartbeat":[10000,10000], "login_prefix":"chatter-"}
// Client i connects to urls[i % urls.length] as login_prefix+i, subscribes
// to /topic/room.{rooms[i % rooms.length]} and /user/queue/errors, and,
// once told to go, sends `messages` TALK messages to its room, one every
// interval_ms, each asking a RECEIPT. Clients never reconnect: a lost
// session stays lost, so the test sees it.
//
// Commands on stdin, one JSON object per line:
//   {"op":"go"}       start sending
//   {"op":"report"}   write the report event
//   {"op":"exit"}     DISCONNECT everyone and exit
// Events on stdout, one JSON object per line:
//   {"event":"subscribed","count":N}          every client's subscriptions are receipted
//   {"event":"sent","count":N}               every client has every SEND receipted
//   {"event":"lost","client":i,"reason":".."} a session ended (ERROR, close, heart-beat)
//   {"event":"user_error","client":i,"body":".."} a message on /user/queue/errors
//   {"event":"report","clients":[{"client":i,"room":"..","sent":N,
//       "receipted":N,"received":["c3-0",...],"lost":false}]}
//   {"event":"fatal","error":".."}             the script cannot go on

import readline from 'node:readline';
import { Client } from '@stomp/stompjs';
import WebSocket from 'ws';

const emit = (ev) => process.stdout.write(JSON.stringify(ev) + '\n');

const cfg = JSON.parse(process.argv[2] ?? '{}');
const n = cfg.clients ?? 50;
const perClient = cfg.messages ?? 20;
const interval = cfg.interval_ms ?? 1000;
const [hbIn, hbOut] = cfg.heartbeat ?? [10000, 10000];
const prefix = cfg.login_prefix ?? 'chatter-';
if (!cfg.urls?.length || !cfg.rooms?.length) {
  emit({ event: 'fatal', error: 'urls and rooms are required' });
  process.exit(2);
}

// Chatter is one user: its client, what it sent and what it saw.
class Chatter {
  constructor(i) {
    this.i = i;
    this.room = cfg.rooms[i % cfg.rooms.length];
    this.sent = 0;
    this.receipted = 0;
    this.received = [];
    this.lost = false;
    this.subscribed = false;
    this.client = new Client({
      brokerURL: cfg.urls[i % cfg.urls.length],
      webSocketFactory: () => new WebSocket(cfg.urls[i % cfg.urls.length], ['v12.stomp']),
      connectHeaders: { login: prefix + i },
      heartbeatIncoming: hbIn,
      heartbeatOutgoing: hbOut,
      reconnectDelay: 0,
      debug: () => {},
    });
    this.client.onConnect = () => this.onConnect();
    this.client.onStompError = (f) => this.lose(`ERROR ${f.headers.message ?? ''} ${f.body}`);
    this.client.onWebSocketClose = (e) => this.lose(`socket closed ${e.code} ${e.reason ?? ''}`);
  }

  onConnect() {
    const c = this.client;
    c.subscribe('/user/queue/errors', (m) => emit({ event: 'user_error', client: this.i, body: m.body }));
    const receipt = `sub-${this.i}`;
    c.watchForReceipt(receipt, () => {
      this.subscribed = true;
      checkSubscribed();
    });
    c.subscribe(`/topic/room.${this.room}`, (m) => {
      let msg;
      try {
        msg = JSON.parse(m.body);
      } catch {
        return;
      }
      if (msg.type === 'TALK') this.received.push(msg.message);
    }, { receipt });
  }

  lose(reason) {
    if (this.lost || stopping) return;
    this.lost = true;
    emit({ event: 'lost', client: this.i, reason });
  }

  // send publishes this chatter's k-th message with a receipt.
  send(k) {
    if (this.lost) return;
    const receipt = `m-${this.i}-${k}`;
    this.client.watchForReceipt(receipt, () => {
      this.receipted++;
      checkSent();
    });
    this.sent++;
    this.client.publish({
      destination: '/app/chat.send',
      body: JSON.stringify({ roomId: this.room, type: 'TALK', message: `c${this.i}-${k}` }),
      headers: { 'content-type': 'application/json', receipt },
    });
  }
}

let stopping = false;
let announcedSubscribed = false;
let announcedSent = false;
const chatters = Array.from({ length: n }, (_, i) => new Chatter(i));

function checkSubscribed() {
  if (!announcedSubscribed && chatters.every((c) => c.subscribed)) {
    announcedSubscribed = true;
    emit({ event: 'subscribed', count: n });
  }
}

function checkSent() {
  if (!announcedSent && chatters.every((c) => c.receipted === perClient)) {
    announcedSent = true;
    emit({ event: 'sent', count: n });
  }
}

// go starts every chatter's sending, spread over one interval so the
// crowd does not speak in lockstep.
function go() {
  chatters.forEach((c, idx) => {
    let k = 0;
    const tick = () => {
      if (k >= perClient || c.lost || stopping) return;
      c.send(k++);
      setTimeout(tick, interval);
    };
    setTimeout(tick, Math.floor((idx * interval) / n));
  });
}

function report() {
  emit({
    event: 'report',
    clients: chatters.map((c) => ({
      client: c.i, room: c.room, sent: c.sent, receipted: c.receipted,
      received: c.received, lost: c.lost,
    })),
  });
}

async function exit() {
  stopping = true;
  await Promise.allSettled(chatters.map((c) => c.client.deactivate()));
  process.exit(0);
}

chatters.forEach((c) => c.client.activate());

const rl = readline.createInterface({ input: process.stdin });
rl.on('line', (line) => {
  let cmd;
  try {
    cmd = JSON.parse(line);
  } catch (e) {
    emit({ event: 'fatal', error: `bad command: ${e.message}` });
    return;
  }
  if (cmd.op === 'go') go();
  else if (cmd.op === 'report') report();
  else if (cmd.op === 'exit') exit();
  else emit({ event: 'fatal', error: `unknown op ${cmd.op}` });
});
rl.on('close', () => exit());
