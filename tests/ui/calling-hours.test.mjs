// Calling the hours the law allows, in headless Chromium against a real engine: the campaign
// form shows the calling-hours floor and refuses a window wider than it (as typed, and the
// engine's 422 when the floor was narrowed meanwhile), Settings narrows the floor, the leads
// list shows each lead's time zone and whether it waits for its local hours, and the "Call a
// number" dialog asks for answering-machine detection.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { api, launchBrowser, openPage, startEngine, token } from "./harness.mjs";

let engine;
let browser;
let page;
const errors = [];
let closer;
let mainLine;

before(async () => {
  engine = await startEngine();
  browser = await launchBrowser();
  page = await openPage(browser, 1280, 800, errors);
  const post = async (path, body) => {
    const res = await api(engine.base, "POST", path, body);
    assert.equal(res.status, 201, `${path}: ${JSON.stringify(res.body)}`);
    return res.body;
  };
  closer = await post("/api/agents", { name: "Closer", max_concurrent_calls: 4 });
  mainLine = await post("/api/phone-numbers", {
    number: "+14155552671",
    carrier: "twilio",
    label: "Main",
    outbound_agent_id: closer.id,
  });
});

after(async () => {
  await browser?.close();
  await engine?.stop();
  assert.deepEqual(errors, [], "no uncaught errors in the page");
});

const main = () => page.locator("main");
const panel = () => page.locator("aside.panel");
const go = (section) => page.getByRole("navigation", { name: "Sections" }).getByRole("link", { name: section }).click();
const campaigns = async () => (await api(engine.base, "GET", "/api/campaigns")).body;

test("the campaign form shows the floor and refuses a wider window", async () => {
  await page.goto(`${engine.base}/#/campaigns`);
  await page.getByLabel("Control API token").fill(token);
  await page.getByLabel("Control API token").press("Enter");
  await page.getByRole("heading", { name: "Campaigns", level: 1 }).waitFor();
  await page.getByRole("button", { name: "New campaign" }).click();
  await panel().getByRole("heading", { name: "New campaign" }).waitFor();
  await panel().getByLabel("Name").fill("Roofs");
  const floor = panel().getByTestId("calling-floor");
  assert.match(await floor.textContent(), /between 08:00 and 21:00 local time/);
  assert.match(await floor.textContent(), /each lead’s own local time/);

  const create = panel().getByRole("button", { name: "Create campaign" });
  await panel().getByLabel("From", { exact: true }).fill("07:30");
  const refusal = "Calls may start only between 08:00 and 21:00 in the lead’s local time";
  await panel().getByText(refusal).waitFor();
  assert.equal(await panel().getByLabel("From", { exact: true }).getAttribute("aria-invalid"), "true");
  await panel().getByLabel("From", { exact: true }).fill("09:00");
  await panel().getByLabel("Until", { exact: true }).fill("22:00");
  await panel().getByText(refusal).waitFor();
  await panel().locator("#campaign-window").scrollIntoViewIfNeeded();
  await page.screenshot({ path: "/tmp/tz-campaign-floor-1280.png" });
  assert.ok(await create.isDisabled(), "a window wider than the floor cannot be sent");

  // The floor narrowed elsewhere (a script, another window): the form follows the engine's
  // settings event and refuses what the new floor does not allow.
  await panel().getByLabel("Until", { exact: true }).fill("20:30");
  await panel().getByText(refusal).waitFor({ state: "detached" });
  assert.ok(!(await create.isDisabled()), "inside the legal floor");
  const narrowed = await api(engine.base, "PUT", "/api/settings", {
    calling_hours: { start: "09:00", end: "20:00" },
  });
  assert.equal(narrowed.status, 200, JSON.stringify(narrowed.body));
  await panel()
    .getByText(/Calls may start only between 09:00 and 20:00/)
    .waitFor();
  assert.match(await panel().getByTestId("calling-floor").textContent(), /between 09:00 and 20:00/);
  assert.ok(await create.isDisabled());
  assert.deepEqual(await campaigns(), [], "nothing was created");
  await panel().getByLabel("Until", { exact: true }).fill("17:00");
  await create.click();
  await panel().getByRole("heading", { name: "Roofs" }).waitFor();
  const [c] = await campaigns();
  assert.equal(c.settings.window.start, "09:00");
  assert.equal(c.settings.window.end, "17:00");
  await page.keyboard.press("Escape");
});

test("Settings narrows the floor and refuses widening it past the law", async () => {
  await go("Settings");
  const card = main().locator("section", { has: page.getByRole("heading", { name: "Calling hours" }) });
  await card.waitFor();
  assert.equal(await card.getByLabel("From", { exact: true }).inputValue(), "09:00", "the floor set through the API");
  await card.getByLabel("From", { exact: true }).fill("07:00");
  await card.getByText("Not before 08:00, the legal limit.").waitFor();
  assert.ok(await card.getByRole("button", { name: "Save" }).isDisabled());
  await card.getByLabel("From", { exact: true }).fill("08:00");
  await card.getByLabel("Until", { exact: true }).fill("21:00");
  await card.scrollIntoViewIfNeeded();
  await page.screenshot({ path: "/tmp/tz-settings-floor-1280.png" });
  await card.getByRole("button", { name: "Save" }).click();
  await page.getByText("Campaign calls start between 08:00 and 21:00 local time").waitFor();
  const s = (await api(engine.base, "GET", "/api/settings")).body;
  assert.deepEqual(s.calling_hours, { start: "08:00", end: "21:00" });
});

test("the leads list shows each lead's time zone", async () => {
  await go("Campaigns");
  await main().getByRole("link", { name: "Roofs" }).click();
  await panel().getByRole("tab", { name: "Import leads" }).click();
  const csv =
    "name,phone,tz\n" +
    "Dana Chicago,+13125550102,\n" +
    "Idaho Split,+12085550104,\n" +
    "Own Zone,+14155550105,Europe/Paris\n" +
    "Bad Zone,+14155550106,Mars/Base\n";
  await panel().getByRole("button", { name: "Upload a file" }).click();
  await panel()
    .getByLabel("CSV file")
    .setInputFiles({ name: "zones.csv", mimeType: "text/csv", buffer: Buffer.from(csv) });
  // A zone the time zone database does not know rejects its row, saying why.
  const rejected = panel().getByRole("table", { name: "Rejected rows" });
  await rejected.getByText('the time zone "Mars/Base" is not a known time zone').waitFor();
  await panel().getByRole("button", { name: "Import 3 leads" }).click();
  await panel().getByText("3 leads imported.").waitFor();
  await panel()
    .getByRole("tab", { name: /^Leads/ })
    .click();
  const table = panel().getByRole("table", { name: "Leads" });
  const row = (name) => table.locator("tbody tr", { hasText: name });
  const zone = (name) => row(name).getByTestId("lead-zone");
  await row("Dana Chicago").waitFor();
  assert.equal(await zone("Dana Chicago").textContent(), "America/Chicago · by number");
  // The split area code: both its zones, the second counted, all in the title.
  assert.equal(await zone("Idaho Split").textContent(), "America/Boise +1 · by number");
  assert.equal(await zone("Idaho Split").getAttribute("title"), "America/Boise, America/Los_Angeles (from its number)");
  assert.equal(await zone("Own Zone").textContent(), "Europe/Paris", "its own zone, from the list");
  await page.getByText("3 leads imported").waitFor({ state: "detached", timeout: 15_000 });
  await page.screenshot({ path: "/tmp/tz-leads-1280.png" });
  await page.keyboard.press("Escape");
});

test("the call dialog asks for answering-machine detection and sends it", async () => {
  const sent = [];
  page.on("request", (r) => {
    if (r.url().endsWith("/api/calls/outbound") && r.method() === "POST") sent.push(r.postDataJSON());
  });
  await go("Live");
  await main().getByRole("button", { name: "Call a number" }).click();
  const dialog = page.getByRole("dialog", { name: "Call a number" });
  await dialog.getByLabel("Number to call").fill("+14155550100");
  const machines = dialog.getByLabel("Answering machines");
  assert.equal(await machines.inputValue(), "off", "no detection unless asked");
  await machines.selectOption({ label: "Detect, and leave a message" });
  const call = dialog.getByRole("button", { name: "Call", exact: true });
  assert.ok(await call.isDisabled(), "a message to leave must be written");
  await dialog.getByLabel("Message to leave after the beep").fill("Hi, this is Acme about your roof. Call us back.");
  await page.screenshot({ path: "/tmp/tz-call-amd-1280.png" });
  await call.click();
  // No public URL in this engine: its 422 is shown; the request carried the option.
  await dialog.getByTestId("outbound-error").waitFor();
  assert.deepEqual(sent.at(-1).machine_detection, {
    action: "leave_message",
    message: "Hi, this is Acme about your roof. Call us back.",
  });
  assert.equal(sent.at(-1).from_number_id, mainLine.id);
  await machines.selectOption({ label: "Detect, and hang up on a machine" });
  await call.click();
  for (const deadline = Date.now() + 10_000; sent.length < 2 && Date.now() < deadline;) {
    await new Promise((r) => setTimeout(r, 50));
  }
  assert.equal(sent.length, 2);
  assert.deepEqual(sent[1].machine_detection, { action: "hang_up" });
  await dialog.getByRole("button", { name: "Cancel" }).click();
});
