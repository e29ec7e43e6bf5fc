// Inbound calls end to end: carrier webhooks posted to a real engine's public listener (with
// signature checks off, `--insecure-skip-webhook-signatures`) show up on the open Calls page
// through the event stream, without a reload: an answered call with its agent, a refused one
// with its reason, then the answered call's completion with its duration and recording.
import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";
import { after, before, test } from "node:test";
import { api, launchBrowser, startEngine, token, openPage } from "./harness.mjs";

const shots = "/tmp/ui-shots";
const ACCOUNT = "AC0123456789abcdef0123456789abcdef";
const ANSWERED_SID = "CA0123456789abcdef0123456789abcdef";
const REJECTED_SID = "CAfedcba9876543210fedcba9876543210";
const CALLER = "+14158675309";
const MANAGED = "+14155552671";
const UNMANAGED = "+14155550000";
const RECORDING = "https://api.twilio.com/2010-04-01/Accounts/AC0123/Recordings/RE0123456789abcdef.mp3";

let engine;
let browser;
let page;
let agent;
const errors = [];

before(async () => {
  engine = await startEngine({
    args: ["--insecure-skip-webhook-signatures", "--public-url", "https://sb.example.test"],
  });
  browser = await launchBrowser();
  page = await openPage(browser, 1280, 800, errors);
});

after(async () => {
  await browser?.close();
  await engine?.stop();
});

const main = () => page.locator("main");
/** The call log's row for a call to `to` (numbers are shown in international format). */
const row = (to) => main().locator("table tbody tr", { hasText: to });
/** A row's cells: started, direction, from, to, agent, status, duration. */
const cell = (to, index) => row(to).locator("td").nth(index);

/** Posts a Twilio webhook (form-encoded, unsigned) to the engine's public listener. */
async function twilio(path, params) {
  const res = await fetch(`${engine.public}/webhooks/twilio/${path}`, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams(params).toString(),
  });
  return { status: res.status, body: await res.text() };
}

const voice = (callSid, to) =>
  twilio("voice", {
    AccountSid: ACCOUNT,
    CallSid: callSid,
    CallStatus: "ringing",
    Direction: "inbound",
    From: CALLER,
    To: to,
  });

test("setup: an agent and a Twilio number that sends it inbound calls, through the API", async () => {
  const created = await api(engine.base, "POST", "/api/agents", { name: "Front Desk" });
  assert.equal(created.status, 201);
  agent = created.body;
  const number = await api(engine.base, "POST", "/api/phone-numbers", {
    number: MANAGED,
    carrier: "twilio",
    inbound_agent_id: agent.id,
  });
  assert.equal(number.status, 201);
  assert.equal(number.body.inbound_agent_name, "Front Desk");
});

test("calls to a managed and an unmanaged number appear on the open Calls page without a reload", async () => {
  await page.goto(`${engine.base}/#/calls`);
  await page.getByLabel("Control API token").fill(token);
  await page.getByLabel("Control API token").press("Enter");
  await page.getByRole("heading", { name: "Calls", level: 1 }).waitFor();
  await main().getByText("No calls yet").waitFor();
  await page.getByTestId("engine-status").getByText("Engine connected").waitFor();
  // Survives only as long as the document does: a reload would drop it.
  await page.evaluate(() => {
    window.__sameDocument = true;
  });

  const answered = await voice(ANSWERED_SID, MANAGED);
  assert.equal(answered.status, 200);
  assert.match(answered.body, /<Connect><Stream url="wss:\/\/sb\.example\.test\//, "answered with a media stream");
  const rejected = await voice(REJECTED_SID, UNMANAGED);
  assert.equal(rejected.status, 200);
  assert.match(rejected.body, /<Reject reason="rejected"\s*\/>/, "an unmanaged number's call is rejected");

  await main().getByText("2 calls in the log").waitFor();
  await row("+1 415 555 2671").waitFor();
  assert.equal(await cell("+1 415 555 2671", 1).textContent(), "Inbound");
  assert.equal(await cell("+1 415 555 2671", 2).textContent(), "+1 415 867 5309");
  assert.equal(await cell("+1 415 555 2671", 4).textContent(), "Front Desk");
  assert.match(await cell("+1 415 555 2671", 5).textContent(), /^(Ringing|In progress)$/, "a live status");
  await page.getByTestId("live-calls").getByText("1 live call").waitFor();
  // Unsigned webhooks are accepted only in development mode, and the strip says so.
  await page.getByText("Webhook signatures OFF").waitFor();

  await row("+1 415 555 0000").waitFor();
  assert.equal(await cell("+1 415 555 0000", 1).textContent(), "Inbound");
  assert.equal(await cell("+1 415 555 0000", 4).textContent(), "None", "no agent took it");
  const refused = cell("+1 415 555 0000", 5);
  await refused.getByText("Rejected", { exact: true }).waitFor();
  await refused.getByText("Number not managed", { exact: true }).waitFor();
  assert.equal(await cell("+1 415 555 0000", 6).textContent(), "—", "a refused call has no duration");

  assert.ok(await page.evaluate(() => window.__sameDocument === true), "the page was not reloaded");
});

test("the answered call's completion shows its status, duration and recording", async () => {
  const done = await twilio("status", {
    AccountSid: ACCOUNT,
    CallSid: ANSWERED_SID,
    CallStatus: "completed",
    CallDuration: "42",
    SequenceNumber: "1",
    RecordingUrl: RECORDING,
  });
  assert.equal(done.status, 204);

  const status = cell("+1 415 555 2671", 5);
  await status.getByText("Completed", { exact: true }).waitFor();
  await cell("+1 415 555 2671", 6).getByText("42s", { exact: true }).waitFor();
  await page.getByTestId("live-calls").getByText("0 live calls").waitFor();
  assert.ok(await page.evaluate(() => window.__sameDocument === true), "the page was not reloaded");

  mkdirSync(shots, { recursive: true });
  await page.screenshot({ path: `${shots}/calls-inbound-1280.png` });
  await page.setViewportSize({ width: 1024, height: 700 });
  await page.screenshot({ path: `${shots}/calls-inbound-1024.png` });

  await row("+1 415 555 2671").locator("a").first().click();
  const panel = page.locator("aside.panel");
  await panel.getByRole("heading", { name: "Inbound call" }).waitFor();
  const recording = panel.getByRole("link", { name: "Open recording" });
  await recording.waitFor();
  assert.equal(await recording.getAttribute("href"), RECORDING);
  await panel.getByText("Completed", { exact: true }).waitFor();
  await panel.getByRole("link", { name: "Front Desk" }).waitFor();
  await page.screenshot({ path: `${shots}/calls-inbound-panel-1024.png` });
  await page.keyboard.press("Escape");
  await panel.waitFor({ state: "detached" });

  // The refused call's panel gives the reason after its status.
  await row("+1 415 555 0000").locator("a").first().click();
  await panel.getByText("· Number not managed").waitFor();
  await page.screenshot({ path: `${shots}/calls-inbound-rejected-panel-1024.png` });
  await page.keyboard.press("Escape");
  await panel.waitFor({ state: "detached" });
  assert.deepEqual(errors, [], "no uncaught errors in the page");
});

test("the API's call records match what the page shows", async () => {
  const { status, body } = await api(engine.base, "GET", "/api/calls");
  assert.equal(status, 200);
  assert.equal(body.total, 2);
  const answered = body.items.find((c) => c.carrier_call_id === ANSWERED_SID);
  const rejected = body.items.find((c) => c.carrier_call_id === REJECTED_SID);
  assert.ok(answered && rejected, `both calls are recorded: ${JSON.stringify(body.items)}`);

  assert.equal(answered.direction, "inbound");
  assert.equal(answered.carrier, "twilio");
  assert.equal(answered.from_number, CALLER);
  assert.equal(answered.to_number, MANAGED);
  assert.equal(answered.status, "completed");
  assert.equal(answered.agent_id, agent.id);
  assert.equal(answered.agent_name, "Front Desk");
  assert.equal(answered.duration_secs, 42);
  assert.ok(
    answered.answered_at >= answered.started_at,
    `an answer inferred from CallDuration is never before the start (${answered.answered_at} < ${answered.started_at})`,
  );
  assert.equal(answered.recording_url, RECORDING);
  assert.equal(answered.reject_reason, null);
  assert.ok(answered.ended_at, "the completed call has an end");

  assert.equal(rejected.direction, "inbound");
  assert.equal(rejected.to_number, UNMANAGED);
  assert.equal(rejected.status, "rejected");
  assert.equal(rejected.reject_reason, "unknown_number");
  assert.equal(rejected.agent_id, null);
  assert.equal(rejected.number_id, null);
  assert.equal(rejected.duration_secs, null);

  const numbers = (await api(engine.base, "GET", "/api/phone-numbers")).body;
  assert.equal(numbers.length, 1, "the unmanaged number was not added");
  assert.equal(numbers[0].calls_received, 1, "the managed number counts its call");
});
