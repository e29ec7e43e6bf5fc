// The Overview page against a real engine: calls arrive by Twilio webhook (signature checks
// off, `--insecure-skip-webhook-signatures`), two to a managed number that end with their
// durations, one to an unmanaged number, refused. The page's totals, per-day numbers, outcomes
// and per-agent rows are checked against those calls; the agent filter and the range picker
// against the requests they make. And a campaign's funnel in its detail panel.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { api, launchBrowser, startEngine, token, openPage } from "./harness.mjs";

const ACCOUNT = "AC0123456789abcdef0123456789abcdef";
const CALLER = "+14158675309";
const MANAGED = "+14155552671";
const UNMANAGED = "+14155550000";

let engine;
let browser;
let page;
let agent;
let other;
let number;
const errors = [];
const requests = [];

before(async () => {
  engine = await startEngine({
    args: ["--insecure-skip-webhook-signatures", "--public-url", "https://sb.example.test"],
  });
  browser = await launchBrowser();
  page = await openPage(browser, 1280, 900, errors);
  page.on("request", (r) => {
    const url = new URL(r.url());
    if (url.pathname === "/api/overview") requests.push(url.searchParams);
  });
});

after(async () => {
  await browser?.close();
  await engine?.stop();
  assert.deepEqual(errors, [], "no uncaught errors in the page");
});

const main = () => page.locator("main");
const tile = (label) => main().locator(".overview-tiles > div", { hasText: label }).locator("dd");
const rowsOf = (name) => main().getByRole("table", { name }).locator("tbody tr");

async function twilio(path, params) {
  const res = await fetch(`${engine.public}/webhooks/twilio/${path}`, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({ AccountSid: ACCOUNT, ...params }).toString(),
  });
  return res.status;
}

/** Today in the browser's time zone, as the page counts days. */
const todayInBrowser = () =>
  page.evaluate(() => {
    const d = new Date();
    return `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, "0")}-${String(d.getDate()).padStart(2, "0")}`;
  });

async function lastRequest(check) {
  for (const end = Date.now() + 5_000; Date.now() < end;) {
    const found = requests.findLast(check);
    if (found) return found;
    await new Promise((r) => setTimeout(r, 50));
  }
  assert.fail(`no such overview request: ${requests.map((q) => q.toString()).join(" | ")}`);
}

test("a new install's Overview is the first page, and empty", async () => {
  await page.goto(`${engine.base}/`);
  await page.getByLabel("Control API token").fill(token);
  await page.getByLabel("Control API token").press("Enter");
  await page.getByRole("heading", { name: "Overview", level: 1 }).waitFor();
  const first = page.getByRole("navigation", { name: "Sections" }).getByRole("link").first();
  assert.equal(await first.textContent(), "Overview", "first in the sidebar");
  assert.equal(await first.getAttribute("aria-current"), "page");
  await main().getByRole("heading", { name: "No calls yet" }).waitFor();
});

test("calls through the carrier's webhooks are counted by day, outcome and agent", async () => {
  agent = (await api(engine.base, "POST", "/api/agents", { name: "Front Desk" })).body;
  other = (await api(engine.base, "POST", "/api/agents", { name: "Night Line" })).body;
  number = (
    await api(engine.base, "POST", "/api/phone-numbers", {
      number: MANAGED,
      carrier: "twilio",
      inbound_agent_id: agent.id,
    })
  ).body;
  const sids = ["CA0123456789abcdef0123456789abc001", "CA0123456789abcdef0123456789abc002"];
  for (const [sid, secs] of [
    [sids[0], "42"],
    [sids[1], "78"],
  ]) {
    assert.equal(
      await twilio("voice", { CallSid: sid, CallStatus: "ringing", Direction: "inbound", From: CALLER, To: MANAGED }),
      200,
    );
    assert.equal(
      await twilio("status", { CallSid: sid, CallStatus: "completed", CallDuration: secs, SequenceNumber: "1" }),
      204,
    );
  }
  assert.equal(
    await twilio("voice", {
      CallSid: "CA0123456789abcdef0123456789abc003",
      CallStatus: "ringing",
      Direction: "inbound",
      From: CALLER,
      To: UNMANAGED,
    }),
    200,
  );

  // The open page catches up through the event stream.
  await tile("Calls").getByText("3", { exact: true }).waitFor();
  assert.equal(await tile("Total duration").textContent(), "2 min", "42 s + 78 s");
  assert.equal(await tile("Average duration").textContent(), "1:00");
  const log = await api(engine.base, "GET", "/api/calls");
  // Each ended call is costed at the default rates; the tile sums them.
  const cost = log.body.items.reduce((sum, c) => sum + (c.cost_estimate_usd ?? 0), 0);
  assert.ok(cost > 0, "the calls were costed");
  assert.equal(await tile("Cost").textContent(), `$${cost.toFixed(2)}`);
  const answered = log.body.items.filter((c) => c.answered_at !== null).length;
  assert.equal(await tile("Answer rate").textContent(), `${Math.round((answered / 3) * 100)}%`);

  // Today's row of the calls-per-day numbers: three inbound calls.
  const today = await todayInBrowser();
  const perDay = main().getByRole("table", { name: "Calls per day" });
  await main().locator("figure", { hasText: "Calls per day" }).getByText("Numbers").click();
  const todayRow = perDay.locator("tbody tr", { hasText: today });
  assert.deepEqual(await todayRow.locator("td").allTextContents(), ["3", "0", "0"]);
  assert.equal(await rowsOf("Calls per day").count(), 30, "the last 30 days, one row each");

  assert.deepEqual(await rowsOf("Outcomes").first().locator("td").allTextContents(), ["completed", "2", "67%"]);
  assert.deepEqual(await rowsOf("Outcomes").nth(1).locator("td").allTextContents(), ["rejected", "1", "33%"]);
  const agents = rowsOf("Per agent");
  assert.deepEqual(await agents.first().locator("td").nth(0).textContent(), "Front Desk");
  assert.deepEqual(await agents.first().locator("td").nth(1).textContent(), "2");
  assert.deepEqual(await agents.nth(1).locator("td").nth(0).textContent(), "No agent", "the refused call");
  // Canvas charts carry their title and totals for screen readers.
  const calls = main().locator("figure", { hasText: "Calls per day" }).locator("canvas");
  assert.match(await calls.getAttribute("aria-label"), /Calls per day, per day\. Inbound: 3 in all/);
  await page.screenshot({ path: "/tmp/overview-1280.png", fullPage: true });
});

test("the agent filter and the range picker ask for what they show", async () => {
  await main().locator("select.filter-agent").selectOption(other.id);
  await lastRequest((q) => q.get("agent_id") === other.id);
  await tile("Calls").getByText("0", { exact: true }).waitFor();
  await main().getByText("No calls in these days.").waitFor();
  await main().locator("select.filter-agent").selectOption(agent.id);
  await tile("Calls").getByText("2", { exact: true }).waitFor();

  await main().locator("select.filter-range").selectOption("7");
  const today = await todayInBrowser();
  const q = await lastRequest((q) => q.get("to") === today && q.get("agent_id") === agent.id && q.get("from") !== null);
  const from = new Date(`${today}T00:00:00Z`);
  from.setUTCDate(from.getUTCDate() - 6);
  await lastRequest((q) => q.get("from") === from.toISOString().slice(0, 10));
  assert.ok(q.get("tz"), "the browser's time zone is sent");
  await main().locator("figure", { hasText: "Answer rate" }).getByText("Numbers").click();
  await page.waitForFunction(() => document.querySelectorAll('table[aria-label="Answer rate"] tbody tr').length === 7);

  await main().locator("select.filter-range").selectOption("custom");
  await main().locator("input[type=date]").first().fill("2025-01-01");
  await main().locator("input[type=date]").nth(1).fill("2025-01-31");
  await lastRequest((q) => q.get("from") === "2025-01-01" && q.get("to") === "2025-01-31");
  await tile("Calls").getByText("0", { exact: true }).waitFor();
  await main().getByText("No calls in these days.").waitFor();
  await page.setViewportSize({ width: 1024, height: 700 });
  await page.screenshot({ path: "/tmp/overview-custom-1024.png" });
  const [scroll, client] = await page.evaluate(() => [
    document.documentElement.scrollWidth,
    document.documentElement.clientWidth,
  ]);
  assert.ok(scroll <= client, `the window does not scroll sideways (${scroll} > ${client})`);
});

test("a campaign's detail shows its funnel", async () => {
  const created = await api(engine.base, "POST", "/api/campaigns", {
    name: "Spring check-ups",
    agents: [{ agent_id: agent.id, primary: true }],
    number_ids: [number.id],
  });
  assert.equal(created.status, 201, JSON.stringify(created.body));
  const id = created.body.id;
  const panel = page.locator("aside.panel");
  await page.setViewportSize({ width: 1280, height: 900 });
  await page.goto(`${engine.base}/#/campaigns/${id}`);
  await panel.getByTestId("campaign-funnel").getByText("No calls dialed yet.").waitFor();

  // A campaign that has dialed: its numbers as the engine's document shapes them.
  const funnel = { dialed: 68, answered: 20, voicemail: 6, completed: 14, goal_met: 9, analyzed: 12 };
  await page.route(`**/api/campaigns/${id}/funnel`, (route) => route.fulfill({ json: funnel }));
  await page.reload();
  const shown = panel.getByTestId("campaign-funnel");
  await shown.locator('[data-step="dialed"] .funnel-count').getByText("68").waitFor();
  for (const [step, n] of Object.entries(funnel)) {
    if (step === "analyzed") continue;
    const text = await shown.locator(`[data-step="${step}"] .funnel-count`).textContent();
    assert.ok(text.startsWith(String(n)), `${step}: ${text}`);
  }
  assert.match(
    await shown.locator('[data-step="goal_met"] .funnel-count').textContent(),
    /13% of dialed/,
    "each step's share of the calls dialed is read out",
  );
  await page.screenshot({ path: "/tmp/overview-funnel-1280.png" });
});
