// Post-call analysis in the UI, in headless Chromium: an agent's analysis settings edited in
// its form reach a real engine (a field name the engine would refuse caught in the form first);
// the call log's Summary panel (done: summary, goal, sentiment, custom fields; failed: the
// reason and Retry, which asks the API to run it again) and its goal and sentiment filters,
// over call fixtures shaped by the OpenAPI document's CallPage and CallDetail.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { api, calls, launchBrowser, openPage, startEngine, token } from "./harness.mjs";

let engine;
let browser;
let page;
let agent;
const errors = [];
const requests = [];

const analysed = {
  call_id: "call-01",
  status: "done",
  summary: "The caller moved her appointment to Friday at 10.",
  goal_met: true,
  sentiment: "positive",
  fields: { visit_day: "friday", budget_usd: null, urgent: false },
  error: null,
  attempts: 1,
  next_attempt_at: null,
  analyzed_at: new Date(Date.now() - 120_000).toISOString(),
  model: "gpt-4.1-mini",
};
const failed = {
  ...analysed,
  call_id: "call-02",
  status: "failed",
  summary: null,
  goal_met: null,
  sentiment: null,
  fields: {},
  error: "OpenAI answered 503: fake failure 503 (gave up after 5 attempts)",
  attempts: 5,
  analyzed_at: null,
  model: null,
};
const analyses = { "call-01": analysed, "call-02": failed };

before(async () => {
  engine = await startEngine();
  const created = await api(engine.base, "POST", "/api/agents", { name: "Front Desk" });
  assert.equal(created.status, 201);
  agent = created.body;
  browser = await launchBrowser();
  page = await openPage(browser, 1280, 900, errors);
  await page.route(/\/api\/calls(\?|\/|$)/, async (route) => {
    const url = new URL(route.request().url());
    requests.push(`${route.request().method()} ${url.pathname}${url.search}`);
    const rerun = url.pathname.match(/^\/api\/calls\/([^/]+)\/analysis$/);
    if (rerun && route.request().method() === "POST") {
      analyses[rerun[1]] = { ...analyses[rerun[1]], status: "pending", attempts: 0, error: null };
      return route.fulfill({ status: 202, json: analyses[rerun[1]] });
    }
    const one = url.pathname.match(/^\/api\/calls\/([^/]+)$/);
    if (one) {
      const call = calls.find((c) => c.id === one[1]);
      return route.fulfill({ json: { ...call, transcript: [], transfers: [], analysis: analyses[call.id] ?? null } });
    }
    const q = url.searchParams;
    let items = calls;
    if (q.get("goal_met")) items = items.filter((c) => analyses[c.id]?.goal_met === (q.get("goal_met") === "true"));
    if (q.get("sentiment")) items = items.filter((c) => analyses[c.id]?.sentiment === q.get("sentiment"));
    const limit = Number(q.get("limit") ?? 50);
    const offset = Number(q.get("offset") ?? 0);
    return route.fulfill({
      json: {
        items: items.slice(offset, offset + limit),
        total: items.length,
        limit,
        offset,
        matches: [],
        capped: false,
        summary_matches: [],
      },
    });
  });
  await page.goto(`${engine.base}/#/agents/${agent.id}`);
  await page.getByLabel("Control API token").fill(token);
  await page.getByRole("button", { name: "Sign in" }).click();
  await panel().getByRole("heading", { name: "Front Desk" }).waitFor();
});

after(async () => {
  await browser?.close();
  await engine?.stop();
  assert.deepEqual(errors, [], "no uncaught errors in the page");
});

const panel = () => page.locator("aside.panel");
const main = () => page.locator("main");
const section = () => panel().getByRole("group", { name: "After the call" });
const rows = () => main().locator("table tbody tr");

test("an agent's analysis settings reach the engine; a bad field name is caught in the form", async () => {
  await section().getByLabel("Summarise each answered call", { exact: false }).check();
  await section().getByLabel("Goal").fill("The caller books a visit.");
  await section().getByRole("button", { name: "Add a field" }).click();
  const card = section().getByRole("region", { name: "Analysis field 1" });
  await card.getByLabel("Name").fill("Visit Day");
  await section().getByText("Field 1 (Visit Day): name it in snake_case", { exact: false }).waitFor();
  assert.ok(await panel().getByRole("button", { name: "Save changes" }).isDisabled(), "a bad field is not sent");
  await card.getByLabel("Name").fill("visit_day");
  await card.getByLabel("Type").selectOption("one_of");
  await card.getByLabel("Options").fill("monday, friday");
  await card.getByLabel("What to put there").fill("The day the visit is booked for");
  await page.screenshot({ path: "/tmp/analysis-agent-form-1280.png", fullPage: true });
  await panel().getByRole("button", { name: "Save changes" }).click();
  await panel().getByText("Saved", { exact: true }).waitFor();
  const stored = (await api(engine.base, "GET", `/api/agents/${agent.id}`)).body;
  assert.deepEqual(stored.analysis, {
    enabled: true,
    goal: "The caller books a visit.",
    model: "gpt-4.1-mini",
    fields: [
      {
        name: "visit_day",
        type: "one_of",
        description: "The day the visit is booked for",
        options: ["monday", "friday"],
      },
    ],
  });
});

test("the Summary panel shows a done analysis: summary, goal, sentiment, the custom fields", async () => {
  await page.goto(`${engine.base}/#/calls/call-01`);
  const summary = panel().getByRole("region", { name: "Summary" });
  await summary.getByText("The caller moved her appointment to Friday at 10.").waitFor();
  await summary.getByText("Goal met").waitFor();
  assert.equal(await summary.locator("dt:has-text('Goal met') + dd").innerText(), "Yes");
  assert.equal(await summary.locator("dt:has-text('Sentiment') + dd").innerText(), "Positive");
  assert.equal(await summary.locator("dt:has-text('visit day') + dd").innerText(), "friday");
  assert.equal(await summary.locator("dt:has-text('budget usd') + dd").innerText(), "—");
  assert.equal(await summary.locator("dt:has-text('urgent') + dd").innerText(), "No");
  await page.screenshot({ path: "/tmp/analysis-summary-1280.png" });
});

test("a failed analysis says why, and Retry asks the engine to run it again", async () => {
  await page.goto(`${engine.base}/#/calls/call-02`);
  const summary = panel().getByRole("region", { name: "Summary" });
  await summary.getByText("The analysis failed after 5 attempts: OpenAI answered 503", { exact: false }).waitFor();
  await page.screenshot({ path: "/tmp/analysis-failed-1280.png" });
  await summary.getByRole("button", { name: "Retry" }).click();
  await summary
    .getByText("Queued")
    .waitFor({ timeout: 5_000 })
    .catch(() => {});
  assert.ok(requests.includes("POST /api/calls/call-02/analysis"), `Retry posted the re-run: ${requests.join(" ")}`);
});

test("the goal and sentiment filters ask the API for them", async () => {
  await page.goto(`${engine.base}/#/calls`);
  await main().getByText("30 calls in the log").waitFor();
  await main().getByLabel("Goal").selectOption("true");
  await main().getByText("1 call match").waitFor();
  assert.equal(await rows().count(), 1);
  assert.ok(
    requests.some((r) => r.includes("goal_met=true")),
    requests.join(" "),
  );
  await main().getByLabel("Goal").selectOption("");
  await main().getByLabel("Sentiment").selectOption("negative");
  await main().getByText("No calls match these filters").waitFor();
  assert.ok(
    requests.some((r) => r.includes("sentiment=negative")),
    requests.join(" "),
  );
  await page.screenshot({ path: "/tmp/analysis-filters-1280.png" });
});
