// Swagger UI end to end: Debian's chromium (never a downloaded browser), driven by
// playwright-core, against the real binary with endpoint_groups [core, task]. /docs must load
// with no request leaving 127.0.0.1, list exactly the enabled operations under their tags, and
// "Try it out" → "Execute" on /health must answer 200. A screenshot goes to test-output/.
import assert from "node:assert/strict";
import { existsSync, mkdirSync } from "node:fs";
import { join, resolve } from "node:path";
import { after, before, describe, it } from "node:test";

import { chromium, type Browser, type BrowserContext, type Page } from "playwright-core";

import { repoRoot, startServer, type RunningServer } from "../server.js";

const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
export const outputDir = resolve(repoRoot, "clients/ts/test-output");

describe("Swagger UI at /docs", () => {
  let server: RunningServer;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  const requested: string[] = [];
  const blocked: string[] = [];
  const pageErrors: string[] = [];

  before(async () => {
    // No silent skip: CI installs chromium (apt-get install -y chromium), so its absence fails.
    assert.ok(
      existsSync(CHROMIUM),
      `Debian's chromium is not at ${CHROMIUM}: install it with \`apt-get install -y chromium\` ` +
        "(or set CHROMIUM_PATH). This test never downloads a browser.",
    );
    server = await startServer({ extraConfig: "endpoint_groups: [core, task]" });
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
      ], // playwright-core gives chromium a new empty profile of its own (--user-data-dir)
    });
    context = await browser.newContext({ viewport: { width: 1280, height: 1000 } });
    const origin = new URL(server.baseUrl).origin;
    await context.route("**/*", (route) => {
      const url = route.request().url();
      requested.push(url);
      if (new URL(url).origin === origin) return route.continue();
      blocked.push(url);
      return route.abort("blockedbyclient");
    });
    page = await context.newPage();
    page.on("pageerror", (e) => pageErrors.push(String(e)));
  });

  after(async () => {
    await browser?.close();
    await server?.stop();
  });

  it("loads offline and lists exactly the enabled operations by tag", async () => {
    const res = await page.goto(`${server.baseUrl}/docs`, { waitUntil: "load" });
    assert.equal(res?.status(), 200);
    await page.waitForSelector(".opblock", { timeout: 20_000 });

    // Swagger UI gives each operation the id "operations-<tag>-<operationId>".
    const byTag = await page.$$eval(".opblock-tag-section", (sections) =>
      sections.map((s) => ({
        tag: s.querySelector(".opblock-tag")?.getAttribute("data-tag") ?? "",
        ops: Array.from(s.querySelectorAll(".opblock")).map((o) => o.id.replace(/^operations-[^-]+-/, "")),
      })),
    );
    assert.deepEqual(byTag, [
      { tag: "core", ops: ["health", "me"] },
      { tag: "task", ops: ["run_task", "get_task"] },
    ]);

    assert.deepEqual(blocked, [], "requests that tried to leave 127.0.0.1");
    assert.ok(requested.some((u) => u.endsWith("/openapi.json")), `the spec was not fetched: ${requested.join(" ")}`);
    assert.deepEqual(pageErrors, []);

    // The guard itself works: a request to another host from the page is caught and blocked.
    const canary = "http://198.51.100.7/canary";
    const outcome = await page.evaluate((u) => fetch(u).then(() => "reached", () => "failed"), canary);
    assert.equal(outcome, "failed");
    assert.deepEqual(blocked.splice(0), [canary]);
  });

  it('"Try it out" → "Execute" on /health answers 200', async () => {
    const op = page.locator("#operations-core-health");
    await op.locator(".opblock-summary").click();
    await op.getByRole("button", { name: "Try it out" }).click();
    await op.getByRole("button", { name: "Execute" }).click();
    const status = op.locator(".live-responses-table tr.response .response-col_status").first();
    await status.waitFor({ timeout: 10_000 });
    assert.equal((await status.innerText()).trim(), "200");
    const body = await op.locator(".live-responses-table tr.response .response-col_description pre").first().innerText();
    assert.match(body, /"status":\s*"healthy"/);

    mkdirSync(outputDir, { recursive: true });
    await page.screenshot({ path: join(outputDir, "docs.png"), fullPage: true });
    assert.deepEqual(blocked, [], "requests that tried to leave 127.0.0.1");
  });
});
