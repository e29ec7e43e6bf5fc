// A server without an OS keyring started with --secrets-file (issue 17, point 5): Settings
// says where secrets go, a credential saved in the form lands in the engine's owner-only file
// and is reported as coming from it; tool secrets and webhooks can be added.
import assert from "node:assert/strict";
import { mkdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { launchBrowser, openPage, startEngine, token } from "./harness.mjs";

const shots = "/tmp/ui-shots";
let engine, browser, page;
const errors = [];

before(async () => {
  engine = await startEngine({ env: { SWITCHBOARD_SECRETS_FILE: "true" } });
  browser = await launchBrowser();
  page = await openPage(browser, 1280, 900, errors);
});

after(async () => {
  await browser?.close();
  await engine?.stop();
});

test("credentials saved in Settings go to the secrets file, and say so", async () => {
  await page.goto(`${engine.base}/#/settings`);
  await page.getByLabel("Control API token").fill(token);
  await page.getByLabel("Control API token").press("Enter");
  const card = page.locator("section", { has: page.getByRole("heading", { name: "Credentials" }) });
  await card.getByText("Saved in the engine's secrets file").waitFor();
  assert.equal(await page.getByText("The OS keyring is unavailable").count(), 0);

  const openai = card.getByRole("form", { name: "OpenAI credentials" });
  await openai.getByLabel("API key").fill("sk-from-the-form-123");
  await openai.getByRole("button", { name: "Save" }).click();
  await openai.getByText("from the secrets file").waitFor();
  const file = join(engine.dataDir, "secrets.json");
  assert.match(readFileSync(file, "utf8"), /sk-from-the-form-123/);
  assert.equal(statSync(file).mode & 0o777, 0o600);

  const tools = page.locator("section", { has: page.getByRole("heading", { name: "Tool secrets" }) });
  await tools.getByText("kept in the engine's secrets file").waitFor();
  const hooks = page.locator("section", { has: page.getByRole("heading", { name: "Webhooks to your systems" }) });
  assert.equal(await hooks.getByText("which this machine does not have").count(), 0, "webhooks can be added");
  mkdirSync(shots, { recursive: true });
  await page.getByRole("heading", { name: "Credentials" }).evaluate((h) => h.scrollIntoView());
  await page.screenshot({ path: `${shots}/settings-secrets-file-1280.png` });
  assert.deepEqual(errors, []);
});
