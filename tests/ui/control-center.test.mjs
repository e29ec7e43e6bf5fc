// The control-center UI in headless Chromium against a real engine (`switchboard serve
// --ui-dir ui/dist`): sign-in, agents, numbers, assignments, the context editor, the
// agent-in-use conflict, live events, settings, and the offline state. One engine and one
// page for the whole file, so the steps run in order and build on each other.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { api, launchBrowser, startEngine, token, openPage } from "./harness.mjs";

let engine;
let browser;
let page;
const errors = [];

before(async () => {
  engine = await startEngine();
  browser = await launchBrowser();
  page = await openPage(browser, 1024, 700, errors);
});

after(async () => {
  await browser?.close();
  await engine?.stop();
});

/** The page's main area, where lists and panels live (not the sidebar or status strip). */
const main = () => page.locator("main");
const panel = () => page.locator("aside.panel");
/** Follows a sidebar link. */
const go = (section) => page.getByRole("navigation", { name: "Sections" }).getByRole("link", { name: section }).click();
const row = (text) => main().locator("table tbody tr", { hasText: text });

test("signing in: a wrong token is refused on the sign-in screen, the right one opens the app", async () => {
  await page.goto(`${engine.base}/`);
  await page.getByRole("heading", { name: "Sign in to the engine" }).waitFor();
  await page.getByLabel("Control API token").fill("not-the-token");
  await page.getByLabel("Control API token").press("Enter");
  await page.getByText("The engine did not accept that token").waitFor();

  await page.getByLabel("Control API token").fill(token);
  await page.getByRole("button", { name: "Sign in" }).click();
  // The Overview is the first page, empty on a new install.
  await page.getByRole("heading", { name: "Overview", level: 1 }).waitFor();
  await main().getByText("No calls yet").waitFor();
  await go("Agents");
  await page.getByRole("heading", { name: "Agents", level: 1 }).waitFor();
  await main().getByText("No agents yet").waitFor();
  await page.getByTestId("engine-status").getByText("Engine connected").waitFor();

  // The token is kept: a reload goes straight to the app.
  await page.reload();
  await page.getByRole("heading", { name: "Agents", level: 1 }).waitFor();
});

test("creating an agent from the side panel stores it", async () => {
  await page.getByRole("button", { name: "New agent" }).click();
  await panel().getByRole("heading", { name: "New agent" }).waitFor();
  await panel().getByLabel("System prompt").fill("You answer for Acme Dental.");
  await panel().getByLabel("Name").fill("Front Desk");
  await panel().getByLabel("Name").press("Enter"); // forms submit on Enter
  await panel().getByRole("heading", { name: "Front Desk" }).waitFor();
  await row("Front Desk").waitFor();

  const { body } = await api(engine.base, "GET", "/api/agents");
  assert.equal(body.length, 1, "exactly the agent created in the UI exists");
  assert.equal(body[0].name, "Front Desk");
  assert.equal(body[0].system_prompt, "You answer for Acme Dental.");
});

test("Esc closes the side panel", async () => {
  await page.keyboard.press("Escape");
  await panel().waitFor({ state: "detached" });
  assert.ok(page.url().endsWith("#/agents"), `closing returns to the list (url ${page.url()})`);
});

test("an agent created through the API appears without a reload", async () => {
  const created = await api(engine.base, "POST", "/api/agents", { name: "Sales Outreach", greeting: "Hi!" });
  assert.equal(created.status, 201);
  await row("Sales Outreach").waitFor();
  await api(engine.base, "PUT", `/api/agents/${created.body.id}`, { name: "Sales Team" });
  await row("Sales Team").waitFor();
});

test("adding a number: bad numbers are explained as you type, before any submit", async () => {
  await go("Phone Numbers");
  await main().getByText("No phone numbers yet").waitFor();
  await page.getByRole("button", { name: "Add number" }).click();
  const input = panel().getByLabel("Phone number");
  const submit = panel().getByRole("button", { name: "Add number" });

  await input.fill("555");
  await panel().getByText("Start with + and the country code").waitFor();
  assert.equal(await input.getAttribute("aria-invalid"), "true");
  assert.ok(await submit.isDisabled(), "a national number without a default region cannot be submitted");

  await input.fill("+1415");
  await panel().getByText("Too short").waitFor();
  assert.ok(await submit.isDisabled(), "a too-short number cannot be submitted");

  await input.fill("+1 (415) 555-2671");
  await panel().getByText("saved as +14155552671").waitFor();
  await panel().getByLabel("Label").fill("Main line");
  await panel().getByLabel("Carrier", { exact: true }).selectOption("twilio");
  await panel().getByLabel("Label").press("Enter");

  await panel().getByRole("heading", { name: "+1 415 555 2671" }).waitFor();
  await row("+1 415 555 2671").getByText("Main line").waitFor();
  const { body } = await api(engine.base, "GET", "/api/phone-numbers");
  assert.equal(body.length, 1);
  assert.equal(body[0].number, "+14155552671", "the UI sends the normalised E.164 form");
  assert.equal(body[0].label, "Main line");
  assert.equal(body[0].carrier, "twilio");
});

test("assigning inbound and outbound agents shows their names and is stored", async () => {
  await panel().getByLabel("Inbound agent").selectOption({ label: "Front Desk" });
  await panel().getByLabel("Outbound agent").selectOption({ label: "Sales Team" });
  await panel().getByRole("button", { name: "Save changes" }).click();
  await panel().getByText("Saved", { exact: true }).waitFor();

  const line = row("+1 415 555 2671");
  await line.locator("[data-col=inbound]", { hasText: "Front Desk" }).waitFor();
  await line.locator("[data-col=outbound]", { hasText: "Sales Team" }).waitFor();

  const agents = (await api(engine.base, "GET", "/api/agents")).body;
  const id = (name) => agents.find((a) => a.name === name).id;
  const numbers = (await api(engine.base, "GET", "/api/phone-numbers")).body;
  assert.equal(numbers[0].inbound_agent_id, id("Front Desk"));
  assert.equal(numbers[0].outbound_agent_id, id("Sales Team"));
  assert.equal(numbers[0].inbound_agent_name, "Front Desk");

  // Clearing one side with "None" sends null.
  await panel().getByLabel("Outbound agent").selectOption({ label: "None" });
  await panel().getByRole("button", { name: "Save changes" }).click();
  await line.locator("[data-col=outbound]", { hasText: "None" }).waitFor();
  const cleared = (await api(engine.base, "GET", "/api/phone-numbers")).body[0];
  assert.equal(cleared.outbound_agent_id, null);
  assert.equal(cleared.inbound_agent_id, id("Front Desk"), "the inbound assignment is untouched");
  await page.keyboard.press("Escape");
});

test("the context editor refuses invalid JSON and non-objects, then saves a valid object", async () => {
  await go("Agents");
  await row("Front Desk").getByRole("link", { name: "Front Desk" }).click();
  const context = panel().getByLabel("Context");
  const save = panel().getByRole("button", { name: "Save changes" });

  await context.fill('{"hours": "9-5",}');
  await panel().getByText("Invalid JSON").waitFor();
  assert.ok(await save.isDisabled(), "Save is disabled while the context is not valid JSON");

  await context.fill('["not", "an", "object"]');
  await panel().getByText("Context must be a JSON object ({ … }), not an array.").waitFor();
  assert.ok(await save.isDisabled(), "Save is disabled while the context is not an object");

  await context.fill('{"hours": "Mon-Fri 9-5", "parking": true}');
  await panel().getByText("Valid JSON object with 2 keys.").waitFor();
  assert.ok(await save.isEnabled(), "a valid object can be saved");
  await save.click();
  await panel().getByText("Saved", { exact: true }).waitFor();

  const agents = (await api(engine.base, "GET", "/api/agents")).body;
  const desk = agents.find((a) => a.name === "Front Desk");
  assert.deepEqual(desk.context, { hours: "Mon-Fri 9-5", parking: true });
  assert.equal(desk.system_prompt, "You answer for Acme Dental.", "only the context changed");
});

test("deleting an agent in use shows the conflict, and Delete anyway clears its numbers", async () => {
  await panel().getByRole("button", { name: "Delete" }).click();
  const dialog = page.getByRole("dialog");
  await dialog.getByRole("button", { name: "Delete agent" }).click();
  await dialog.getByText("still handles calls for").waitFor();
  await dialog.getByText("+14155552671").first().waitFor(); // the engine's message names the number
  await dialog.getByRole("button", { name: "Delete anyway" }).click();
  await dialog.waitFor({ state: "detached" });

  await row("Sales Team").waitFor();
  assert.equal(await row("Front Desk").count(), 0, "the deleted agent left the list");
  const agents = (await api(engine.base, "GET", "/api/agents")).body;
  assert.deepEqual(
    agents.map((a) => a.name),
    ["Sales Team"],
  );
  const number = (await api(engine.base, "GET", "/api/phone-numbers")).body[0];
  assert.equal(number.inbound_agent_id, null, "the forced delete cleared the assignment");

  await go("Phone Numbers");
  await row("+1 415 555 2671").locator("[data-col=inbound]", { hasText: "None" }).waitFor();
});

test("settings: the public URL is checked as typed, then the carrier URLs appear with copy buttons", async () => {
  assert.ok(await row("+1 415 555 2671").getByText("Needs public URL").isVisible());
  await go("Settings");
  await main().getByText("Set the public base URL above").waitFor();
  await main().getByText("The OS keyring is unavailable").waitFor();
  await main().getByText("TWILIO_ACCOUNT_SID").waitFor();

  const url = main().getByLabel("Public base URL");
  await url.fill("abc.ngrok.app");
  await main().getByText("Not a URL").waitFor();
  await url.fill("https://abc.ngrok.app/?x=1");
  await main().getByText("Must not have a query").waitFor();
  await url.fill("https://abc.ngrok.app/");
  await url.press("Enter");

  await main().getByText("https://abc.ngrok.app/webhooks/twilio/voice").waitFor();
  await main().getByText("https://abc.ngrok.app/webhooks/telnyx").waitFor();
  await main().getByText("wss://abc.ngrok.app/media/twilio").waitFor();
  await main().getByRole("button", { name: "Copy Twilio voice webhook URL" }).waitFor();
  await page.locator(".status-strip").getByText("https://abc.ngrok.app").waitFor();
  const settings = (await api(engine.base, "GET", "/api/settings")).body;
  assert.equal(settings.public_base_url, "https://abc.ngrok.app");

  // The numbers list now shows each number's webhook URL.
  await go("Phone Numbers");
  await row("+1 415 555 2671").locator("code[title='https://abc.ngrok.app/webhooks/twilio/voice']").waitFor();
});

test("settings: the Telnyx connection id is refused with the engine's reason, then saved", async () => {
  await go("Settings");
  const field = main().getByLabel("Telnyx connection id");
  await field.fill("not valid!");
  await field.press("Enter");
  await main().getByText("must be the connection's id as Telnyx shows it").waitFor();
  assert.equal((await api(engine.base, "GET", "/api/settings")).body.telnyx_connection_id, null);
  await field.fill("1494404757140276705");
  // An earlier test's "Settings saved" may still be showing: wait for a new one.
  const shown = await page.getByText("Settings saved").count();
  await field.press("Enter");
  await page.getByText("Settings saved").nth(shown).waitFor();
  assert.equal((await api(engine.base, "GET", "/api/settings")).body.telnyx_connection_id, "1494404757140276705");
});

test("the call log shows its empty state", async () => {
  await go("Calls");
  await main().getByText("No calls yet").waitFor();
  await page.getByTestId("live-calls").getByText("0 live calls").waitFor();
});

test("the page never errored and never scrolled sideways at 1024x700", async () => {
  for (const route of ["overview", "live", "agents", "numbers", "campaigns", "calls", "settings"]) {
    await page.goto(`${engine.base}/#/${route}`);
    await page.locator(".page").waitFor();
    const [scroll, client] = await page.evaluate(() => [
      document.documentElement.scrollWidth,
      document.documentElement.clientWidth,
    ]);
    assert.ok(scroll <= client, `${route}: the window does not scroll horizontally (${scroll} > ${client})`);
  }
  assert.deepEqual(errors, [], "no uncaught errors in the page");
});

test("when the engine stops, the app says it is offline", async () => {
  await engine.stop();
  await page.getByTestId("engine-status").getByText("Engine offline").waitFor();
});
