// Call costs end to end: Settings → Call costs edits a rate, refuses a bad one with the API's
// message, and goes back to the defaults; a call carried by Twilio-shaped webhooks to a real
// engine then shows its estimated cost and breakdown in the call log, and the agent's stats
// show the total.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { api, launchBrowser, openPage, startEngine, token } from "./harness.mjs";

const ACCOUNT = "AC0123456789abcdef0123456789abcdef";
const SID = "CA0123456789abcdef0123456789abc061";
const MANAGED = "+14155552671";

let engine;
let browser;
let page;
const errors = [];

before(async () => {
  engine = await startEngine({
    args: ["--insecure-skip-webhook-signatures", "--public-url", "https://sb.example.test"],
  });
  browser = await launchBrowser();
  page = await openPage(browser, 1280, 1000, errors);
});

after(async () => {
  await browser?.close();
  await engine?.stop();
});

const card = () => page.locator("section", { has: page.getByRole("heading", { name: "Call costs" }) });

async function twilio(path, params) {
  const res = await fetch(`${engine.public}/webhooks/twilio/${path}`, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({ AccountSid: ACCOUNT, CallSid: SID, ...params }).toString(),
  });
  return res.status;
}

test("the rates are edited, a bad one refused, and reset in Settings", async () => {
  await page.goto(`${engine.base}/#/settings`);
  await page.getByLabel("Control API token").fill(token);
  await page.getByLabel("Control API token").press("Enter");
  const usInbound = card().getByLabel("Twilio US inbound");
  await usInbound.waitFor();
  assert.equal(await usInbound.inputValue(), "0.0085", "the published default");
  await card()
    .getByText(/Where the defaults come from/)
    .click();
  await card()
    .getByText(/Estimates, not quotes/)
    .waitFor();
  await page.screenshot({ path: "/tmp/cost-settings.png", fullPage: true });

  await usInbound.fill("0.02");
  await card().getByRole("button", { name: "Save rates" }).click();
  await page.getByText("Call cost rates saved").waitFor();
  const saved = await api(engine.base, "GET", "/api/cost-rates");
  assert.equal(saved.body.rates.carriers.twilio.regions.US.inbound, 0.02);
  assert.equal(saved.body.customized, true);

  await card().getByLabel("OpenAI Realtime per minute").fill("-1");
  await card().getByRole("button", { name: "Save rates" }).click();
  await card()
    .getByRole("alert")
    .getByText(/ai_per_minute: openai_realtime must be from 0 to 10/)
    .waitFor();
  await page.screenshot({ path: "/tmp/cost-settings-refused.png" });
  const unchanged = await api(engine.base, "GET", "/api/cost-rates");
  assert.deepEqual(unchanged.body.rates, saved.body.rates, "a refused table changes nothing");

  await card().getByRole("button", { name: "Reset to defaults" }).click();
  await page.getByText("Call cost rates back to the defaults").waitFor();
  assert.equal(await card().getByLabel("Twilio US inbound").inputValue(), "0.0085");
  assert.equal((await api(engine.base, "GET", "/api/cost-rates")).body.customized, false);
});

test("an ended call shows its cost and breakdown, and the agent's stats the total", async () => {
  const agent = await api(engine.base, "POST", "/api/agents", { name: "Front Desk" });
  const number = await api(engine.base, "POST", "/api/phone-numbers", {
    number: MANAGED,
    carrier: "twilio",
    inbound_agent_id: agent.body.id,
  });
  assert.equal(number.status, 201);
  assert.equal(
    await twilio("voice", { CallStatus: "ringing", Direction: "inbound", From: "+14158675309", To: MANAGED }),
    200,
  );
  assert.equal(await twilio("status", { CallStatus: "completed", CallDuration: "61", SequenceNumber: "2" }), 204);
  const list = await api(engine.base, "GET", "/api/calls");
  const call = list.body.items[0];
  // Defaults: Twilio US inbound $0.0085/min for two started minutes, OpenAI $0.15/min for 61 s.
  assert.equal(call.cost_estimate_usd, 0.1695);

  await page.goto(`${engine.base}/#/calls/${call.id}`);
  const cost = page.locator("dl div", { has: page.getByText("Cost (est.)", { exact: true }) });
  await cost.getByText("$0.170").waitFor();
  await page.screenshot({ path: "/tmp/cost-call-detail.png" });
  await cost.getByText(/carrier \$0\.0170 \(2 min billed at \$0\.0085\/min, US\)/).waitFor();
  await cost.getByText(/AI \$0\.152 \(61 s at \$0\.150\/min\)/).waitFor();
  await page.screenshot({ path: "/tmp/cost-call-detail.png" });

  await page.goto(`${engine.base}/#/agents/${agent.body.id}`);
  const stat = page.locator("dl.stats div", { has: page.getByText("Cost (est.)", { exact: true }) });
  await stat.getByText("$0.170").waitFor();
  await page.screenshot({ path: "/tmp/cost-agent-stats.png" });
  assert.deepEqual(errors, []);
});
