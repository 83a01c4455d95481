#!/usr/bin/env node
// roompages.mjs: the web page lists more rooms than one /app/rooms page
// holds, in headless Chromium driven by playwright-core, for the Go test
// internal/e2e TestBrowserRoomPages.
//
// Usage: node roompages.mjs '<config JSON>'
//   {"base":"http://127.0.0.1:PORT", "chromium":"/usr/bin/chromium",
//    "userDataDir":"/tmp/...", "want":["room id",...], "timeoutMs":60000}
//
// It opens the page as a user, waits until #room-list shows every room id
// in want, and prints one JSON line: {"listed":N,"missing":[...],
// "errors":[...]}; exit status 1 when a room is missing.

import { chromium } from "playwright-core";

const cfg = JSON.parse(process.argv[2] ?? "{}");

async function run() {
  const context = await chromium.launchPersistentContext(cfg.userDataDir, {
    executablePath: cfg.chromium,
    headless: true,
    timeout: 60000,
    args: ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
      `--explicitly-allowed-ports=${new URL(cfg.base).port}`],
  });
  const errors = [];
  try {
    const page = await context.newPage();
    page.on("pageerror", (e) => errors.push(String(e)));
    await page.goto(`${cfg.base}/?user=pager`, { timeout: 20000 });
    const want = cfg.want;
    let listed = [];
    try {
      await page.waitForFunction(
        (ids) => {
          const shown = new Set([...document.querySelectorAll("#room-list li[data-room-id]")].map((li) => li.dataset.roomId));
          return ids.every((id) => shown.has(id));
        },
        want,
        { timeout: cfg.timeoutMs ?? 60000, polling: 200 },
      );
    } catch (e) {
      errors.push(String(e));
    }
    listed = await page.$$eval("#room-list li[data-room-id]", (lis) => lis.map((li) => li.dataset.roomId));
    const shown = new Set(listed);
    const missing = want.filter((id) => !shown.has(id));
    process.stdout.write(JSON.stringify({ listed: listed.length, missing, errors }) + "\n");
    process.exitCode = missing.length === 0 ? 0 : 1;
  } finally {
    await context.close();
  }
}

run().catch((e) => {
  process.stdout.write(JSON.stringify({ listed: 0, missing: ["(run failed)"], errors: [String(e)] }) + "\n");
  process.exit(1);
});
