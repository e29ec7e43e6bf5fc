// An agent's recording in its form, in headless Chromium against a real engine: off, recorded
// by Switchboard, or by the carrier; the choice reaches the engine as `record_calls` and
// `recording_source`, and switching recording off keeps the source chosen last.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { api, launchBrowser, openPage, startEngine, token } from "./harness.mjs";

let engine;
let browser;
let page;
let agent;
const errors = [];

before(async () => {
  engine = await startEngine();
  const created = await api(engine.base, "POST", "/api/agents", { name: "Front desk" });
  assert.equal(created.status, 201);
  agent = created.body;
  browser = await launchBrowser();
  page = await openPage(browser, 1280, 900, errors);
  await page.goto(`${engine.base}/#/agents/${agent.id}`);
  await page.getByLabel("Control API token").fill(token);
  await page.getByRole("button", { name: "Sign in" }).click();
  await panel().getByRole("heading", { name: "Front desk" }).waitFor();
});

after(async () => {
  await browser?.close();
  await engine?.stop();
  assert.deepEqual(errors, [], "no uncaught errors in the page");
});

const panel = () => page.locator("aside.panel");
const recording = () => panel().getByRole("group", { name: "Recording" });
const stored = async () => (await api(engine.base, "GET", `/api/agents/${agent.id}`)).body;
const save = async () => {
  await panel().getByRole("button", { name: "Save changes" }).click();
  await panel().getByText("Saved", { exact: true }).waitFor();
};

test("the carrier's recording is chosen in the form and reaches the engine", async () => {
  assert.ok(await recording().getByLabel("Not recorded").isChecked(), "off by default");
  assert.equal(await recording().getByLabel("Said first").count(), 0, "no disclosure while off");
  await recording().getByLabel("The carrier records the call", { exact: false }).check();
  await recording().getByLabel("Said first").fill("This call is recorded.");
  await recording().scrollIntoViewIfNeeded();
  await page.screenshot({ path: "/tmp/carrec-agent-recording.png" });
  await save();
  let a = await stored();
  assert.deepEqual(
    [a.record_calls, a.recording_source, a.recording_disclosure],
    [true, "carrier", "This call is recorded."],
  );

  await page.reload();
  await panel().getByRole("heading", { name: "Front desk" }).waitFor();
  assert.ok(await recording().getByLabel("The carrier records the call", { exact: false }).isChecked(), "as stored");

  await recording().getByLabel("Not recorded").check();
  await save();
  a = await stored();
  assert.deepEqual([a.record_calls, a.recording_source], [false, "carrier"], "off keeps the source");

  await recording().getByLabel("Switchboard records the call").check();
  await save();
  a = await stored();
  assert.deepEqual([a.record_calls, a.recording_source], [true, "switchboard"]);
});
