#!/usr/bin/env node
// stompclient.mjs: a scriptable @stomp/stompjs client for Go tests.
//
// It reads JSON commands, one per line, on stdin and writes JSON events, one
// per line, on stdout. It exits when stdin closes (after a best-effort
// DISCONNECT). Diagnostics go to stderr; STOMPJS_DEBUG=1 adds stompjs's own
// debug log there.
//
// Every command may carry "seq"; it is answered by
//   {"event":"reply","seq":N,"op":"...","ok":true}  or  {..., "ok":false,"error":"..."}
// as soon as the command has been handed to stompjs (not when the server has
// acted on it: use receipts for that).
//
// Commands:
//   {"op":"connect","url":"ws://host:port/ws","login":"alice","passcode":"x",
//    "headers":{},"heartbeat":[incomingMs,outgoingMs],"sockjs":false,
//    "binary":false,"versions":["1.2","1.1","1.0"],"timeout_ms":10000,
//    "heartbeat_events":false}
//       heartbeat defaults to [0,0]; sockjs:true dials url (http://...) with
//       sockjs-client instead of ws; binary:true sends binary WebSocket frames;
//       heartbeat_events:true reports every heart-beat in either direction.
//   {"op":"subscribe","id":"s1","destination":"/topic/room.1","headers":{"receipt":"r1"}}
//   {"op":"unsubscribe","id":"s1","headers":{}}
//   {"op":"send","destination":"/app/chat","body":"..","body_base64":"..","headers":{}}
//   {"op":"ack","message_id":"..","subscription":"s1","headers":{}}   (also "nack")
//   {"op":"begin","transaction":"tx1"}    client.begin(tx1); the script keeps
//   {"op":"commit","transaction":"tx1"}   the returned transaction and ends it
//   {"op":"abort","transaction":"tx1"}    with its own commit() or abort()
//       (a SEND, ACK or NACK joins it with headers {"transaction":"tx1"})
//   {"op":"disconnect"}
//   {"op":"exit"}
//
// Events:
//   {"event":"ready"}                                  the script is running
//   {"event":"connected","headers":{..}}
//   {"event":"message","subscription":"s1","destination":"..","headers":{..},
//    "body":"..","body_base64":"..","unhandled":false}
//   {"event":"receipt","id":"r1","headers":{..}}
//   {"event":"error","headers":{..},"body":".."}       a STOMP ERROR frame
//   {"event":"disconnected","headers":{..}}            RECEIPT for our DISCONNECT
//   {"event":"closed","code":1000,"reason":"..","was_clean":true}
//   {"event":"ws_error","message":".."}
//   {"event":"heartbeat_lost"}
//   {"event":"heartbeat_in"}     a heart-beat EOL came in  (heartbeat_events)
//   {"event":"heartbeat_out"}    stompjs sent a heart-beat (heartbeat_events)

import readline from 'node:readline';
import { Client } from '@stomp/stompjs';
import WebSocket from 'ws';

const emit = (ev) => process.stdout.write(JSON.stringify(ev) + '\n');
const debug = process.env.STOMPJS_DEBUG === '1'
  ? (msg) => process.stderr.write(`stompjs: ${msg}\n`)
  : () => {};

const bodyBase64 = (frame) =>
  frame.binaryBody ? Buffer.from(frame.binaryBody).toString('base64') : '';

const messageEvent = (message, unhandled) => ({
  event: 'message',
  subscription: message.headers.subscription ?? '',
  destination: message.headers.destination ?? '',
  headers: { ...message.headers },
  body: message.body,
  body_base64: bodyBase64(message),
  unhandled,
});

const receiptEvent = (frame) => ({
  event: 'receipt',
  id: frame.headers['receipt-id'] ?? '',
  headers: { ...frame.headers },
});

let client = null;
// transactions begun and not yet ended, by id
const transactions = new Map();

function requireClient() {
  if (!client) throw new Error('not connected: send a connect command first');
  return client;
}

async function connect(cmd) {
  if (client) throw new Error('already connected');
  if (!cmd.url) throw new Error('connect: url is required');
  const [incoming, outgoing] = cmd.heartbeat ?? [0, 0];
  let factory;
  if (cmd.sockjs) {
    const { default: SockJS } = await import('sockjs-client');
    factory = () => new SockJS(cmd.url);
  } else {
    factory = () => new WebSocket(cmd.url, ['v12.stomp', 'v11.stomp', 'v10.stomp']);
  }
  const beats = !!cmd.heartbeat_events;
  // stompjs reports an outgoing heart-beat only through its debug log
  const logAndWatch = beats
    ? (msg) => {
        if (msg === '>>> PING') emit({ event: 'heartbeat_out' });
        debug(msg);
      }
    : debug;
  const connectHeaders = { ...(cmd.headers ?? {}) };
  if (cmd.login !== undefined) connectHeaders.login = cmd.login;
  if (cmd.passcode !== undefined) connectHeaders.passcode = cmd.passcode;
  client = new Client({
    webSocketFactory: factory,
    connectHeaders,
    reconnectDelay: 0, // tests decide when to reconnect
    heartbeatIncoming: incoming,
    heartbeatOutgoing: outgoing,
    connectionTimeout: cmd.timeout_ms ?? 10000,
    forceBinaryWSFrames: !!cmd.binary,
    debug: logAndWatch,
    onHeartbeatReceived: beats ? () => emit({ event: 'heartbeat_in' }) : () => {},
    onConnect: (frame) => emit({ event: 'connected', headers: { ...frame.headers } }),
    onStompError: (frame) =>
      emit({ event: 'error', headers: { ...frame.headers }, body: frame.body }),
    onDisconnect: (frame) => emit({ event: 'disconnected', headers: { ...frame.headers } }),
    onWebSocketClose: (evt) =>
      emit({
        event: 'closed',
        code: evt?.code ?? 0,
        reason: String(evt?.reason ?? ''),
        was_clean: !!evt?.wasClean,
      }),
    onWebSocketError: (evt) =>
      emit({ event: 'ws_error', message: String(evt?.message ?? evt?.error ?? evt?.type ?? evt) }),
    onUnhandledMessage: (message) => emit(messageEvent(message, true)),
    onUnhandledReceipt: (frame) => emit(receiptEvent(frame)),
    onHeartbeatLost: () => emit({ event: 'heartbeat_lost' }),
  });
  if (Array.isArray(cmd.versions)) {
    const { Versions } = await import('@stomp/stompjs');
    client.stompVersions = new Versions(cmd.versions);
  }
  client.activate();
}

function watchReceipt(c, headers) {
  if (headers.receipt) c.watchForReceipt(headers.receipt, (frame) => emit(receiptEvent(frame)));
}

function endTransaction(cmd) {
  requireClient();
  const tx = transactions.get(cmd.transaction);
  if (!tx) throw new Error(`${cmd.op}: no open transaction ${JSON.stringify(cmd.transaction)}`);
  transactions.delete(cmd.transaction);
  return tx;
}

function publishBody(cmd) {
  if (cmd.body_base64 !== undefined) {
    return { binaryBody: new Uint8Array(Buffer.from(cmd.body_base64, 'base64')) };
  }
  return { body: cmd.body ?? '' };
}

const ops = {
  connect,
  subscribe(cmd) {
    const c = requireClient();
    const headers = { ...(cmd.headers ?? {}) };
    if (cmd.id) headers.id = cmd.id;
    watchReceipt(c, headers);
    c.subscribe(cmd.destination, (message) => emit(messageEvent(message, false)), headers);
  },
  unsubscribe(cmd) {
    requireClient().unsubscribe(cmd.id, { ...(cmd.headers ?? {}) });
  },
  send(cmd) {
    const c = requireClient();
    const headers = { ...(cmd.headers ?? {}) };
    watchReceipt(c, headers);
    c.publish({ destination: cmd.destination, headers, ...publishBody(cmd) });
  },
  ack(cmd) {
    requireClient().ack(cmd.message_id, cmd.subscription, { ...(cmd.headers ?? {}) });
  },
  nack(cmd) {
    requireClient().nack(cmd.message_id, cmd.subscription, { ...(cmd.headers ?? {}) });
  },
  begin(cmd) {
    if (!cmd.transaction) throw new Error('begin: transaction is required');
    if (transactions.has(cmd.transaction)) throw new Error(`begin: ${cmd.transaction} is open`);
    transactions.set(cmd.transaction, requireClient().begin(cmd.transaction));
  },
  commit(cmd) {
    endTransaction(cmd).commit();
  },
  abort(cmd) {
    endTransaction(cmd).abort();
  },
  async disconnect() {
    const c = requireClient();
    client = null;
    transactions.clear();
    await c.deactivate();
  },
  async exit() {
    await shutdown(0);
  },
};

async function handleLine(line) {
  if (!line.trim()) return;
  let cmd;
  try {
    cmd = JSON.parse(line);
  } catch (err) {
    emit({ event: 'reply', seq: 0, op: '', ok: false, error: `bad JSON: ${err.message}` });
    return;
  }
  const op = ops[cmd.op];
  try {
    if (!op) throw new Error(`unknown op ${JSON.stringify(cmd.op)}`);
    await op(cmd);
    emit({ event: 'reply', seq: cmd.seq ?? 0, op: cmd.op, ok: true });
  } catch (err) {
    emit({ event: 'reply', seq: cmd.seq ?? 0, op: cmd.op ?? '', ok: false, error: String(err?.message ?? err) });
  }
}

let shuttingDown = false;

async function shutdown(code) {
  if (shuttingDown) return;
  shuttingDown = true;
  if (client) {
    const c = client;
    client = null;
    // A polite DISCONNECT, but never hang on a dead server.
    await Promise.race([c.deactivate(), new Promise((r) => setTimeout(r, 2000))]);
  }
  process.exit(code);
}

// Commands run strictly in order, even the asynchronous ones.
let chain = Promise.resolve();
const rl = readline.createInterface({ input: process.stdin, crlfDelay: Infinity });
rl.on('line', (line) => {
  chain = chain.then(() => handleLine(line));
});
rl.on('close', () => {
  chain = chain.then(() => shutdown(0));
});
process.on('unhandledRejection', (err) => {
  process.stderr.write(`stompclient: unhandled rejection: ${err?.stack ?? err}\n`);
});
emit({ event: 'ready' });
