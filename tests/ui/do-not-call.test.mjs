// Do not call end to end in the browser against a real engine: the global list in Settings
// (a number added, a bad one refused under its field, a CSV imported with the row the engine
// refused shown by line, search, remove), a campaign's own list in its panel, and the
// place-call dialog refusing a listed number with the engine's reason.
import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";
import { after, before, test } from "node:test";
import { api, launchBrowser, openPage, startEngine, token } from "./harness.mjs";

const shots = "/tmp/ui-shots";
let engine;
let browser;
let page;
let campaign;
const errors = [];

before(async () => {
  engine = await startEngine();
  browser = await launchBrowser();
  page = await openPage(browser, 1280, 900, errors);
  const post = async (path, body) => {
    const res = await api(engine.base, "POST", path, body);
    assert.equal(res.status, 201, `${path}: ${JSON.stringify(res.body)}`);
    return res.body;
  };
  const closer = await post("/api/agents", { name: "Closer" });
  const line = await post("/api/phone-numbers", {
    number: "+14155552671",
    carrier: "twilio",
    label: "Main",
    outbound_agent_id: closer.id,
  });
  campaign = await post("/api/campaigns", {
    name: "Spring",
    agents: [{ agent_id: closer.id }],
    number_ids: [line.id],
  });
});

after(async () => {
  await browser?.close();
  await engine?.stop();
  assert.deepEqual(errors, [], "no uncaught errors in the page");
});

const card = () =>
  page.locator("section", {
    has: page.getByRole("heading", { name: "Do not call" }),
  });
const table = () => card().getByRole("table", { name: "Do-not-call list" });
const listed = async (query = "") => (await api(engine.base, "GET", `/api/do-not-call${query}`)).body;

test("Settings: a number is added, a bad one refused under its field, nothing else changes", async () => {
  await page.goto(`${engine.base}/#/settings`);
  await page.getByLabel("Control API token").fill(token);
  await page.getByLabel("Control API token").press("Enter");
  await card().getByText("No numbers on this list.").waitFor();

  await card().getByLabel("Add a number").fill("call me");
  await card().getByRole("button", { name: "Add to the list" }).click();
  await card()
    .getByText(/is not a phone number|no country code/)
    .waitFor();
  assert.equal((await listed()).total, 0, "a refused number changes nothing");

  await card().getByLabel("Add a number").fill("+1 415 555 0150");
  await card().getByLabel("Note").fill("asked by letter");
  await card().getByRole("button", { name: "Add to the list" }).click();
  await table().getByText("+14155550150").waitFor();
  await table().getByText("asked by letter").waitFor();
  await table().getByText("By hand").waitFor();
  const page1 = await listed();
  assert.equal(page1.total, 1);
  assert.equal(page1.items[0].source, "manual");
  assert.equal(page1.items[0].campaign_id, null, "Settings adds to the global list");
});

test("Settings: a CSV import reports the row it refused by line; search and remove", async () => {
  const csv = "phone,note\n+14155550151,by email\nnot a number,x\n+14155550150,again\n";
  await card()
    .getByLabel("Import a CSV file")
    .setInputFiles({
      name: "opt-outs.csv",
      mimeType: "text/csv",
      buffer: Buffer.from(csv),
    });
  await card().getByText("1 added · 1 already listed · 1 not imported (of 3 rows)").waitFor();
  const refused = card().getByRole("table", { name: "Rows not imported" });
  assert.equal(await refused.locator("tbody tr td").first().textContent(), "3");
  await table().getByText("+14155550151").waitFor();
  mkdirSync(shots, { recursive: true });
  await card().screenshot({ path: `${shots}/settings-do-not-call-1280.png` });
  assert.equal((await listed()).total, 2);

  await card().getByLabel("Search").fill("0151");
  await page.waitForFunction(
    () => document.querySelectorAll('table[aria-label="Do-not-call list"] tbody tr').length === 1,
  );
  await card().getByRole("button", { name: "Remove +14155550151" }).click();
  await card().getByText("No number matches.").waitFor();
  assert.equal((await listed()).total, 1, "removed in the engine too");
  await card().getByLabel("Search").fill("");
  await table().getByText("+14155550150").waitFor();
});

test("a campaign's panel keeps its own list", async () => {
  await page.goto(`${engine.base}/#/campaigns/${campaign.id}`);
  const panel = page.locator("aside.panel");
  await panel.getByRole("tab", { name: "Do not call" }).click();
  await panel.getByText("No numbers on this list.").waitFor();
  await panel.getByText(/passed by without a call \(0 so far\)/).waitFor();
  await panel.getByLabel("Add a number").fill("+14155550160");
  await panel.getByRole("button", { name: "Add to the list" }).click();
  await panel.getByRole("table", { name: "Campaign do-not-call list" }).getByText("+14155550160").waitFor();
  await panel.screenshot({ path: `${shots}/campaign-do-not-call-1280.png` });
  const theirs = await listed(`?campaign_id=${campaign.id}`);
  assert.equal(theirs.total, 1);
  assert.equal(theirs.items[0].campaign_id, campaign.id);
  assert.equal((await listed()).total, 1, "the global list is unchanged");
  await page.keyboard.press("Escape");
});

test("the place-call dialog refuses a listed number with the engine's reason", async () => {
  await page.goto(`${engine.base}/#/numbers`);
  await page.locator("main").getByRole("link", { name: "+1 415 555 2671" }).click();
  await page.locator("aside.panel").getByRole("button", { name: "Call a number from this one" }).click();
  const dialog = page.getByRole("dialog", { name: "Call a number" });
  await dialog.getByLabel("Number to call").fill("+1 415 555 0150");
  await dialog.getByRole("button", { name: "Call", exact: true }).click();
  const refusal = dialog.getByTestId("outbound-error");
  await refusal.getByText("Not called: the number is on a do-not-call list.").waitFor();
  const text = await refusal.textContent();
  assert.match(text, /\+14155550150 is on the global do-not-call list since \d{4}-\d\d-\d\d \d\d:\d\d UTC/);
  assert.equal(text.match(/not called/gi).length, 1, `said once: ${text}`);
  assert.match(text, /asked by letter/);
  await page.screenshot({ path: `${shots}/place-call-do-not-call-1280.png` });
  const calls = (await api(engine.base, "GET", "/api/calls")).body;
  assert.equal(calls.items.length, 0, "no call was recorded");
});
