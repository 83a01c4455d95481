#!/usr/bin/env node
// korean.mjs: the web page's acceptance run in Korean, in headless
// Chromium driven by playwright-core, for the Go test internal/e2e
// TestBrowserKorean.
//
// Usage: node korean.mjs '<config JSON>'
//   {"base":"http://127.0.0.1:PORT", "chromium":"/usr/bin/chromium",
//    "userDataDir":"/tmp/...",        two profiles are made under it
//    "artifacts":"/tmp/...",          screenshots go there
//    "timeoutMs":240000}
//
// Two people, 철수 and 영희, each in a browser with the Korean locale, type
// their names, create and join 채팅방 (영희's creation gets 409 and joins
// through the offer), talk (a 3,000-character message is refused and kept,
// a 1,300-character one goes through), exchange a private message, take
// screenshots at 1280 and 390 px in Korean and English (checked for
// horizontal overflow and untranslated strings), reload (the session comes
// back), and live through a broker outage: a message typed while RabbitMQ
// is stopped shows as sending, then arrives once, and banners clear; one
// typed while the page's own connection is down is sent once when it is
// back, with no ENTER/LEAVE line added; and when a replica shuts down, its
// pages show the server's word, reconnect to the other and clear it.
//
// stdout carries JSON lines, as browser.mjs's: step, ask ({"what":"broker",
// "action":"stop"|"start"|"stop-replica"}: stop or start RabbitMQ, or stop
// a chatrelay replica holding a session; answered {"id":N} or
// {"id":N,"error":"..."}),
// result, fail.

import readline from "node:readline";
import path from "node:path";
import { chromium } from "playwright-core";
import { checkLayout } from "./pagecheck.mjs";

const cfg = JSON.parse(process.argv[2] ?? "{}");
const WAIT_MS = 20000; // one page condition
const OUTAGE_WAIT_MS = 120000; // a message sent during the outage, to arrive
const started = Date.now();
let currentStep = "start";
const contexts = [];
const pages = {}; // name → {page, user, errors}

const emit = (obj) => process.stdout.write(JSON.stringify(obj) + "\n");
const step = (name) => {
  currentStep = name;
  emit({ type: "step", step: name, ms: Date.now() - started });
};

// ---- questions to the Go test ----

const answers = new Map();
let nextAsk = 1;
readline
  .createInterface({ input: process.stdin })
  .on("line", (line) => {
    try {
      const a = JSON.parse(line);
      const resolve = answers.get(a.id);
      if (resolve) {
        answers.delete(a.id);
        resolve(a);
      }
    } catch {
      // not an answer
    }
  })
  .on("close", () => {
    for (const [id, resolve] of answers) resolve({ id, error: "stdin closed" });
    answers.clear();
  });

async function broker(action) {
  const id = nextAsk++;
  const answer = new Promise((resolve) => answers.set(id, resolve));
  emit({ type: "ask", id, what: "broker", action });
  const a = await answer;
  if (a.error) throw new Error(`broker ${action}: ${a.error}`);
}

// ---- page helpers ----

async function openPage(name, user) {
  const context = await chromium.launchPersistentContext(path.join(cfg.userDataDir, name), {
    executablePath: cfg.chromium,
    headless: true,
    timeout: 60000,
    locale: "ko-KR",
    viewport: { width: 1280, height: 800 },
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
      "--disable-component-update", "--disable-sync", `--explicitly-allowed-ports=${new URL(cfg.base).port}`],
  });
  contexts.push(context);
  // every banner text shown, for the steps that expect one to come and go
  await context.addInitScript(() => {
    window.__banners = [];
    document.addEventListener("DOMContentLoaded", () => {
      const b = document.getElementById("error-banner");
      new MutationObserver(() => {
        if (!b.hidden) window.__banners.push(document.getElementById("error-text").textContent);
      }).observe(b, { attributes: true, subtree: true, childList: true, characterData: true });
    });
  });
  const page = context.pages()[0] ?? (await context.newPage());
  const p = { page, user, errors: [] };
  page.on("pageerror", (err) => p.errors.push(String(err)));
  page.on("console", (msg) => {
    if (msg.type() === "error") process.stderr.write(`[${name} console.error] ${msg.text()}\n`);
  });
  pages[name] = p;
  await page.goto(`${cfg.base}/`, { timeout: WAIT_MS });
  const lang = await page.evaluate(() => [document.documentElement.lang, navigator.language]);
  if (lang[0] !== "ko") throw new Error(`page language ${lang[0]} (navigator.language ${lang[1]}), want ko`);
  await page.locator("#user").fill(user, { timeout: WAIT_MS });
  await page.locator("#connect").click({ timeout: WAIT_MS });
  await waitConnected(p);
  return p;
}

async function waitConnected(p) {
  await p.page.locator('#status[data-state="connected"]').waitFor({ timeout: WAIT_MS });
  const me = await p.page.locator("#me").textContent();
  if (me !== p.user) throw new Error(`#me shows ${JSON.stringify(me)}, want ${p.user}`);
}

const waitFor = (p, fn, arg, timeout = WAIT_MS) => p.page.waitForFunction(fn, arg, { timeout, polling: 100 });

// talks returns the TALK messages shown: [{sender, text, offset}].
const talks = (p) =>
  p.page.$$eval("#messages li.msg-talk", (lis) =>
    lis.map((li) => ({
      sender: li.querySelector(".sender").textContent,
      text: li.querySelector(".text").textContent,
      offset: Number(li.dataset.offset),
    })),
  );

async function waitTalk(p, sender, text, timeout = WAIT_MS) {
  await waitFor(
    p,
    ([s, t]) =>
      [...document.querySelectorAll("#messages li.msg-talk")].some(
        (li) => li.querySelector(".sender").textContent === s && li.querySelector(".text").textContent === t,
      ),
    [sender, text],
    timeout,
  );
}

const count = (list, sender, text) => list.filter((m) => m.sender === sender && m.text === text).length;

async function say(p, text) {
  await p.page.locator("#message-input").fill(text, { timeout: WAIT_MS });
  await p.page.locator("#send").click({ timeout: WAIT_MS });
}

const bannerHidden = (p) => waitFor(p, () => document.getElementById("error-banner").hidden, null, 60000);

// shoot saves a screenshot at width in lang and checks the layout.
async function shoot(p, name, lang, width) {
  await p.page.selectOption("#lang", lang);
  await p.page.setViewportSize({ width, height: width < 500 ? 844 : 800 });
  const file = path.join(cfg.artifacts, `${name}-${lang}-${width}.png`);
  const check = await checkLayout(p.page, lang);
  await p.page.screenshot({ path: file, fullPage: true, timeout: 10000 });
  return { file, lang, width, ...check };
}

// ---- the scenario ----

async function run() {
  const result = { type: "result", screenshots: [] };
  step("철수 and 영희 open the page in Korean and connect");
  const a = await openPage("cheolsu", "철수");
  const b = await openPage("younghee", "영희");
  const status = await a.page.locator("#status").textContent();
  if (status !== "온라인") throw new Error(`status reads ${JSON.stringify(status)}, want 온라인`);

  step("철수 creates 채팅방");
  await a.page.locator("#new-room-name").fill("채팅방", { timeout: WAIT_MS });
  await a.page.locator("#create-room").click({ timeout: WAIT_MS });
  await waitFor(a, () => document.getElementById("current-room").dataset.roomId !== "");
  const roomId = await a.page.locator("#current-room").getAttribute("data-room-id");
  result.roomId = roomId;

  step("영희 creates 채팅방 too: 409, and joins through the offer");
  await waitFor(b, (id) => !!document.querySelector(`#room-list li[data-room-id="${id}"]`), roomId);
  await b.page.locator("#new-room-name").fill("채팅방", { timeout: WAIT_MS });
  await b.page.locator("#create-room").click({ timeout: WAIT_MS });
  await b.page.locator("#error-action").waitFor({ state: "visible", timeout: WAIT_MS });
  result.conflictText = await b.page.locator("#error-text").textContent();
  result.conflictAction = await b.page.locator("#error-action").textContent();
  await b.page.locator("#error-action").click({ timeout: WAIT_MS });
  await waitFor(b, (id) => document.getElementById("current-room").dataset.roomId === id, roomId);
  result.bannerAfterJoin = !(await b.page.locator("#error-banner").isHidden());

  step("both rooms lists show 2 online, live");
  for (const p of [a, b]) {
    await waitFor(p, (id) => document.querySelector(`#room-list li[data-room-id="${id}"] .room-online`)?.textContent === "2", roomId);
  }

  step("철수 types 3,000 Korean characters: refused, kept in the input");
  const long = "가".repeat(3000);
  await say(a, long);
  await a.page.locator("#send-reason").waitFor({ state: "visible", timeout: WAIT_MS });
  result.refusal = {
    reason: await a.page.locator("#send-reason").textContent(),
    inputKept: (await a.page.locator("#message-input").inputValue()) === long,
    byteCount: await a.page.locator("#byte-count").textContent(),
    over: await a.page.locator("#byte-count").evaluate((e) => e.classList.contains("over")),
    pending: (await a.page.evaluate(() => window.chatrelay.pending())).length,
  };

  step("철수 sends 1,300 Korean characters: delivered");
  const medium = "나".repeat(1300);
  await say(a, medium);
  await waitTalk(b, "철수", medium);
  await waitTalk(a, "철수", medium);
  result.mediumInputCleared = (await a.page.locator("#message-input").inputValue()) === "";
  result.reasonHiddenAfter = await a.page.locator("#send-reason").isHidden();

  step("they talk");
  await say(b, "안녕, 철수!");
  await waitTalk(a, "영희", "안녕, 철수!");

  step("영희 sends 철수 a private message");
  await b.page.locator('#online li[data-user="철수"]').click({ timeout: WAIT_MS });
  await b.page.locator("#dm-text").fill("비밀 이야기", { timeout: WAIT_MS });
  await b.page.locator("#dm-send").click({ timeout: WAIT_MS });
  await waitFor(a, () => [...document.querySelectorAll("#dms li.dm-in")].some((li) => li.querySelector(".text").textContent === "비밀 이야기" && li.dataset.from === "영희"));

  step("screenshots at 1280 and 390 px, Korean and English");
  for (const lang of ["ko", "en"]) {
    for (const width of [1280, 390]) result.screenshots.push(await shoot(a, "cheolsu", lang, width));
  }
  await a.page.selectOption("#lang", "ko");
  await a.page.setViewportSize({ width: 1280, height: 800 });

  step("영희 picks English and reloads: language, name, room, messages and private message come back");
  const before = await talks(b);
  await b.page.selectOption("#lang", "en");
  await b.page.reload({ timeout: WAIT_MS });
  await waitConnected(b);
  await waitFor(b, (id) => document.getElementById("current-room").dataset.roomId === id, roomId);
  await waitTalk(b, "영희", "안녕, 철수!");
  const after = await talks(b);
  result.reload = {
    lang: await b.page.evaluate(() => document.documentElement.lang),
    before: before.length,
    after: after.length,
    offsetsUnique: new Set(after.map((m) => m.offset)).size === after.length,
    dmKept: await b.page.locator("#dms li.dm-out .text", { hasText: "비밀 이야기" }).count(),
    userInput: await b.page.locator("#user").inputValue(),
    status: await b.page.locator("#status").textContent(),
  };
  await b.page.selectOption("#lang", "ko");
  await say(b, "다시 왔어요");
  await waitTalk(a, "영희", "다시 왔어요");
  result.presenceLines = await a.page.$$eval("#messages li.msg-enter, #messages li.msg-leave", (lis) =>
    lis.map((li) => `${li.dataset.type} ${li.querySelector(".sender").textContent}`),
  );

  step("RabbitMQ stops");
  await broker("stop");
  step("철수 sends while the broker is away: shown as sending");
  const outage = "브로커가 없는 동안 보낸 메시지";
  await say(a, outage);
  const pend = a.page.locator("#messages li.msg-pending");
  await pend.first().waitFor({ state: "visible", timeout: WAIT_MS });
  result.outage = {
    pendingState: await pend.first().getAttribute("data-state"),
    pendingLabel: await pend.first().locator(".pending-state").textContent(),
    pendingText: await pend.first().locator(".text").textContent(),
    inputCleared: (await a.page.locator("#message-input").inputValue()) === "",
  };
  result.screenshots.push(await shoot(a, "cheolsu-outage", "ko", 1280));
  step("RabbitMQ starts");
  await broker("start");
  step("the message arrives once, pending gone, banners clear");
  await waitTalk(b, "철수", outage, OUTAGE_WAIT_MS);
  await waitTalk(a, "철수", outage, OUTAGE_WAIT_MS);
  await waitFor(a, () => document.querySelectorAll("#messages li.msg-pending").length === 0, null, OUTAGE_WAIT_MS);
  // a later message is the barrier: a second copy would come before it
  await say(a, "복구 확인");
  await waitTalk(b, "철수", "복구 확인", OUTAGE_WAIT_MS);
  await waitTalk(a, "철수", "복구 확인", OUTAGE_WAIT_MS);
  await bannerHidden(a);
  await bannerHidden(b);
  result.outage.copiesA = count(await talks(a), "철수", outage);
  result.outage.copiesB = count(await talks(b), "철수", outage);
  result.outage.statusA = await a.page.locator("#status").getAttribute("data-state");
  result.screenshots.push(await shoot(a, "cheolsu-recovered", "ko", 1280));
  result.screenshots.push(await shoot(b, "younghee-recovered", "ko", 390));

  step("영희's connection drops; what she types meanwhile is sent once on the reconnect");
  const presenceBefore = await a.page.locator("#messages li.msg-enter, #messages li.msg-leave").count();
  await b.page.evaluate(() => window.chatrelay.dropConnection());
  await b.page.locator('#status[data-state="reconnecting"]').waitFor({ timeout: WAIT_MS });
  const dropped = "연결이 끊긴 동안 쓴 메시지";
  await say(b, dropped);
  result.drop = { pendingState: await b.page.locator("#messages li.msg-pending").first().getAttribute("data-state") };
  await waitConnected(b);
  await waitTalk(a, "영희", dropped);
  await say(b, "재연결 확인");
  await waitTalk(a, "영희", "재연결 확인");
  await waitTalk(b, "영희", "재연결 확인");
  result.drop.copiesA = count(await talks(a), "영희", dropped);
  result.drop.copiesB = count(await talks(b), "영희", dropped);
  result.drop.presenceAdded = (await a.page.locator("#messages li.msg-enter, #messages li.msg-leave").count()) - presenceBefore;

  step("a replica shuts down: its pages show the server's word, then reconnect and clear it");
  const shown = async () => Object.fromEntries(await Promise.all(Object.entries(pages).map(async ([n, p]) => [n, await p.page.evaluate(() => window.__banners.length)])));
  const bannersBefore = await shown();
  await broker("stop-replica");
  await Promise.race([
    Promise.any([a, b].map((p) => waitFor(p, (n) => window.__banners.length > n, bannersBefore[p === a ? "cheolsu" : "younghee"]))),
    new Promise((_, rej) => setTimeout(() => rej(new Error("no page showed a banner when its replica shut down")), WAIT_MS).unref()),
  ]);
  for (const p of [a, b]) {
    await waitConnected(p);
    await bannerHidden(p);
  }
  await say(a, "한 대로도 잘 돼요");
  await waitTalk(b, "철수", "한 대로도 잘 돼요");
  result.replicaStop = { banners: {} };
  for (const [n, p] of Object.entries(pages)) {
    result.replicaStop.banners[n] = (await p.page.evaluate(() => window.__banners)).slice(bannersBefore[n]);
  }

  result.pages = {};
  for (const [name, p] of Object.entries(pages)) {
    result.pages[name] = {
      pageErrors: p.errors,
      banner: (await p.page.locator("#error-banner").isVisible()) ? await p.page.locator("#error-text").textContent() : "",
    };
  }
  return result;
}

async function closeAll() {
  await Promise.race([
    Promise.all(contexts.map((c) => c.close().catch(() => {}))),
    new Promise((r) => setTimeout(r, 10000).unref()),
  ]);
}

let failing = false;
async function fail(err) {
  if (failing) return;
  failing = true;
  const states = {};
  for (const [name, p] of Object.entries(pages)) {
    states[name] = await Promise.race([
      p.page
        .evaluate(() => ({
          status: document.getElementById("status").dataset.state,
          banner: document.getElementById("error-banner").hidden ? "" : document.getElementById("error-text").textContent,
          room: document.getElementById("current-room").textContent,
          messages: [...document.querySelectorAll("#messages li")].map((li) => `${li.className}: ${li.textContent.slice(0, 80)}`),
          pending: window.chatrelay.pending(),
        }))
        .catch((e) => ({ unreadable: String(e) })),
      new Promise((r) => setTimeout(() => r({ unreadable: "timeout" }), 5000).unref()),
    ]);
    await p.page.screenshot({ path: path.join(cfg.artifacts, `failed-${name}.png`), fullPage: true, timeout: 5000 }).catch(() => {});
    states[name].pageErrors = p.errors;
  }
  await closeAll();
  emit({ type: "fail", step: currentStep, error: String(err && err.stack ? err.stack : err), pages: states });
  process.exit(1);
}

async function main() {
  const deadline = setTimeout(() => fail(new Error(`the run took longer than ${cfg.timeoutMs} ms`)), cfg.timeoutMs ?? 240000);
  try {
    const result = await run();
    await closeAll();
    clearTimeout(deadline);
    emit(result);
    process.exit(0);
  } catch (err) {
    await fail(err);
  }
}

main();
