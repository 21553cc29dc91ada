// The console in real Chromium (Debian's /usr/bin/chromium, never a
// downloaded browser), driven by playwright-core.
//
// Needs CLOSEDLOOP_BIN: the built `closedloop` binary. Builds nothing: it
// makes a fresh SQLite demo database in a temporary folder, adds its own
// users, serves it on a free port and drives the browser. Every test fails on
// a console error, an uncaught page error, a failed request or an answer
// >= 400 it did not expect; every step leaves a screenshot in screenshots/.

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, mkdirSync, readFileSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

const HERE = dirname(fileURLToPath(import.meta.url));
const SHOTS = join(HERE, "screenshots");
const BIN = process.env.CLOSEDLOOP_BIN;
const CHROMIUM = process.env.CHROMIUM_PATH || "/usr/bin/chromium";
const PASSWORD = "browser-test-2022";
// Our own users: the demo's get generated passwords.
const USERS = {
  commander: { login: "bt-commander", role: "provincial_commander", region: "220000" },
  investigator: { login: "bt-investigator", role: "investigator", region: "220000" },
  linguist: { login: "bt-linguist", role: "provincial_commander", region: "220000" },
  admin: { login: "bt-admin", role: "admin", region: "220000" },
};

let tmp, dbUrl, server, serverLog = "", base, browser;

function run(args, input) {
  const r = spawnSync(BIN, [...args, "--database-url", dbUrl], {
    input,
    encoding: "utf8",
    timeout: 180_000,
    env: { ...process.env, CLOSEDLOOP_LOG: "warn" },
  });
  if (r.status !== 0) {
    throw new Error(`closedloop ${args.join(" ")} failed (${r.status}): ${r.stderr}\n${r.stdout}`);
  }
  return r.stdout;
}

function freePort() {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.on("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

async function waitForHealth(url, ms) {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    if (server.exitCode !== null) throw new Error(`closedloop serve exited:\n${serverLog}`);
    try {
      const r = await fetch(`${url}/health`);
      if (r.ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`no /health within ${ms} ms:\n${serverLog}`);
}

before(async () => {
  assert.ok(BIN, "set CLOSEDLOOP_BIN to the closedloop binary (tests/browser/run.sh does)");
  rmSync(SHOTS, { recursive: true, force: true });
  mkdirSync(SHOTS, { recursive: true });
  tmp = mkdtempSync(join(tmpdir(), "closedloop-browser-"));
  dbUrl = `sqlite://${join(tmp, "closedloop.db")}`;
  run(["demo", "--no-serve", "--scale", "0.02"]);
  for (const u of Object.values(USERS)) {
    run(["user", "add", "--name", u.login, "--role", u.role, "--region", u.region, "--user-lang", "zh", "--password-stdin"], `${PASSWORD}\n`);
  }
  const port = await freePort();
  base = `http://127.0.0.1:${port}`;
  server = spawn(BIN, ["serve", "--bind", `127.0.0.1:${port}`, "--database-url", dbUrl], {
    env: { ...process.env, CLOSEDLOOP_LOG: "warn", CLOSEDLOOP_LOG_FORMAT: "text" },
    stdio: ["ignore", "pipe", "pipe"],
  });
  server.stdout.on("data", (d) => (serverLog += d));
  server.stderr.on("data", (d) => (serverLog += d));
  await waitForHealth(base, 60_000);
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
});

after(async () => {
  if (browser) await browser.close();
  if (server && server.exitCode === null) {
    server.kill("SIGTERM");
    await new Promise((r) => {
      const t = setTimeout(() => { server.kill("SIGKILL"); r(); }, 10_000);
      server.on("exit", () => { clearTimeout(t); r(); });
    });
  }
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

// A browser page that records every problem; `expect(status, part)` allows
// one answer the test asks for on purpose.
async function session(name, fn) {
  const context = await browser.newContext({ acceptDownloads: true, locale: "zh-CN", viewport: { width: 1440, height: 1000 } });
  const page = await context.newPage();
  const problems = [];
  const allowed = [];
  let step = 0;
  page.on("console", (m) => {
    if (m.type() !== "error") return;
    // Chromium also logs an answer the test expects (`expect`) as a console error.
    const expected = allowed.some((a) => a.status && m.text().includes(`status of ${a.status} `) && m.location().url.includes(a.part));
    if (!expected) problems.push(`console error: ${m.text()}`);
  });
  page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
  page.on("requestfailed", (r) => {
    const ok = allowed.some((a) => a.failure && r.url().includes(a.part));
    if (!ok) problems.push(`request failed: ${r.method()} ${r.url()} ${r.failure()?.errorText}`);
  });
  page.on("response", (r) => {
    if (r.status() >= 400 && !allowed.some((a) => a.status === r.status() && r.url().includes(a.part))) {
      problems.push(`HTTP ${r.status()}: ${r.request().method()} ${r.url()}`);
    }
  });
  const ctx = {
    page,
    context,
    expect(status, part) { allowed.push({ status, part }); },
    // A download aborts the page's navigation request: expected for that URL.
    expectDownload(part) { allowed.push({ failure: true, part }); },
    async shot(label) {
      step += 1;
      await page.screenshot({ path: join(SHOTS, `${name}-${String(step).padStart(2, "0")}-${label}.png`), fullPage: true });
    },
    async signIn(user) {
      await page.goto(`${base}/`);
      await page.waitForURL(/\/login/);
      await ctx.shot("login");
      await page.fill("#login", user.login);
      await page.fill("#password", PASSWORD);
      await Promise.all([page.waitForURL((u) => !u.pathname.startsWith("/login")), page.click(".login-form button[type=submit]")]);
      await ctx.shot("signed-in");
    },
  };
  try {
    await fn(ctx);
  } catch (e) {
    await page.screenshot({ path: join(SHOTS, `${name}-failed.png`), fullPage: true }).catch(() => {});
    throw e;
  } finally {
    await context.close();
  }
  assert.deepEqual(problems, [], `${name}: problems in the browser`);
}

const digits = (s) => Number(String(s).replace(/[^\d]/g, "") || "0");

test("sign in", async () => {
  await session("sign-in", async ({ page, shot, signIn }) => {
    await signIn(USERS.commander);
    assert.equal(new URL(page.url()).pathname, "/");
    await assert.doesNotReject(page.locator(".user-name").waitFor());
    assert.match(await page.locator(".user-role").innerText(), /省级指挥部/);
    // Signing out ends the session: the dashboard asks for a sign-in again.
    await Promise.all([page.waitForURL(/\/login/), page.click(".sign-out button")]);
    await shot("signed-out");
    await page.goto(`${base}/`);
    await page.waitForURL(/\/login/);
  });
});

test("switch language zh → en", async () => {
  await session("language", async ({ page, shot, signIn }) => {
    await signIn(USERS.linguist);
    const navZh = await page.locator("nav.main-nav").innerText();
    assert.match(navZh, /总览/);
    assert.equal(await page.getAttribute("html", "lang"), "zh-CN");
    await Promise.all([page.waitForLoadState("load"), page.waitForURL(`${base}/`), page.click(".lang-switch button[value=en]")]);
    await page.locator("html[lang=en]").waitFor();
    await shot("english");
    const navEn = await page.locator("nav.main-nav").innerText();
    assert.match(navEn, /Dashboard/);
    assert.doesNotMatch(navEn, /总览/);
    assert.match(await page.locator("h1").first().innerText(), /Dashboard/);
    // The choice is the user's: it holds on the next page.
    await page.goto(`${base}/bulletin`);
    assert.equal(await page.getAttribute("html", "lang"), "en");
    assert.match(await page.locator("#bulletin h1").innerText(), /^[\x00-\x7F]+$/, "an English bulletin title");
    await shot("english-bulletin");
    await Promise.all([page.waitForURL(/\/bulletin/), page.click(".lang-switch button[value=zh]")]);
    await page.locator("html[lang=zh-CN]").waitFor();
    await shot("back-to-chinese");
  });
});

test("read the dashboard", async () => {
  await session("dashboard", async ({ page, shot, signIn }) => {
    await signIn(USERS.commander);
    const curve = page.locator("#epi-curve svg[role=img]");
    await curve.waitFor();
    assert.ok((await curve.locator("title").first().textContent()).length > 0, "the curve has a title");
    assert.ok(await curve.locator("desc").count() > 0, "and a description");
    assert.ok(await curve.locator("rect.bar-confirmed, rect.bar-asymptomatic").count() > 0, "the curve has bars");
    // Its table: non-zero figures over the 30 days.
    const cells = await page.locator("#epi-curve table tbody td").allInnerTexts();
    assert.ok(cells.map(digits).reduce((a, b) => a + b, 0) > 0, "the curve's table has cases");
    const funnel = page.locator("#loop-funnel svg[role=img]");
    await funnel.waitFor();
    assert.ok(await funnel.locator("rect.bar").count() > 0);
    assert.ok(digits(await page.locator("#loop-funnel tfoot td").innerText()) > 0, "people in the loop");
    assert.ok(await page.locator("#by-region tbody tr").count() > 0, "the table by region");
    await shot("dashboard");
    // Another day from the table's links.
    const link = page.locator("#epi-curve table tbody a").nth(5);
    const href = await link.getAttribute("href");
    await Promise.all([page.waitForURL((u) => u.search.includes("date=")), link.click()]);
    assert.equal(new URL(page.url()).search, href.slice(1));
    await shot("another-day");
    // The overdue items and leaks it links to.
    await Promise.all([page.waitForURL(/\/loop\/overdue/), page.locator("#loop-funnel a[href^='/loop/overdue']").first().click()]);
    await shot("overdue");
    await page.goBack();
    await Promise.all([page.waitForURL(/\/loop\/leaks/), page.locator("#loop-funnel a[href^='/loop/leaks']").first().click()]);
    await shot("leaks");
  });
});

test("filter and export cases", async () => {
  await session("cases", async ({ page, shot, signIn, expectDownload }) => {
    await signIn(USERS.commander);
    await page.goto(`${base}/cases`);
    await shot("all-cases");
    const all = digits(await page.locator("[data-testid=total]").first().innerText());
    assert.ok(all > 0, "the demo has cases");
    // A city and confirmed cases only.
    const city = await page.locator("#f-region option").nth(1).getAttribute("value");
    await page.selectOption("#f-region", city);
    await page.selectOption("#f-classification", "confirmed");
    await Promise.all([page.waitForURL(/classification=confirmed/), page.click("[data-testid=filter-submit]")]);
    await shot("filtered");
    const total = digits(await page.locator("[data-testid=total]").first().innerText());
    assert.ok(total > 0 && total < all, `the filter narrows (${total} of ${all})`);
    const shown = await page.locator("[data-testid=case-row] td:nth-child(2)").allInnerTexts();
    assert.ok(shown.length > 0);
    for (const c of shown) assert.equal(c.trim(), "确诊病例");
    // The export is exactly what is filtered.
    const exportHref = await page.getAttribute("[data-testid=export-csv]", "href");
    expectDownload("/cases/export");
    const [download] = await Promise.all([page.waitForEvent("download"), page.click("[data-testid=export-csv]")]);
    const file = await download.path();
    const text = readFileSync(file, "utf8").replace(/^\uFEFF/, "");
    const lines = text.split(/\r?\n/).filter((l) => l.length > 0);
    const header = lines[0].split(",");
    const ci = header.indexOf("classification");
    const ri = header.indexOf("reporting_region");
    assert.ok(ci >= 0 && ri >= 0, `columns: ${header}`);
    assert.equal(lines.length - 1, total, `the CSV has every filtered row (${exportHref})`);
    const prefix = city.replace(/0+$/, "");
    for (const line of lines.slice(1)) {
      const cols = line.split(",");
      assert.equal(cols[ci], "confirmed", line);
      assert.ok(cols[ri].startsWith(prefix.slice(0, 4)), `${cols[ri]} in ${city}`);
    }
    await shot("exported");
  });
});

test("open a person", async () => {
  await session("person", async ({ page, shot, signIn }) => {
    await signIn(USERS.commander);
    await page.goto(`${base}/cases`);
    const link = page.locator("[data-testid=case-row] td:nth-child(7) a").first();
    await Promise.all([page.waitForURL(/\/persons\/\d+/), link.click()]);
    await page.locator("h1").first().waitFor();
    assert.ok((await page.locator("h1").first().innerText()).trim().length > 0);
    assert.ok(await page.locator("section, .card").count() > 1, "identity, records…");
    await shot("person");
  });
});

test("perform a transition", async () => {
  await session("transition", async ({ page, shot, signIn }) => {
    await signIn(USERS.investigator);
    // People in the loop: every task (done ones too) links to its person.
    await page.goto(`${base}/loop?status=all`);
    await shot("tasks");
    const people = [...new Set(await page.locator("main a[href^='/persons/']").evaluateAll((as) => as.map((a) => a.getAttribute("href"))))];
    assert.ok(people.length > 0, "tasks link to people");
    // Steps that need no facility, release criteria or test results.
    const simple = ["identified", "notified", "placement_ordered", "transfer_ordered", "in_transfer", "lost"];
    const seen = new Set();
    let done = false;
    let visits = 0;
    for (const href of people) {
      if (done || visits >= 80) break;
      if (seen.has(href)) continue;
      seen.add(href);
      visits += 1;
      await page.goto(`${base}${href}`);
      const forms = page.locator("[data-testid=transition-form]");
      const n = await forms.count();
      for (let i = 0; i < n && !done; i++) {
        const form = forms.nth(i);
        const options = await form.locator("[data-testid=transition-to] option").evaluateAll((os) => os.map((o) => o.value));
        const to = simple.find((s) => options.includes(s));
        if (!to) continue;
        const record = await form.evaluate((f) => f.closest("[data-testid=managed-record]").getAttribute("data-managed-id"));
        await form.locator("[data-testid=transition-to]").selectOption(to);
        await form.locator("[data-testid=transition-reason]").fill("browser test");
        await shot("before");
        await Promise.all([page.waitForLoadState("load"), page.waitForURL(/\/persons\/\d+/), form.locator("[data-testid=transition-submit]").click()]);
        await page.locator("[data-testid=transition-done]").waitFor();
        const state = await page.locator(`[data-managed-id="${record}"] [data-testid=loop-state]`).getAttribute("data-state");
        assert.equal(state, to);
        await shot("after");
        done = true;
      }
    }
    assert.ok(done, "some person in the loop had a simple transition to make");
  });
});

test("see the public bulletin signed out", async () => {
  await session("public", async ({ page, shot }) => {
    await page.goto(`${base}/public/bulletin`);
    assert.equal(new URL(page.url()).pathname, "/public/bulletin", "no sign-in asked");
    assert.match(await page.locator("#bulletin h1").innerText(), /疫情情况通报/);
    assert.match(await page.locator("#bulletin .bulletin-text").innerText(), /0—24时/);
    await page.locator("#public-note").waitFor();
    assert.equal(await page.locator("nav.main-nav").count(), 0, "no navigation");
    assert.equal(await page.locator(".sign-out").count(), 0, "nobody is signed in");
    await shot("public-zh");
    // Another day, then English for an anonymous reader.
    await page.fill("input[name=date]", "2022-03-14");
    await Promise.all([page.waitForURL(/date=2022-03-14/), page.click("form.filters button[type=submit]")]);
    assert.match(await page.locator("#bulletin .bulletin-text").innerText(), /3月14日0—24时/);
    await Promise.all([page.waitForURL(/public\/bulletin/), page.click(".lang-switch button[value=en]")]);
    await page.locator("html[lang=en]").waitFor();
    assert.match(await page.locator("#bulletin .bulletin-text").innerText(), /14 March|March 14/);
    await shot("public-en");
    // Printing hides the header and the form.
    await page.emulateMedia({ media: "print" });
    assert.equal(await page.locator("header.top").isVisible(), false);
    assert.equal(await page.locator("form.filters").isVisible(), false);
    await shot("public-print");
  });
});

test("every loop, bulletin and admin page opens cleanly", async () => {
  await session("pages", async ({ page, shot, signIn }) => {
    await signIn(USERS.commander);
    for (const [path, selector] of [
      ["/loop", "main h1"],
      ["/loop?status=all&overdue=1", "main h1"],
      ["/loop/overdue", "main h1"],
      ["/loop/leaks", "main h1"],
      ["/loop/accountability?from=2022-03-01&to=2022-03-31", "#lapses"],
      ["/bulletin?date=2022-03-14&region=220100", "#bulletin h1"],
    ]) {
      await page.goto(`${base}${path}`);
      await page.locator(selector).first().waitFor();
      await shot(path.replace(/[^a-z0-9]+/gi, "-").replace(/^-|-$/g, ""));
    }
    assert.match(await page.locator("#bulletin .bulletin-text").innerText(), /全市.*南关区/s, "the city's bulletin, by district");
    await page.click(".sign-out button");
    await page.waitForURL(/\/login/);
    await signIn(USERS.admin);
    for (const [path, selector] of [
      ["/admin/users", "#users"],
      ["/admin/tokens", "main h1"],
      ["/admin/audit", "#audit"],
      ["/admin/audit?actor=user%3Abt-commander", "#audit"],
      ["/admin/audit/verify", "#verify-result"],
    ]) {
      await page.goto(`${base}${path}`);
      await page.locator(selector).first().waitFor();
      await shot(path.replace(/[^a-z0-9]+/gi, "-").replace(/^-|-$/g, ""));
    }
    assert.match(await page.locator("#verify-result").innerText(), /完整/);
    // An admin creates a user in the form.
    await page.goto(`${base}/admin/users`);
    await page.fill("#create-user input[name=login]", "bt-new");
    await page.fill("#create-user input[name=display_name]", "新用户");
    await page.selectOption("#create-user select[name=role]", "investigator");
    await page.selectOption("#create-user select[name=region]", "220102");
    await page.fill("#create-user input[name=password]", "new-user-2022");
    await Promise.all([page.waitForURL(/done=created/), page.click("#create-user button[type=submit]")]);
    await page.locator("#user-bt-new").waitFor();
    await shot("user-created");
  });
});

