// Choosing Retell in the agent form, in headless Chromium against a real engine whose Retell
// API is a small loopback fake (protocols/retell.md: bearer key, create/update/delete of LLMs
// and agents). Creating a Retell agent makes both objects and shows it synced; Retell refusing
// shows the engine's words and leaves nothing at Retell.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { api, launchBrowser, openPage, startEngine, token } from "./harness.mjs";
import { fakeRetell, KEY } from "./retell-fake.mjs";

const PUBLIC = "https://sb.example.test";

let retell;
let engine;
let browser;
let page;
const errors = [];

before(async () => {
  retell = await fakeRetell();
  engine = await startEngine({
    args: ["--retell-api-url", retell.base],
    env: { RETELL_API_KEY: KEY },
  });
  // Set in Settings (not `--public-url`, which would override any later change).
  await api(engine.base, "PUT", "/api/settings", { public_base_url: PUBLIC });
  browser = await launchBrowser();
  page = await openPage(browser, 1024, 700, errors);
  await page.goto(`${engine.base}/`);
  await page.getByLabel("Control API token").fill(token);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.getByRole("heading", { name: "Overview", level: 1 }).waitFor();
  await page.goto(`${engine.base}/#/agents`);
  await page.getByRole("heading", { name: "Agents", level: 1 }).waitFor();
});

after(async () => {
  await browser?.close();
  await engine?.stop();
  retell?.server.close();
  assert.deepEqual(errors, [], "no uncaught errors in the page");
});

const panel = () => page.locator("aside.panel");

test("choosing Retell in the agent form makes its Retell LLM and agent, shown as synced", async () => {
  await page.getByRole("button", { name: "New agent" }).click();
  await panel().getByLabel("Name").fill("Front Desk");
  await panel().getByLabel("System prompt").fill("You answer for Acme Dental.");
  await panel().getByLabel("Greeting").fill("Acme Dental, hello!");
  assert.equal(await panel().getByLabel("Model").count(), 1, "OpenAI's fields show by default");
  await panel()
    .getByLabel(/^Retell/)
    .check();
  assert.equal(await panel().getByLabel("Model").count(), 0, "a Retell agent has no OpenAI model");
  await panel().getByLabel("Retell voice").fill("11labs-Adrian");
  await page.screenshot({ path: process.env.RETELL_SCREENSHOT ?? "/tmp/retell-agent-form.png" });
  await panel().getByRole("button", { name: "Create agent" }).click();
  await panel().getByRole("heading", { name: "Front Desk" }).waitFor();
  await panel().getByTestId("retell-sync").getByText("Synced").waitFor();

  assert.equal(retell.held.llms.length, 1);
  assert.equal(retell.held.llms[0].general_prompt, "You answer for Acme Dental.");
  assert.equal(retell.held.llms[0].begin_message, "Acme Dental, hello!");
  assert.equal(retell.held.agents.length, 1);
  assert.equal(retell.held.agents[0].voice_id, "11labs-Adrian");
  assert.equal(retell.held.agents[0].webhook_url, `${PUBLIC}/webhooks/retell`);
  const { body } = await api(engine.base, "GET", "/api/agents");
  assert.equal(body[0].backend, "retell");
  assert.equal(body[0].retell_agent_id, retell.held.agents[0].agent_id);
  await page.locator("table tbody tr", { hasText: "Front Desk" }).getByText("Synced").waitFor();
});

test("Retell refusing says so in the form and leaves nothing at Retell", async () => {
  await page.getByRole("button", { name: "New agent" }).click();
  await panel().getByLabel("Name").fill("Sales");
  await panel()
    .getByLabel(/^Retell/)
    .check();
  retell.held.failNext = 401;
  await panel().getByRole("button", { name: "Create agent" }).click();
  await panel()
    .getByRole("alert")
    .getByText(/Retell refused the API key/)
    .waitFor();
  assert.equal(retell.held.llms.length, 1, "the new LLM was deleted again; only Front Desk's is left");
  assert.equal(retell.held.agents.length, 1);
  const { body } = await api(engine.base, "GET", "/api/agents");
  assert.deepEqual(
    body.map((a) => a.name),
    ["Front Desk"],
    "no Sales agent was kept",
  );
  assert.deepEqual(retell.held.refused, [], "every request carried the key");
});

test("a new public URL that Retell does not take shows as an old webhook URL until the agent is saved", async () => {
  // A refusal the engine does not retry (an auth error), so exactly this move fails.
  retell.held.failNextUpdate = true;
  await api(engine.base, "PUT", "/api/settings", { public_base_url: "https://moved.example.test" });
  const row = page.locator("table tbody tr", { hasText: "Front Desk" });
  await row.getByText("Old webhook URL").waitFor();
  await row.getByRole("link", { name: "Front Desk" }).click();
  await panel()
    .getByText(/save the agent to move it/)
    .waitFor();
  await panel().getByLabel("Notes").fill("moved");
  await panel().getByRole("button", { name: "Save changes" }).click();
  await panel().getByTestId("retell-sync").getByText("Synced").waitFor();
  assert.equal(retell.held.agents[0].webhook_url, "https://moved.example.test/webhooks/retell");
});
