// GET /docs in a real headless Chromium: Debian's, at /usr/bin/chromium (scripts/ensure-chromium.sh);
// Playwright never downloads one. Swagger UI renders every operation of GET /openapi.json,
// "Try it out" calls the API on this origin, nothing is requested from another host, the
// console shows no error (CSP violations included), a first visit is at most 0.5 MB on the
// wire (the files compressed as Chromium accepts), and a full-page screenshot is kept.
//
//   ROTA_BASE_URL=http://127.0.0.1:3000 node --test tests/browser/docs.test.mjs
//
// scripts/docs-check.sh starts a stack when ROTA_BASE_URL is unset, then runs this.
// DOCS_SCREENSHOT names the screenshot (default .local/docs.png, from the working directory).

import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { chromium } from "playwright-core";

const BASE = (process.env.ROTA_BASE_URL ?? "").replace(/\/+$/, "");
const SCREENSHOT = path.resolve(process.env.DOCS_SCREENSHOT || ".local/docs.png");
const CHROMIUM = "/usr/bin/chromium";
const METHODS = ["get", "put", "post", "delete", "options", "head", "patch", "trace"];
// How long Swagger UI may take to fetch, parse and render the document (a 1.7 MB script on a
// debug build's gateway, a cold start included).
const RENDER_MS = 30_000;

let context;
let page;
let userDataDir;
let doc;
const requests = [];
// Requests that finished, for their sizes on the wire (a first visit: nothing cached yet).
const finished = [];
const consoleErrors = [];
// A first visit's budget on the wire (headers and bodies as sent: brotli, issue 24).
const FIRST_VISIT_MAX_BYTES = 500_000;

// Every operation of the document: method, path, operationId and tags.
function operations(document) {
  return Object.entries(document.paths).flatMap(([p, item]) =>
    METHODS.filter((m) => item[m]).map((m) => ({
      method: m.toUpperCase(),
      path: p,
      operationId: item[m].operationId,
      tags: item[m].tags ?? [],
    })),
  );
}

before(async () => {
  assert.ok(BASE, "set ROTA_BASE_URL (scripts/docs-check.sh starts a stack and sets it)");
  const answer = await fetch(`${BASE}/openapi.json`);
  assert.equal(answer.status, 200, "GET /openapi.json");
  doc = await answer.json();

  userDataDir = mkdtempSync(path.join(tmpdir(), "rota-docs-chromium-"));
  context = await chromium.launchPersistentContext(userDataDir, {
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
    ],
    viewport: { width: 1280, height: 800 },
  });
  page = context.pages()[0] ?? (await context.newPage());
  page.on("request", (r) => requests.push(r.url()));
  page.on("requestfinished", (r) => finished.push(r));
  page.on("console", (m) => {
    if (m.type() === "error") consoleErrors.push(`console: ${m.text()}`);
  });
  page.on("pageerror", (e) => consoleErrors.push(`page error: ${e.message}`));
  page.on("response", (r) => {
    if (r.status() >= 400) consoleErrors.push(`HTTP ${r.status()} for ${r.url()}`);
  });
  // Caught by the page itself too, in case a violation ever stops reaching the console.
  await page.addInitScript(() => {
    window.__cspViolations = [];
    document.addEventListener("securitypolicyviolation", (e) =>
      window.__cspViolations.push(`${e.violatedDirective} blocked ${e.blockedURI || "inline"}`),
    );
  });
  await page.goto(`${BASE}/docs`, { waitUntil: "load" });
});

after(async () => {
  await context?.close();
  if (userDataDir) rmSync(userDataDir, { recursive: true, force: true });
});

test("the page renders Swagger UI with the document's title", { timeout: RENDER_MS }, async () => {
  assert.equal(await page.title(), "Rota API reference");
  // The document's info.title, as Swagger UI 5 heads the page (its version badges follow).
  const heading = page.locator("#swagger-ui .information-container .info .title").first();
  await heading.waitFor({ timeout: RENDER_MS });
  const text = (await heading.innerText()).trim();
  assert.ok(text.startsWith(doc.info.title), `heading ${JSON.stringify(text)}`);
});

test("every operation of GET /openapi.json is listed", { timeout: RENDER_MS }, async () => {
  const ops = operations(doc);
  assert.ok(ops.length >= 30, `${ops.length} operations in the document`);
  // An operation is shown once under each of its tags (untagged ones under "default").
  const expected = ops.reduce((n, op) => n + Math.max(1, op.tags.length), 0);
  await page.waitForFunction(
    (n) => document.querySelectorAll("#swagger-ui .opblock").length >= n,
    expected,
    { timeout: RENDER_MS },
  );
  const rendered = await page.$$eval("#swagger-ui .opblock", (blocks) =>
    blocks.map((b) => ({
      method: b.querySelector(".opblock-summary-method")?.textContent.trim(),
      path: b.querySelector(".opblock-summary-path")?.getAttribute("data-path"),
      operationId: b.querySelector(".opblock-summary-operation-id")?.textContent.trim(),
    })),
  );
  assert.equal(rendered.length, expected, "rendered operations");
  const key = (o) => `${o.method} ${o.path} ${o.operationId}`;
  const shown = new Set(rendered.map(key));
  for (const op of ops) {
    assert.ok(shown.has(key(op)), `${key(op)} is not rendered`);
  }
});

test("a first visit is at most half a megabyte on the wire", async () => {
  // Once every operation is rendered, the page, its files and the document are all in (and
  // "Try it out" has sent nothing yet).
  const fromServer = finished.filter((r) => new URL(r.url()).protocol.startsWith("http"));
  const paths = fromServer.map((r) => new URL(r.url()).pathname);
  for (const p of ["/docs", "/docs/swagger-ui-bundle.js", "/docs/swagger-ui.css", "/openapi.json"]) {
    assert.ok(paths.includes(p), `${p} was not loaded: ${paths.join(", ")}`);
  }
  let total = 0;
  const lines = [];
  for (const r of fromServer) {
    const sizes = await r.sizes();
    const bytes = sizes.responseHeadersSize + sizes.responseBodySize;
    const encoding = (await r.response())?.headers()["content-encoding"] ?? "identity";
    total += bytes;
    lines.push(`${new URL(r.url()).pathname} ${bytes} (${encoding})`);
    if (new URL(r.url()).pathname.startsWith("/docs")) {
      const png = new URL(r.url()).pathname.endsWith(".png");
      assert.equal(encoding, png ? "identity" : "br", `${r.url()} in Chromium`);
    }
  }
  console.log(`first visit: ${total} bytes on the wire: ${lines.join(", ")}`);
  assert.ok(total <= FIRST_VISIT_MAX_BYTES, `${total} bytes on the wire`);
});

test("Try it out calls the API on this origin", { timeout: RENDER_MS }, async () => {
  const op = page.locator("#operations-Operations-healthLive");
  await op.locator(".opblock-summary").click();
  await op.locator("button.try-out__btn").click();
  await op.locator("button.execute").click();
  const status = op.locator(".live-responses-table .response .response-col_status").first();
  await status.waitFor({ timeout: RENDER_MS });
  assert.equal((await status.innerText()).trim(), "200");
  // Collapse it again, so the screenshot is the plain list.
  await op.locator(".opblock-summary").click();
});

test("no request left the API's host", () => {
  const allowed = new URL(BASE).host;
  assert.ok(requests.length >= 5, `only ${requests.length} requests: ${requests.join(", ")}`);
  const elsewhere = requests.filter((u) => {
    const url = new URL(u);
    // data: URLs are the stylesheet's embedded icons: they never leave the browser.
    return url.protocol !== "data:" && url.host !== allowed;
  });
  assert.deepEqual(elsewhere, [], "requests to another host");
  assert.ok(
    requests.some((u) => new URL(u).pathname === "/openapi.json"),
    "the document was fetched from this origin",
  );
});

test("the console shows no error and the CSP was not violated", async () => {
  const violations = await page.evaluate(() => window.__cspViolations);
  assert.deepEqual(violations, [], "CSP violations");
  assert.deepEqual(consoleErrors, [], "console errors");
});

test("a full-page screenshot is a PNG", { timeout: RENDER_MS }, async () => {
  mkdirSync(path.dirname(SCREENSHOT), { recursive: true });
  rmSync(SCREENSHOT, { force: true });
  await page.screenshot({ path: SCREENSHOT, fullPage: true });
  const png = readFileSync(SCREENSHOT);
  assert.ok(png.length > 10_000, `${png.length} bytes`);
  assert.deepEqual([...png.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  // IHDR: the whole list, much taller than the window.
  const [width, height] = [png.readUInt32BE(16), png.readUInt32BE(20)];
  assert.equal(width, 1280);
  assert.ok(height > 3000, `${width}x${height}: not the whole page`);
  console.log(`screenshot: ${SCREENSHOT} (${width}x${height}, ${png.length} bytes)`);
});
