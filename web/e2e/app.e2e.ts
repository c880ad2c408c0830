// End to end: a real `dec serve` (with a token), the built app in headless Debian Chromium.
// Answers the token dialog the queue page opens (every API read needs the token), fills the New
// experiment form for a short real Redis experiment, submits it, watches it live (an event
// stream with the token in its URL) until it succeeds, checks a figure on the results page against
// the API, opens the served report.html from disk (its charts must draw with no network), compares
// two runs, tries reconcile's dry run, runs axe on every page and saves a screenshot of each page
// to e2e/screenshots/.
//
//   npm --prefix web run e2e        (needs build/dec, web/dist and /usr/bin/chromium)
// DEC_BINARY, CHROMIUM and DEC_E2E_KEEP=1 (keep the data dir) override the defaults.
import AxeBuilder from "@axe-core/playwright";
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, rmSync, createWriteStream, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { chromium, type Page } from "playwright-core";

const here = dirname(fileURLToPath(import.meta.url));
const webDir = resolve(here, "..");
const repo = resolve(webDir, "..");
const decBinary = process.env.DEC_BINARY ?? join(repo, "build", "dec");
const chromiumPath = process.env.CHROMIUM ?? "/usr/bin/chromium";
const screenshots = join(here, "screenshots");
const token = "e2e-token-" + process.pid;

let passed = 0;
let failed = 0;
const failures: string[] = [];

async function step(name: string, body: () => Promise<void>) {
  const started = Date.now();
  try {
    await body();
    passed++;
    console.log(`  ok   ${name} (${((Date.now() - started) / 1000).toFixed(1)} s)`);
  } catch (error) {
    failed++;
    failures.push(name);
    console.log(`  FAIL ${name}: ${(error as Error).stack ?? error}`);
  }
}

function check(condition: unknown, message: string): asserts condition {
  if (!condition) throw new Error(message);
}

function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() => (typeof address === "object" && address ? resolvePort(address.port) : reject(new Error("no port"))));
    });
  });
}

async function waitFor<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const value = await probe();
      if (value !== undefined) return value;
    } catch {
      // not yet
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

// No serious or critical accessibility violation (WCAG 2.x A and AA rules).
async function axe(page: Page, name: string) {
  const result = await new AxeBuilder({ page }).withTags(["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]).analyze();
  const bad = result.violations.filter((v) => v.impact === "serious" || v.impact === "critical");
  check(
    bad.length === 0,
    `axe on ${name}: ${bad.map((v) => `${v.id} (${v.impact}): ${v.help} at ${v.nodes.map((n) => n.target.join(" ")).slice(0, 3).join(", ")}`).join("; ")}`,
  );
}

const shot = (page: Page, name: string) => page.screenshot({ path: join(screenshots, `${name}.png`), fullPage: true });

async function main() {
  check(existsSync(decBinary), `no dec binary at ${decBinary}: build it first (scripts/build)`);
  check(existsSync(join(webDir, "dist", "index.html")), "no web/dist: run npm --prefix web run build");
  check(existsSync(join(webDir, "dist", "report", "report.js")), "no web/dist/report/report.js: run npm --prefix web run build");
  check(existsSync(chromiumPath), `no Chromium at ${chromiumPath} (apt-get install chromium)`);
  mkdirSync(screenshots, { recursive: true });
  const dataDir = mkdtempSync(join(tmpdir(), "dec-web-e2e-"));
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const log = createWriteStream(join(dataDir, "serve.log"));
  const server: ChildProcess = spawn(
    decBinary,
    ["serve", "--listen", `127.0.0.1:${port}`, "--data-dir", dataDir, "--token", token, "--web", join(webDir, "dist")],
    { stdio: ["ignore", "pipe", "pipe"] },
  );
  server.stdout!.pipe(log);
  server.stderr!.pipe(log);
  const api = async (path: string, init: RequestInit = {}) => {
    const response = await fetch(base + path, { ...init, headers: { Authorization: `Bearer ${token}`, ...(init.headers ?? {}) } });
    return response;
  };
  const browser = await chromium.launch({ executablePath: chromiumPath, headless: true, args: ["--no-sandbox", "--disable-dev-shm-usage"] });
  try {
    await waitFor("dec serve to answer", async () => ((await fetch(base + "/api/health")).ok ? true : undefined), 30_000);
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    const page = await context.newPage();
    const consoleErrors: string[] = [];
    page.on("pageerror", (e) => consoleErrors.push(e.message));

    await step("the server hands out the app: index, assets with their types, SPA fallback, API untouched", async () => {
      const index = await fetch(base + "/");
      check(index.ok && (index.headers.get("content-type") ?? "").startsWith("text/html"), `GET / → ${index.status} ${index.headers.get("content-type")}`);
      const html = await index.text();
      const script = /src="(\/assets\/[^"]+\.js)"/.exec(html)?.[1];
      check(script, "index.html names its script");
      const asset = await fetch(base + script);
      check((asset.headers.get("content-type") ?? "").startsWith("text/javascript"), `asset type ${asset.headers.get("content-type")}`);
      const route = await fetch(base + "/experiments/some-id");
      check(route.ok && (await route.text()) === html, "an app route falls back to index.html");
      const missingApi = await fetch(base + "/api/nope");
      check(missingApi.status === 404 && (await missingApi.json()).error, "an unknown API path is a JSON 404");
      const traversal = await fetch(base + "/assets/..%2f..%2f..%2fCMakeLists.txt");
      check(traversal.status === 404 || !(await traversal.text()).includes("cmake_minimum_required"), "no directory traversal");
    });

    await step("queue page (empty) passes axe; the server wants its token for reading too", async () => {
      const unauthorized = await fetch(base + "/api/experiments");
      check(unauthorized.status === 401, `GET /api/experiments without the token → ${unauthorized.status}`);
      await page.goto(base + "/");
      await page.getByRole("heading", { name: "Queue and history" }).waitFor();
      // The first read of the queue is refused: the app asks for the token (dialog), then reads.
      const dialog = page.getByRole("dialog", { name: "Server token" });
      await dialog.waitFor();
      await axe(page, "token dialog");
      await shot(page, "03-token-dialog");
      await dialog.getByLabel("Bearer token").fill(token);
      await dialog.getByRole("button", { name: "Use token" }).click();
      await page.getByText("The queue is empty.").waitFor();
      await axe(page, "queue");
      await shot(page, "01-queue-empty");
    });

    let experimentId = "";
    await step("new experiment: form, field errors, plan, submit", async () => {
      await page.getByRole("link", { name: "New experiment" }).first().click();
      await page.getByRole("heading", { name: "New experiment" }).waitFor();
      await page.getByLabel("Name", { exact: true }).first().fill("e2e-redis");
      const systemName = page.locator("#field-systems_0__name");
      await systemName.fill("redis-p16");
      // Drivers come from GET /api/drivers when the server has it; the form works without.
      const driverSelect = page.locator("select#field-systems_0__driver");
      if (await driverSelect.count()) await driverSelect.selectOption("redis");
      await page.getByRole("button", { name: "Add a system" }).click();
      await page.locator("#field-systems_1__name").fill("redis-p1");
      await page.getByLabel("Message size").fill("256B");
      await page.getByLabel("Producers").fill("1");
      await page.getByLabel("Consumers").fill("1");
      await page.getByLabel("Rate").fill("fast");
      await page.getByLabel("Duration").fill("1s");
      await page.getByLabel("Warm-up").fill("0s");
      await page.getByLabel("Partitions").fill("1");
      await page.getByLabel("Target p99 latency").fill("50ms");
      // The editor shows what the form holds; a pipeline set there shows in the form.
      await page.getByRole("tab", { name: "YAML / JSON" }).click();
      const editor = page.locator("#spec-text");
      const yaml = await editor.inputValue();
      check(yaml.includes("name: redis-p1") && yaml.includes("duration: 1s"), `editor shows the form: ${yaml}`);
      await editor.fill(yaml.replace("name: redis-p16\n    driver: redis", "name: redis-p16\n    driver: redis\n    config:\n      pipeline: 16"));
      await page.getByRole("tab", { name: "Form" }).click();
      await axe(page, "new experiment");
      await shot(page, "02-new-experiment");
      // Submit with a bad rate (the token typed on the queue page is kept): the server says what is wrong.
      await page.getByRole("button", { name: "Submit" }).click();
      const rate = page.getByLabel("Rate");
      await waitFor("the rate field to be marked invalid", async () => ((await rate.getAttribute("aria-invalid")) === "true" ? true : undefined), 10_000);
      const described = (await rate.getAttribute("aria-describedby")) ?? "";
      const errorText = await page.locator(`#${described.split(" ").at(-1)}`).innerText();
      check(/rate/i.test(errorText), `error next to Rate: ${errorText}`);
      check(await page.getByRole("alert").filter({ hasText: "workload.rate" }).count(), "the error is listed at the top");
      await axe(page, "new experiment with errors");
      await shot(page, "04-new-experiment-errors");
      await rate.fill("2000");
      await page.getByRole("button", { name: "Plan" }).click();
      await waitFor(
        "a plan or a 'not available' note",
        async () => ((await page.getByRole("region", { name: "Plan" }).count()) || (await page.getByText("Plan preview is not available").count()) ? true : undefined),
        15_000,
      );
      await shot(page, "05-plan");
      await page.getByRole("button", { name: "Submit" }).click();
      await page.waitForURL(/\/experiments\/[^/]+$/, { timeout: 15_000 });
      experimentId = decodeURIComponent(new URL(page.url()).pathname.split("/").pop()!);
      check(experimentId, "navigated to the new experiment");
    });

    await step("watch it live on the queue page until it succeeds", async () => {
      check(experimentId, "no experiment submitted");
      await page.getByRole("link", { name: "Queue & history" }).click();
      const running = page.getByRole("article", { name: /Running: e2e-redis/ });
      // Short experiments may finish before the page shows them running: best effort.
      try {
        await running.locator("progress").first().waitFor({ timeout: 20_000 });
        await shot(page, "06-queue-running");
        await axe(page, "queue while running");
      } catch {
        console.log("       (the experiment finished before its progress showed)");
      }
      const row = page.getByRole("row").filter({ hasText: experimentId });
      await row.getByText("succeeded", { exact: true }).waitFor({ timeout: 180_000 });
      const state = await (await api(`/api/experiments/${experimentId}`)).json();
      check(state.state === "succeeded", `API says ${state.state}: ${state.error}`);
      // The history's verdict comes from the list's summaries (no results document is loaded).
      await row.getByText("2/2 runs succeeded").waitFor({ timeout: 10_000 });
      await shot(page, "07-queue-history");
    });

    let runIds: string[] = [];
    await step("results page shows the API's figures", async () => {
      const results = await (await api(`/api/experiments/${experimentId}/results`)).json();
      runIds = results.runs.map((r: { run_id: string }) => r.run_id);
      check(runIds.length === 2, `two runs, got ${runIds.length}`);
      await page.getByRole("row").filter({ hasText: experimentId }).getByRole("link", { name: "e2e-redis" }).click();
      await page.getByRole("heading", { name: "Systems side by side" }).waitFor({ timeout: 20_000 });
      for (const run of results.runs) {
        const cell = page.locator(`td[data-metric="consumed_msgs_per_s"][data-run="${run.run_id}"]`);
        const shown = (await cell.innerText()).trim();
        const expected = Math.round(run.throughput.consumed_msgs_per_s).toLocaleString("en-US");
        check(shown === expected, `${run.system} consumed msg/s: page ${shown}, API ${expected}`);
        const delivery = (await page.locator(`td[data-metric="delivery"][data-run="${run.run_id}"]`).innerText()).trim();
        check(delivery.startsWith("ok"), `${run.system} delivery: ${delivery}`);
      }
      await page.locator("figure.chart canvas").first().waitFor();
      check((await page.locator("figure.chart").count()) >= 3, "throughput, p99 and percentile charts");
      // The percentile chart draws each run's curve decoded from its histograms (GET .../percentiles).
      await page.getByRole("img", { name: /every percentile from the latency histograms/ }).waitFor({ timeout: 10_000 });
      for (const link of ["Results JSON", "CSV", "HdrHistogram log", "HTML report"]) {
        const href = await page.getByRole("link", { name: link }).getAttribute("href");
        const response = await fetch(base + href);
        check(response.ok, `${link} (${href}) → ${response.status}`);
      }
      await axe(page, "results");
      await shot(page, "08-results");
    });

    await step("report.html opened from disk draws the web app's table and charts with no network", async () => {
      check(experimentId, "no experiment submitted");
      const response = await api(`/api/experiments/${experimentId}/report.html`);
      check(response.ok, `report.html → ${response.status}`);
      const html = await response.text();
      check(html.includes('<div id="dec-report"></div>') && html.includes('id="dec-results"'), "the report inlines the bundle and its data (web/dist/report/report.js)");
      const file = join(dataDir, `${experimentId}.html`);
      writeFileSync(file, html);
      const offline = await browser.newContext({ viewport: { width: 1280, height: 900 }, offline: true });
      const report = await offline.newPage();
      const requests: string[] = [];
      const errors: string[] = [];
      report.on("request", (r) => {
        if (!/^(file|data|blob):/.test(r.url())) requests.push(r.url());
      });
      report.on("pageerror", (e) => errors.push(e.message));
      await report.goto(pathToFileURL(file).href);
      await report.locator("#dec-report figure.chart canvas").first().waitFor({ timeout: 15_000 });
      const charts = await report.locator("#dec-report figure.chart canvas").count();
      check(charts >= 3, `throughput, p99 and percentile charts drawn, got ${charts} canvases`);
      await report.getByRole("img", { name: /every percentile from the latency histograms/ }).waitFor();
      const results = await (await api(`/api/experiments/${experimentId}/results`)).json();
      for (const run of results.runs) {
        const shown = (await report.locator(`#dec-report td[data-metric="consumed_msgs_per_s"][data-run="${run.run_id}"]`).innerText()).trim();
        check(shown === Math.round(run.throughput.consumed_msgs_per_s).toLocaleString("en-US"), `${run.system} consumed msg/s in the report: ${shown}`);
      }
      check((await report.locator("pre").innerText()).includes("consumed msg/s"), "the text table is kept");
      check(requests.length === 0, `requests left the page: ${requests.join(", ")}`);
      check(errors.length === 0, `errors in the report: ${errors.join("; ")}`);
      await axe(report, "report.html");
      await shot(report, "13-report");
      await offline.close();
    });

    await step("compare two runs from a shareable URL", async () => {
      check(runIds.length === 2, "no runs to compare");
      await page.goto(`${base}/compare?runs=${runIds.map((r) => `${experimentId}:${r}`).join(",")}`);
      await page.getByRole("heading", { name: "Compare runs" }).waitFor();
      await page.locator("table.runs").waitFor({ timeout: 15_000 });
      const headers = await page.locator("table.runs thead th").count();
      check(headers === 3, `figure + 2 runs in the header, got ${headers}`);
      await page.locator("figure.chart canvas").first().waitFor();
      // Unpicking a run updates the URL.
      await page.locator("summary", { hasText: "Pick runs" }).click();
      await page.getByRole("group").filter({ hasText: "e2e-redis" }).getByRole("checkbox").first().uncheck();
      await waitFor("the URL to lose a run", async () => (new URL(page.url()).searchParams.get("runs")?.split(",").length === 1 ? true : undefined), 5000);
      await page.goto(`${base}/compare?runs=${runIds.map((r) => `${experimentId}:${r}`).join(",")}`);
      await page.locator("table.runs").waitFor();
      await axe(page, "compare");
      await shot(page, "09-compare");
    });

    await step("infrastructure: list and reconcile dry run (or a clear 'not available')", async () => {
      await page.getByRole("link", { name: "Infrastructure" }).click();
      await page.getByRole("heading", { name: "Infrastructure", level: 1 }).waitFor();
      await page.getByRole("button", { name: "Dry run" }).click();
      await waitFor(
        "the dry run's answer",
        async () =>
          (await page.getByRole("region", { name: /Dry run/ }).count()) || (await page.getByText("Not available on this server: it has no POST /api/reconcile").count()) ? true : undefined,
        20_000,
      );
      await axe(page, "infrastructure");
      await shot(page, "10-infrastructure");
    });

    await step("phone width: results and new experiment stay usable", async () => {
      const phone = await browser.newContext({ viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true });
      const small = await phone.newPage();
      await small.goto(`${base}/experiments/${experimentId}`);
      // A new browser session: the results are data, so the app asks for the token first.
      const dialog = small.getByRole("dialog", { name: "Server token" });
      await dialog.waitFor();
      await dialog.getByLabel("Bearer token").fill(token);
      await dialog.getByRole("button", { name: "Use token" }).click();
      await small.getByRole("heading", { name: "Systems side by side" }).waitFor({ timeout: 20_000 });
      const overflow = await small.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
      check(overflow <= 1, `the page scrolls sideways by ${overflow}px (tables scroll inside their box)`);
      await axe(small, "results (phone)");
      await shot(small, "11-results-phone");
      await small.goto(`${base}/new`);
      await small.getByRole("heading", { name: "New experiment" }).waitFor();
      await shot(small, "12-new-experiment-phone");
      await phone.close();
    });

    await step("keyboard: skip link and navigation reach the pages", async () => {
      await page.goto(base + "/");
      await page.getByRole("heading", { name: "Queue and history" }).waitFor();
      await page.keyboard.press("Tab");
      check((await page.evaluate(() => document.activeElement?.textContent)) === "Skip to content", "first Tab reaches the skip link");
      for (let i = 0; i < 10 && (await page.evaluate(() => document.activeElement?.textContent)) !== "New experiment"; i++) {
        await page.keyboard.press("Tab");
      }
      await page.keyboard.press("Enter");
      await page.getByRole("heading", { name: "New experiment" }).waitFor({ timeout: 5000 });
    });

    await step("no uncaught errors in the pages", async () => check(consoleErrors.length === 0, consoleErrors.join("; ")));
    await context.close();
  } finally {
    await browser.close();
    await api("/api/shutdown", { method: "POST", body: "" }).catch(() => undefined);
    await new Promise<void>((done) => {
      const timer = setTimeout(() => {
        server.kill("SIGKILL");
        done();
      }, 20_000);
      server.once("exit", () => {
        clearTimeout(timer);
        done();
      });
      if (server.exitCode !== null) done();
    });
    if (process.env.DEC_E2E_KEEP === "1" || failed > 0) console.log(`  data dir and server log kept: ${dataDir}`);
    else rmSync(dataDir, { recursive: true, force: true });
  }
}

main()
  .catch((error) => {
    failed++;
    console.log(`  FAIL setup: ${(error as Error).stack ?? error}`);
  })
  .finally(() => {
    if (failures.length > 0) console.log(`web e2e failed: ${failures.join("; ")}`);
    console.log(`e2e: ${passed} passed, ${failed} failed`);
    process.exitCode = failed > 0 ? 1 : 0;
  });
