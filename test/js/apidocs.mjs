#!/usr/bin/env node
// apidocs.mjs: the REST API reference at /api/docs (Swagger UI on
// /api/openapi.json) renders in headless Chromium, driven by
// playwright-core, for the Go test internal/e2e TestBrowserAPIDocs.
//
// Usage: node apidocs.mjs '<config JSON>'
//   {"base":"http://127.0.0.1:PORT", "chromium":"/usr/bin/chromium",
//    "userDataDir":"/tmp/...", "timeoutMs":30000}
//
// It opens /api/docs, waits for the operations, expands GET /api/rooms
// and runs it with "Try it out", and prints one JSON line:
// {"title","operations":["GET /api/rooms",...],"tryStatus":"200",
// "errors":[...]} (page errors and console errors, CSP refusals included).

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
  const result = { title: "", operations: [], tryStatus: "", errors };
  try {
    const page = await context.newPage();
    page.on("pageerror", (e) => errors.push(`page: ${e}`));
    page.on("console", (m) => {
      if (m.type() === "error") errors.push(`console: ${m.text()}`);
    });
    const timeout = cfg.timeoutMs ?? 30000;
    await page.goto(`${cfg.base}/api/docs`, { timeout });
    await page.waitForSelector(".opblock .opblock-summary-path", { timeout });
    result.title = (await page.locator(".info .title").first().textContent({ timeout })).trim();
    result.operations = await page.$$eval(".opblock", (blocks) =>
      blocks.map((b) => {
        const method = b.querySelector(".opblock-summary-method")?.textContent.trim() ?? "";
        const path = b.querySelector(".opblock-summary-path")?.getAttribute("data-path") ?? "";
        return `${method} ${path}`;
      }),
    );
    const list = page.locator("#operations-rooms-listRooms");
    await list.locator(".opblock-summary").click({ timeout });
    await list.locator("button.try-out__btn").click({ timeout });
    await list.locator("button.execute").click({ timeout });
    const status = list.locator(".live-responses-table tr.response td.response-col_status").first();
    await status.waitFor({ timeout });
    result.tryStatus = (await status.textContent()).trim();
  } catch (e) {
    errors.push(String(e));
  } finally {
    process.stdout.write(JSON.stringify(result) + "\n");
    await context.close();
  }
}

run().catch((e) => {
  process.stdout.write(JSON.stringify({ errors: [String(e)] }) + "\n");
  process.exit(1);
});
