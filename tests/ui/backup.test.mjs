// Settings → Backup (issue 18, point 5): "Download backup" saves a SQLite database the engine
// made while running; "Restore from file…" refuses a file that is not a backup with the
// engine's reason, and stages a good one, saying it takes effect when Switchboard restarts.
import assert from "node:assert/strict";
import { mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { api, launchBrowser, openPage, startEngine, token } from "./harness.mjs";

const shots = "/tmp/ui-shots";
let engine, browser, page;
const errors = [];

before(async () => {
  engine = await startEngine();
  browser = await launchBrowser();
  page = await openPage(browser, 1280, 900, errors);
});

after(async () => {
  await browser?.close();
  await engine?.stop();
});

test("a backup downloads as a SQLite file; a bad file is refused, a good one waits for a restart", async () => {
  assert.equal((await api(engine.base, "POST", "/api/agents", { name: "Front desk" })).status, 201);
  await page.goto(`${engine.base}/#/settings`);
  await page.getByLabel("Control API token").fill(token);
  await page.getByLabel("Control API token").press("Enter");
  const card = page.locator("section", { has: page.getByRole("heading", { name: "Backup", exact: true }) });
  await card.getByText("A backup holds no credentials").waitFor();

  const [download] = await Promise.all([
    page.waitForEvent("download"),
    card.getByRole("button", { name: "Download backup" }).click(),
  ]);
  assert.match(download.suggestedFilename(), /^switchboard-backup-\d{4}-\d{2}-\d{2}T\d{4}Z\.sqlite$/);
  mkdirSync(shots, { recursive: true });
  const saved = join(shots, download.suggestedFilename());
  await download.saveAs(saved);
  const bytes = readFileSync(saved);
  assert.equal(bytes.subarray(0, 16).toString("latin1"), "SQLite format 3\0", "the download is a SQLite database");

  const picker = card.getByLabel("Backup file to restore");
  await picker.setInputFiles({ name: "leads.csv", mimeType: "text/csv", buffer: Buffer.from("name,phone\n") });
  await card.getByRole("alert").getByText("leads.csv cannot be restored: the file is not a SQLite database").waitFor();
  assert.equal((await api(engine.base, "GET", "/api/backup/status")).body.restore_staged, false, "nothing staged");
  await card.evaluate((c) => c.scrollIntoView());
  await page.screenshot({ path: `${shots}/settings-backup-refused-1280.png` });

  await picker.setInputFiles(saved);
  await card.getByRole("status").getByText("takes effect when Switchboard restarts").first().waitFor();
  assert.equal(await card.getByRole("alert").count(), 0, "the earlier refusal is gone");
  assert.equal((await api(engine.base, "GET", "/api/backup/status")).body.restore_staged, true);
  await card.evaluate((c) => c.scrollIntoView());
  await page.screenshot({ path: `${shots}/settings-backup-staged-1280.png` });

  // A page opened later still says a restore waits.
  await page.reload();
  await card.getByText("A restored backup is waiting.").waitFor();
  assert.deepEqual(errors, []);
});
