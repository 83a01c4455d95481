#!/usr/bin/env node
// browser.mjs: two people chat through the real web page in headless
// Chromium, driven by playwright-core, for the Go test internal/e2e.
//
// Usage: node browser.mjs '<config JSON>'
//   {"base":"http://127.0.0.1:PORT",   the page's origin (nginx)
//    "transport":"websocket"|"sockjs", sockjs deletes window.WebSocket in
//                                      both pages before any script runs
//    "chromium":"/usr/bin/chromium", "userDataDir":"/tmp/...",
//    "suffix":"abc",                   makes user and room names unique
//    "timeoutMs":120000,               the whole run
//    "artifacts":""}                   when set: screenshots on failure
//
// stdout carries JSON lines:
//   {"type":"step","step":"...","ms":N}          progress
//   {"type":"ask","id":N,"what":"sessions","total":T,"tag":"...","timeoutMs":N}
//        a question for the Go test, answered on stdin with
//        {"id":N,"sessions":[{"ws":1,"sockjs":0},...]} once the replicas
//        together hold T STOMP sessions, or {"id":N,"error":"..."}
//   {"type":"result",...}                        the last line on success
//   {"type":"fail","error":"...","step":"...","pages":{...}}
//        the last line on failure (exit status 1)
// stderr carries diagnostics: the pages' console errors among them.

import readline from "node:readline";
import path from "node:path";
import { chromium } from "playwright-core";

const cfg = JSON.parse(process.argv[2] ?? "{}");
const WAIT_MS = 20000; // one page condition
const MAX_LANDING_TRIES = 16; // connections of the second page to reach the other replica
const started = Date.now();
let currentStep = "start";
let context = null;
const pages = {}; // name → {page, user, errors, websockets, sockjs}

const emit = (obj) => process.stdout.write(JSON.stringify(obj) + "\n");
const step = (name) => {
  currentStep = name;
  emit({ type: "step", step: name, ms: Date.now() - started });
};

// ---- questions to the Go test ----

const answers = new Map();
let nextAsk = 1;
let stdinClosed = false;
readline
  .createInterface({ input: process.stdin })
  .on("line", (line) => {
    let a;
    try {
      a = JSON.parse(line);
    } catch {
      return;
    }
    const resolve = answers.get(a.id);
    if (resolve) {
      answers.delete(a.id);
      resolve(a);
    }
  })
  .on("close", () => {
    stdinClosed = true;
    for (const [id, resolve] of answers) resolve({ id, error: "stdin closed: no Go test to answer" });
    answers.clear();
  });

// sessions waits until the replicas together hold total STOMP sessions and
// returns each replica's sessions by transport label.
async function sessions(total, tag) {
  if (stdinClosed) throw new Error(`${tag}: stdin closed: no Go test to answer`);
  const id = nextAsk++;
  const answer = new Promise((resolve) => answers.set(id, resolve));
  emit({ type: "ask", id, what: "sessions", total, tag, timeoutMs: WAIT_MS });
  const a = await answer;
  if (a.error) throw new Error(`${tag}: ${a.error}`);
  return a.sessions;
}

const sum = (o) => Object.values(o).reduce((x, y) => x + y, 0);

// ---- page helpers ----

async function openPage(name, user) {
  const page = await context.newPage();
  const p = { page, user, errors: [], websockets: 0, sockjs: new Set() };
  if (cfg.transport === "sockjs") {
    // a browser without WebSocket: the page must fall back to SockJS by itself
    await page.addInitScript(() => {
      delete window.WebSocket;
    });
  }
  page.on("pageerror", (err) => p.errors.push(String(err)));
  page.on("console", (msg) => {
    if (msg.type() === "error" || msg.type() === "warning") {
      process.stderr.write(`[${name} console.${msg.type()}] ${msg.text()}\n`);
    }
  });
  page.on("websocket", () => p.websockets++);
  page.on("request", (req) => {
    const m = new URL(req.url()).pathname.match(/^\/ws-stomp\/[^/]+\/[^/]+\/([a-z_]+)$/);
    if (m) p.sockjs.add(m[1]);
  });
  pages[name] = p;
  await page.goto(`${cfg.base}/?user=${encodeURIComponent(user)}`, { timeout: WAIT_MS });
  await waitConnected(p);
  return p;
}

async function waitConnected(p) {
  await p.page.locator('#status[data-state="connected"]').waitFor({ timeout: WAIT_MS });
  const me = await p.page.locator("#me").textContent();
  if (me !== p.user) throw new Error(`#me shows ${JSON.stringify(me)}, want ${p.user}`);
  const transport = await p.page.locator("#transport").textContent();
  if (transport !== cfg.transport) throw new Error(`${p.user}'s page uses ${transport}, want ${cfg.transport}`);
}

async function reload(p) {
  await p.page.reload({ timeout: WAIT_MS });
  await waitConnected(p);
}

// disconnect ends p's STOMP session on purpose (DISCONNECT), so that the
// server forgets it at once.
async function disconnect(p) {
  await p.page.locator("#disconnect").click({ timeout: WAIT_MS });
  await p.page.locator('#status[data-state="disconnected"]').waitFor({ timeout: WAIT_MS });
}

async function joinFromList(p, roomId) {
  await p.page.locator(`#room-list li[data-room-id="${roomId}"]`).click({ timeout: WAIT_MS });
  await p.page.waitForFunction((id) => document.getElementById("current-room").dataset.roomId === id, roomId, {
    timeout: WAIT_MS,
  });
}

async function waitOnline(p, users) {
  await p.page.waitForFunction(
    (want) => {
      const have = new Set([...document.querySelectorAll("#online li[data-user]")].map((li) => li.dataset.user));
      return want.every((u) => have.has(u));
    },
    users,
    { timeout: WAIT_MS },
  );
  return p.page.$$eval("#online li[data-user]", (lis) => lis.map((li) => li.dataset.user).sort());
}

async function say(p, text) {
  await p.page.locator("#message-input").fill(text, { timeout: WAIT_MS });
  await p.page.locator("#send").click({ timeout: WAIT_MS });
}

// talk returns the TALK messages shown, in page order.
const talk = (p) =>
  p.page.$$eval("#messages li.msg-talk", (lis) =>
    lis.map((li) => ({
      sender: li.querySelector(".sender").textContent,
      text: li.querySelector(".text").textContent,
      offset: Number(li.dataset.offset),
      mine: li.classList.contains("mine"),
    })),
  );

// waitTalk waits until p shows every {sender, text} of want.
async function waitTalk(p, want) {
  await p.page.waitForFunction(
    (want) => {
      const have = [...document.querySelectorAll("#messages li.msg-talk")].map(
        (li) => li.querySelector(".sender").textContent + "\u0000" + li.querySelector(".text").textContent,
      );
      return want.every((w) => have.includes(w.sender + "\u0000" + w.text));
    },
    want,
    { timeout: WAIT_MS },
  );
  return talk(p);
}

// waitSystem waits until p shows the SYSTEM announcement of event about
// target in the room shown.
async function waitSystem(p, event, target) {
  await p.page.waitForFunction(
    ([event, target]) => window.chatrelay.systemEvents().some((e) => e.event === event && e.target === target),
    [event, target],
    { timeout: WAIT_MS },
  );
}

async function pageState(p) {
  const dom = await p.page.evaluate(() => {
    const text = (id) => (document.getElementById(id) ? document.getElementById(id).textContent : null);
    const banner = document.getElementById("error-banner");
    return {
      status: text("status"),
      transport: text("transport"),
      me: text("me"),
      error: banner && !banner.hidden ? text("error-text") : "",
      room: text("current-room"),
      rooms: [...document.querySelectorAll("#room-list li[data-room-id]")].map((li) => li.textContent),
      online: [...document.querySelectorAll("#online li[data-user]")].map((li) => li.dataset.user),
      messages: [...document.querySelectorAll("#messages li.msg")].map((li) => li.textContent),
    };
  });
  return { url: p.page.url(), ...dom, pageErrors: p.errors, websockets: p.websockets, sockjs: [...p.sockjs] };
}

// ---- the scenario ----

async function run() {
  step("launch chromium");
  context = await chromium.launchPersistentContext(cfg.userDataDir, {
    executablePath: cfg.chromium,
    headless: true,
    timeout: 60000,
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      `--explicitly-allowed-ports=${new URL(cfg.base).port}`, // whatever port nginx got
    ],
  });
  const alice = `alice-${cfg.suffix}`;
  const bob = `bob-${cfg.suffix}`;

  step("alice opens the page");
  const a = await openPage("alice", alice);
  const first = await sessions(1, "alice connected");
  const replicaA = first.findIndex((s) => sum(s) === 1);

  step("bob opens the page");
  const b = await openPage("bob", bob);
  let landing = null;
  let tries = 1;
  for (;;) {
    const s = await sessions(2, "landed");
    if (s.every((r) => sum(r) === 1)) {
      landing = s;
      break;
    }
    if (tries >= MAX_LANDING_TRIES) {
      throw new Error(`bob's page reached the same replica as alice's in all ${tries} tries: ${JSON.stringify(s)}`);
    }
    // A page load is an even number of requests (page, four files, /ws),
    // so reloading would meet nginx's round-robin in the same phase every
    // time: reconnect instead, one request (or one new SockJS session).
    step(`bob's page reached alice's replica (${JSON.stringify(s)}): reconnecting`);
    await disconnect(b);
    await sessions(1, "bob gone");
    await b.page.locator("#connect").click({ timeout: WAIT_MS });
    await waitConnected(b);
    tries++;
  }
  const replicaB = landing.findIndex((s, i) => i !== replicaA && sum(s) === 1);

  step("alice creates a room");
  const roomName = `e2e-${cfg.transport}-${cfg.suffix}`;
  await a.page.locator("#new-room-name").fill(roomName, { timeout: WAIT_MS });
  await a.page.locator("#create-room").click({ timeout: WAIT_MS });
  await a.page.waitForFunction(() => document.getElementById("current-room").dataset.roomId !== "", null, {
    timeout: WAIT_MS,
  });
  const roomId = await a.page.locator("#current-room").getAttribute("data-room-id");

  step("bob joins the room from the list");
  await joinFromList(b, roomId);

  step("presence shows both");
  const onlineA = await waitOnline(a, [alice, bob]);
  const onlineB = await waitOnline(b, [alice, bob]);

  const hiA = `hello from ${alice} over ${cfg.transport}`;
  const hiB = `hello from ${bob} over ${cfg.transport}`;
  step("alice talks");
  let t0 = Date.now();
  await say(a, hiA);
  await waitTalk(b, [{ sender: alice, text: hiA }]);
  const aliceToBob = Date.now() - t0;
  step("bob talks");
  t0 = Date.now();
  await say(b, hiB);
  const want = [
    { sender: alice, text: hiA },
    { sender: bob, text: hiB },
  ];
  const seenA = await waitTalk(a, want);
  const bobToAlice = Date.now() - t0;
  const seenB = await waitTalk(b, want);

  step("alice types: bob's page shows it, and not once she clears the input");
  t0 = Date.now();
  await a.page.locator("#message-input").fill("typing a reply", { timeout: WAIT_MS });
  await b.page.waitForFunction((u) => document.getElementById("typing").dataset.users === u, alice, { timeout: WAIT_MS });
  const typingShown = {
    text: await b.page.locator("#typing").textContent(),
    visible: await b.page.locator("#typing").isVisible(),
    ms: Date.now() - t0,
    onOwnPage: await a.page.locator("#typing").getAttribute("data-users"),
  };
  await a.page.locator("#message-input").fill("", { timeout: WAIT_MS });
  await b.page.waitForFunction(() => document.getElementById("typing").dataset.users === "", null, { timeout: WAIT_MS });
  const typingCleared = !(await b.page.locator("#typing").isVisible());

  step("alice, the room's owner, kicks bob from the online list: his page leaves the room and says why");
  const modButtons = {
    onA: await a.page.$$eval("#online li[data-user] button[data-action]", (bs) => bs.map((b) => `${b.dataset.user}:${b.dataset.action}`).sort()),
    onB: await b.page.$$eval("#online button[data-action]", (bs) => bs.length),
  };
  // timed from when the click is done (Playwright's click itself waits
  // for the button to be stable, which takes it up to seconds)
  await a.page.locator(`#online li[data-user="${bob}"] button[data-action="kick"]`).click({ timeout: WAIT_MS });
  t0 = Date.now();
  await b.page.waitForFunction((id) => !(id in window.chatrelay.lastOffsets()), roomId, { timeout: WAIT_MS });
  const kickMs = Date.now() - t0;
  await b.page.waitForFunction(() => !document.getElementById("error-banner").hidden, null, { timeout: WAIT_MS });
  const kicked = { ms: kickMs, banner: await b.page.locator("#error-text").textContent() };
  await waitSystem(a, "kick", bob);
  await b.page.locator("#error-dismiss").click({ timeout: WAIT_MS });
  await joinFromList(b, roomId);

  step("bob reloads the page and rejoins the room");
  await reload(b);
  await joinFromList(b, roomId);
  const history = await waitTalk(b, want);
  const onlineAfter = await waitOnline(b, [alice, bob]);

  step("bob edits a message: alice's page shows the new text; alice, the owner, deletes it: bob's page shows a tombstone");
  const typo = `a typo from ${bob}`;
  const fixed = `fixed by ${bob}`;
  await say(b, typo);
  await waitTalk(a, [{ sender: bob, text: typo }]);
  const itemOf = (p, text) => p.page.locator("#messages li.msg-talk", { has: p.page.locator(".text", { hasText: text }) });
  b.page.once("dialog", (d) => d.accept(fixed));
  t0 = Date.now();
  await itemOf(b, typo).locator("button[data-revise=edit]").click({ timeout: WAIT_MS });
  await waitTalk(a, [{ sender: bob, text: fixed }]);
  const edited = {
    ms: Date.now() - t0,
    marked: (await itemOf(a, fixed).getAttribute("data-edited")) === "1",
    oldGone: (await itemOf(a, typo).count()) === 0,
    aliceMayEdit: await itemOf(a, fixed).locator("button[data-revise=edit]").count(),
  };
  const editedId = await itemOf(a, fixed).getAttribute("data-id");
  await itemOf(a, fixed).locator("button[data-revise=delete]").click({ timeout: WAIT_MS });
  t0 = Date.now();
  await b.page.waitForFunction((id) => {
    const li = document.querySelector(`#messages li[data-id="${id}"]`);
    return li && li.dataset.deleted === "1";
  }, editedId, { timeout: WAIT_MS });
  const deleted = {
    ms: Date.now() - t0,
    text: await b.page.locator(`#messages li[data-id="${editedId}"] .text`).textContent(),
    fixedGone: (await itemOf(b, fixed).count()) === 0,
  };

  step("alice writes to bob privately: his list shows the conversation unread; her message shows 1 unread until he opens it, then 0");
  const note = `read me, ${bob}`;
  await a.page.locator("#dm-to").fill(bob, { timeout: WAIT_MS });
  await a.page.locator("#dm-text").fill(note, { timeout: WAIT_MS });
  await a.page.locator("#dm-send").click({ timeout: WAIT_MS });
  await b.page.waitForFunction(() => {
    const li = document.querySelector("#room-list li.direct");
    return li && li.dataset.unread === "1";
  }, null, { timeout: WAIT_MS });
  const dmRoom = await b.page.locator("#room-list li.direct").getAttribute("data-room-id");
  const badge = (p) => p.page.locator(`#room-list li[data-room-id="${dmRoom}"]`);
  const badgeBefore = {
    text: await badge(b).locator(".room-unread").textContent(),
    name: await badge(b).locator(".room-name").textContent(),
  };
  await joinFromList(a, dmRoom);
  const lastMine = (want) => {
    const li = [...document.querySelectorAll("#messages li.msg-talk.mine")].pop();
    return !!li && li.dataset.unread === want;
  };
  await a.page.waitForFunction(lastMine, "1", { timeout: WAIT_MS });
  const countBefore = await a.page.locator("#messages li.msg-talk.mine .read-count").last().textContent();
  t0 = Date.now();
  await joinFromList(b, dmRoom);
  await a.page.waitForFunction(lastMine, "0", { timeout: WAIT_MS });
  const readMs = Date.now() - t0;
  const reads = {
    room: dmRoom,
    badgeBefore,
    countBefore,
    countAfter: await a.page.locator("#messages li.msg-talk.mine .read-count").last().textContent(),
    ms: readMs,
    badgeAfter: await badge(b).getAttribute("data-unread"),
  };

  step("done");
  const result = {
    type: "result",
    transport: cfg.transport,
    roomId,
    replicaA,
    replicaB,
    landing,
    tries,
    onlineA,
    onlineB,
    onlineAfter,
    seenA,
    seenB,
    history,
    latencyMs: { aliceToBob, bobToAlice },
    typing: { ...typingShown, cleared: typingCleared },
    moderation: { buttons: modButtons, kicked },
    revision: { edited, deleted },
    reads,
    pages: {},
  };
  for (const [name, p] of Object.entries(pages)) {
    const errorShown = (await p.page.locator("#error-banner").isVisible()) ? await p.page.locator("#error-text").textContent() : "";
    result.pages[name] = {
      transport: await p.page.locator("#transport").textContent(),
      websockets: p.websockets,
      sockjsTransports: [...p.sockjs].sort(),
      pageErrors: p.errors,
      errorShown,
    };
  }
  return result;
}

async function screenshots() {
  if (!cfg.artifacts) return;
  for (const [name, p] of Object.entries(pages)) {
    const file = path.join(cfg.artifacts, `${cfg.transport}-${name}.png`);
    await p.page.screenshot({ path: file, fullPage: true, timeout: 5000 }).catch(() => {});
  }
}

async function closeBrowser() {
  if (!context) return;
  const c = context;
  context = null;
  // a browser that does not close in time is killed by the Go test
  await Promise.race([c.close().catch(() => {}), new Promise((r) => setTimeout(r, 10000).unref())]);
}

async function main() {
  const deadline = setTimeout(() => {
    fail(new Error(`the run took longer than ${cfg.timeoutMs} ms`));
  }, cfg.timeoutMs ?? 120000);
  try {
    const result = await run();
    await closeBrowser();
    emit(result);
    clearTimeout(deadline);
    process.exit(0);
  } catch (err) {
    await fail(err);
  }
}

let failing = false;
async function fail(err) {
  if (failing) return;
  failing = true;
  const states = {};
  for (const [name, p] of Object.entries(pages)) {
    states[name] = await Promise.race([
      pageState(p).catch((e) => ({ unreadable: String(e) })),
      new Promise((r) => setTimeout(() => r({ unreadable: "timeout" }), 5000).unref()),
    ]);
  }
  await screenshots();
  await closeBrowser();
  emit({ type: "fail", step: currentStep, error: String(err && err.stack ? err.stack : err), pages: states });
  process.exit(1);
}

main();
