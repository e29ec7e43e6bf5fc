// Campaigns, the outbound test call and the agents' live load, in headless Chromium against a
// real engine. One engine and one page for the file, so the steps build on each other: a
// campaign is created through the UI, refused a start without leads, given leads through the
// engine's import route, changed elsewhere, and deleted. The engine has no carrier
// credentials or public URL here, so placing a call ends in its 422, which the dialog shows.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { api, launchBrowser, openPage, startEngine, token } from "./harness.mjs";

let engine;
let browser;
let page;
const errors = [];
let closer;
let backup;
let mainLine;

before(async () => {
  engine = await startEngine();
  browser = await launchBrowser();
  page = await openPage(browser, 1024, 700, errors);
  const post = async (path, body) => {
    const res = await api(engine.base, "POST", path, body);
    assert.equal(res.status, 201, `${path}: ${JSON.stringify(res.body)}`);
    return res.body;
  };
  closer = await post("/api/agents", { name: "Closer", max_concurrent_calls: 4 });
  backup = await post("/api/agents", { name: "Backup Bot" });
  mainLine = await post("/api/phone-numbers", {
    number: "+14155552671",
    carrier: "twilio",
    label: "Main",
    outbound_agent_id: closer.id,
  });
  await post("/api/phone-numbers", { number: "+14155550123", carrier: "telnyx", label: "Spare" });
});

after(async () => {
  await browser?.close();
  await engine?.stop();
});

const main = () => page.locator("main");
const panel = () => page.locator("aside.panel");
const go = (section) => page.getByRole("navigation", { name: "Sections" }).getByRole("link", { name: section }).click();
const row = (text) => main().locator("table[aria-label=Campaigns] tbody tr", { hasText: text });
const campaigns = async () => (await api(engine.base, "GET", "/api/campaigns")).body;

/** Sends a lead list to the engine's import route directly, as a script would. */
async function importDirect(id, csv, dryRun) {
  const res = await fetch(`${engine.base}/api/campaigns/${id}/leads/import?dry_run=${dryRun}`, {
    method: "POST",
    headers: { authorization: `Bearer ${token}`, "content-type": "text/csv" },
    body: csv,
  });
  const text = await res.text();
  return { status: res.status, body: text === "" ? null : JSON.parse(text) };
}

test("the Campaigns page opens from the sidebar, empty at first", async () => {
  await page.goto(`${engine.base}/#/agents`);
  await page.getByLabel("Control API token").fill(token);
  await page.getByLabel("Control API token").press("Enter");
  await page.getByRole("heading", { name: "Agents", level: 1 }).waitFor();
  await go("Campaigns");
  await page.getByRole("heading", { name: "Campaigns", level: 1 }).waitFor();
  await main().getByText("No campaigns yet").waitFor();
  assert.ok(page.url().endsWith("#/campaigns"), `the route names the page (url ${page.url()})`);
});

test("creating a campaign: settings are checked as typed, and the engine's refusal lands under its field", async () => {
  await page.getByRole("button", { name: "New campaign" }).click();
  await panel().getByRole("heading", { name: "New campaign" }).waitFor();
  const create = panel().getByRole("button", { name: "Create campaign" });

  await panel().getByLabel("Name").fill("Spring offer");
  await panel().getByLabel("Prompt").fill("You are calling {name} about the spring offer.");

  // The pool: both agents, Backup Bot as a backup, and the order changed and changed back.
  await panel().getByLabel("Agent to add to the pool").selectOption({ label: "Closer" });
  await panel().getByRole("button", { name: "Add agent" }).click();
  await panel().getByLabel("Agent to add to the pool").selectOption({ label: "Backup Bot" });
  await panel().getByRole("button", { name: "Add agent" }).click();
  await panel().getByLabel("Role of Backup Bot").selectOption("backup");
  const pool = panel().getByRole("list", { name: "Agents in the pool" }).locator(".pool-name");
  await panel().getByRole("button", { name: "Move Backup Bot up" }).click();
  assert.deepEqual(await pool.allTextContents(), ["Backup Bot", "Closer"]);
  await panel().getByRole("button", { name: "Move Backup Bot down" }).click();
  assert.deepEqual(await pool.allTextContents(), ["Closer", "Backup Bot"]);

  await panel()
    .getByRole("checkbox", { name: /\+1 415 555 2671/ })
    .check();

  // Calls per second: the engine's bounds, checked before anything is sent.
  const cps = panel().getByLabel("Calls per second");
  await cps.fill("0");
  await panel().getByText("Must be between 0.01 and 500.").waitFor();
  assert.equal(await cps.getAttribute("aria-invalid"), "true");
  assert.ok(await create.isDisabled(), "a campaign dialing 0 calls per second cannot be created");
  await cps.fill("2");

  await panel().getByLabel("Friday").uncheck();
  await panel().getByRole("checkbox", { name: "Voicemail" }).check();

  // A time zone the browser does not know is the engine's to judge: its message, under the field.
  const zone = panel().getByLabel("Time zone");
  await zone.fill("Mars/Base");
  await panel().getByText("This computer does not know that time zone").waitFor();
  await create.click();
  await panel().getByText('"Mars/Base" is not a known time zone (use a name such as America/New_York)').waitFor();
  assert.equal(await zone.getAttribute("aria-invalid"), "true", "the field the engine named is marked");
  assert.deepEqual(await campaigns(), [], "nothing was created");

  await zone.fill("America/New_York");
  await panel().getByText("is not a known time zone").waitFor({ state: "detached" });
  await create.click();
  await panel().getByRole("heading", { name: "Spring offer" }).waitFor();
  await row("Spring offer").getByText("Draft").waitFor();

  const [c] = await campaigns();
  assert.equal(c.name, "Spring offer");
  assert.equal(c.status, "draft");
  assert.equal(c.prompt, "You are calling {name} about the spring offer.");
  assert.deepEqual(c.agents, [
    { agent_id: closer.id, primary: true },
    { agent_id: backup.id, primary: false },
  ]);
  assert.deepEqual(c.number_ids, [mainLine.id]);
  assert.equal(c.settings.calls_per_second, 2);
  assert.deepEqual(c.settings.window, {
    start: "09:00",
    end: "17:00",
    time_zone: "America/New_York",
    days: [1, 2, 3, 4],
  });
  assert.deepEqual(c.settings.retry.retry_on, ["busy", "no_answer", "voicemail", "failed"]);
});

test("starting without leads is refused with the engine's reason, which points to the import", async () => {
  await panel().getByRole("button", { name: "Start" }).click();
  await panel()
    .getByTestId("campaign-action-error")
    .getByText(/the campaign has no leads waiting to be called/i)
    .waitFor();
  assert.equal((await campaigns())[0].status, "draft", "the campaign did not start");
  await panel().getByRole("button", { name: "Import leads" }).click();
  await panel().getByRole("tab", { name: "Import leads", selected: true }).waitFor();
});

test("importing leads: a dry run shows what would happen, then the rows are imported", async () => {
  const [c] = await campaigns();
  const probe = await importDirect(c.id, "name,phone\nProbe,+14155550199\n", true);
  assert.notEqual(
    probe.status,
    404,
    `the engine at ${process.env.SWITCHBOARD_BIN ?? "target/debug/switchboard"} must serve ` +
      "POST /api/campaigns/{id}/leads/import, which the Import leads tab sends the file to; " +
      `it answered 404: ${JSON.stringify(probe.body)}`,
  );
  assert.equal(probe.status, 200, `a dry run answers 200: ${JSON.stringify(probe.body)}`);

  await panel().getByRole("button", { name: "Paste rows" }).click();
  await panel()
    .getByLabel("CSV rows")
    .fill(
      [
        "name,phone,email",
        "Ada Lovelace,+14155550100,ada@example.com",
        "Alan Turing,+14155550101,alan@example.com",
        "Grace Hopper,not-a-number,grace@example.com",
        "Ada Again,+14155550100,ada2@example.com",
        "Edsger Dijkstra,+14155550102,",
      ].join("\n"),
    );
  await panel().getByRole("button", { name: "Check rows" }).click();
  await panel().getByTestId("import-count").getByText("3").waitFor();
  assert.equal(await panel().getByTestId("import-rejected").textContent(), "1");
  assert.equal(await panel().getByTestId("import-duplicates").textContent(), "1");
  assert.equal(await panel().getByTestId("import-total").textContent(), "5");
  await panel().getByRole("table", { name: "Rejected rows" }).getByText("Grace Hopper,not-a-number").waitFor();
  await panel().getByRole("table", { name: "Duplicate rows" }).getByText("Line 2").waitFor();
  assert.equal((await campaigns())[0].progress.leads.total, 0, "a dry run stores nothing");

  await panel().getByRole("button", { name: "Import 3 leads" }).click();
  await panel().getByText("3 leads imported.").waitFor();
  await panel().getByRole("tab", { name: "Leads (3)" }).click();
  await panel().getByRole("table", { name: "Leads" }).getByText("Ada Lovelace").waitFor();
  await panel().getByRole("table", { name: "Leads" }).getByText("ada@example.com").waitFor();
  const leads = (await api(engine.base, "GET", `/api/campaigns/${c.id}/leads`)).body;
  assert.equal(leads.total, 3);
  await panel().getByRole("tab", { name: "Import leads" }).click();
});

test("the import preview shows the engine's answer, then sends the same file for real (answer stubbed)", async () => {
  const sent = [];
  const preview = {
    imported: 2,
    rejected: [{ line: 3, reason: 'phone: "12" is not a phone number', raw: "Bob,12,bob@example.com" }],
    duplicates: [
      { line: 4, phone: "+14155550100", first_line: 2 },
      { line: 5, phone: "+14155550177", first_line: null },
    ],
    total_rows: 5,
  };
  await page.route(/\/api\/campaigns\/[^/]+\/leads\/import/, async (route) => {
    const req = route.request();
    const url = new URL(req.url());
    sent.push({ dryRun: url.searchParams.get("dry_run"), type: req.headers()["content-type"], body: req.postData() });
    await route.fulfill({ json: url.searchParams.get("dry_run") === "true" ? preview : { ...preview } });
  });
  try {
    const csv = "name,phone,email\nAda,+14155550100,ada@example.com\nBob,12,bob@example.com\n";
    await panel().getByRole("button", { name: "Upload a file" }).click();
    await panel()
      .getByLabel("CSV file")
      .setInputFiles({ name: "spring-leads.csv", mimeType: "text/csv", buffer: Buffer.from(csv) });
    // Choosing a file runs the dry run at once.
    await panel().getByRole("heading", { name: "Check before importing: spring-leads.csv" }).waitFor();
    assert.equal(await panel().getByTestId("import-count").textContent(), "2");
    assert.equal(await panel().getByTestId("import-rejected").textContent(), "1");
    assert.equal(await panel().getByTestId("import-duplicates").textContent(), "2");
    assert.equal(await panel().getByTestId("import-total").textContent(), "5");
    const rejected = panel().getByRole("table", { name: "Rejected rows" });
    await rejected.getByText('phone: "12" is not a phone number').waitFor();
    await rejected.getByText("Bob,12,bob@example.com").waitFor();
    const dups = panel().getByRole("table", { name: "Duplicate rows" });
    await dups.getByText("Line 2").waitFor();
    await dups.getByText("Already in the campaign").waitFor();
    assert.equal(sent.length, 1);
    assert.equal(sent[0].dryRun, "true", "the first request is a dry run");
    assert.match(sent[0].type, /^text\/csv/, "the file goes as text/csv");
    assert.equal(sent[0].body, csv, "the file is sent as it is");

    await panel().getByRole("button", { name: "Import 2 leads" }).click();
    await panel().getByText("2 leads imported.").waitFor();
    assert.equal(sent.length, 2);
    assert.equal(sent[1].dryRun, "false", "confirming imports for real");
    assert.equal(sent[1].body, csv, "the same body as the dry run");
  } finally {
    await page.unrouteAll();
  }
});

test("a campaign changed through the API is updated in the list and the open panel", async () => {
  const [c] = await campaigns();
  const res = await api(engine.base, "PUT", `/api/campaigns/${c.id}`, { name: "Spring offer (EU)" });
  assert.equal(res.status, 200);
  await row("Spring offer (EU)").waitFor();
  await panel().getByRole("heading", { name: "Spring offer (EU)" }).waitFor();
  await panel().getByRole("tab", { name: "Settings" }).click();
  assert.equal(await panel().getByLabel("Name").inputValue(), "Spring offer (EU)", "the untouched field follows");
});

test("live progress and a pause by the dialer arrive through the event stream", async () => {
  // A second page whose event socket also carries events made up here, as the dialer would
  // send them while it works (this engine has no carrier to dial through).
  const [c] = await campaigns();
  const watcher = await openPage(browser, 1024, 700, errors);
  let send;
  await watcher.routeWebSocket(/\/api\/events/, (ws) => {
    ws.connectToServer();
    send = (event) => ws.send(JSON.stringify(event));
  });
  // The page lists campaigns on connecting and again once the event socket opens, and asks
  // again if progress arrives while a list is out: made-up progress sent before the last
  // answer would be overwritten by the engine's real one, so wait until no list is loading.
  try {
    await watcher.goto(`${engine.base}/#/campaigns/${c.id}`);
    await watcher.getByLabel("Control API token").fill(token);
    await watcher.getByLabel("Control API token").press("Enter");
    const side = watcher.locator("aside.panel");
    await side.getByRole("heading", { name: c.name }).waitFor();
    await watcher.getByTestId("engine-status").getByText("Engine connected").waitFor();
    await watcher.locator(".table-area[aria-busy=false]").waitFor();
    send({
      type: "campaign_progress",
      progress: {
        campaign_id: c.id,
        leads: { total: 40, pending: 25, dialing: 3, done: 10, failed: 2 },
        active_calls: 3,
        dial_rate: 0.5,
        eta_secs: 3000,
        cost_usd: 1.25,
      },
    });
    await side.getByTestId("count-done").getByText("10").waitFor();
    assert.equal(await side.getByTestId("count-pending").textContent(), "25");
    assert.equal(await side.getByTestId("count-failed").textContent(), "2");
    await side.getByText("12 of 40 called · 2 failed").waitFor();
    await watcher.locator("table[aria-label=Campaigns] tbody tr").getByText("12 of 40 called").waitFor();

    send({
      type: "campaign_paused",
      campaign: { ...c, status: "paused" },
      reason: "Twilio refused the calls: the account is suspended",
    });
    await side.getByRole("alert").getByText("Twilio refused the calls: the account is suspended").waitFor();
    await side.getByRole("button", { name: "Resume" }).waitFor();
    await side.getByRole("button", { name: "Stop" }).waitFor();
    await watcher
      .locator("table[aria-label=Campaigns] tbody tr")
      .getByText("Twilio refused the calls: the account is suspended")
      .waitFor();
  } finally {
    await watcher.close();
  }
});

test("deleting a campaign asks first, then removes it", async () => {
  const res = await api(engine.base, "POST", "/api/campaigns", { name: "Old list" });
  assert.equal(res.status, 201);
  await row("Old list").getByRole("link", { name: "Old list" }).click();
  await panel().getByRole("heading", { name: "Old list" }).waitFor();
  await panel().getByRole("button", { name: "Delete" }).click();
  const dialog = page.getByRole("dialog");
  await dialog.getByText("deleted for good").waitFor();
  await dialog.getByRole("button", { name: "Delete campaign" }).click();
  await dialog.waitFor({ state: "detached" });
  await row("Old list").waitFor({ state: "detached" });
  assert.deepEqual(
    (await campaigns()).map((c) => c.name),
    ["Spring offer (EU)"],
  );
});

/**
 * A campaign that runs without dialing: Closer's pool, the main line, `leads` pending, and a
 * calling window open only on a weekday three days from today, so the dialer (with no carrier
 * to dial through here) waits instead of trying.
 */
async function runningCampaign(name, leads) {
  const created = await api(engine.base, "POST", "/api/campaigns", {
    name,
    agents: [{ agent_id: closer.id, primary: true }],
    number_ids: [mainLine.id],
  });
  assert.equal(created.status, 201, JSON.stringify(created.body));
  const c = created.body;
  const isoToday = ((new Date().getUTCDay() + 6) % 7) + 1;
  const window = { start: "09:00", end: "17:00", time_zone: "UTC", days: [((isoToday + 2) % 7) + 1] };
  const put = await api(engine.base, "PUT", `/api/campaigns/${c.id}`, { settings: { ...c.settings, window } });
  assert.equal(put.status, 200, JSON.stringify(put.body));
  const csv = ["name,phone", ...Array.from({ length: leads }, (_, i) => `Lead ${i},+1415555${1000 + i}`)].join("\n");
  assert.equal((await importDirect(c.id, csv, false)).status, 200);
  const started = await api(engine.base, "POST", `/api/campaigns/${c.id}/start`);
  assert.equal(started.status, 200, JSON.stringify(started.body));
  assert.equal(started.body.status, "running");
  return c;
}

/** Opens a campaign's panel from the list; resolves to its start/pause/stop controls. */
async function openCampaign(name) {
  await row(name).getByRole("link", { name }).click();
  await panel().getByRole("heading", { name }).waitFor();
  return panel().getByRole("region", { name: "Dialing" });
}

const statusOf = async (id) => (await api(engine.base, "GET", `/api/campaigns/${id}`)).body.status;
const focused = (locator) => locator.evaluate((el) => el === document.activeElement);

test("Stop asks first, saying what happens; Escape and Cancel leave the campaign running", async () => {
  const c = await runningCampaign("Evening list", 3);
  try {
    const controls = await openCampaign("Evening list");
    await controls.getByText("Running", { exact: true }).waitFor();
    const stop = controls.getByRole("button", { name: "Stop" });
    const dialog = page.getByRole("dialog", { name: "Stop “Evening list”?" });

    await stop.click();
    await dialog.waitFor();
    await dialog.getByText("3 pending leads").waitFor();
    // What the engine does (engine/src/campaigns): no new dial; calls under way end by themselves.
    await dialog.getByText("No new calls are placed, so the 3 pending leads are not dialed.").waitFor();
    await dialog.getByText("Calls under way are not hung up: they go on until they end").waitFor();
    await dialog.getByText("cannot be resumed").waitFor();
    assert.ok(await focused(dialog.getByRole("button", { name: "Cancel" })), "the safe choice has the focus");

    await page.keyboard.press("Escape");
    await dialog.waitFor({ state: "detached" });
    assert.ok(await focused(stop), "Escape hands the focus back to Stop");
    assert.ok(await panel().isVisible(), "Escape closed the dialog, not the panel under it");

    await stop.click();
    await dialog.getByRole("button", { name: "Cancel" }).click();
    await dialog.waitFor({ state: "detached" });
    await page.waitForTimeout(300);
    assert.equal(await statusOf(c.id), "running", "Escape and Cancel sent nothing: the campaign still runs");
    await controls.getByText("Running", { exact: true }).waitFor();
  } finally {
    await api(engine.base, "POST", `/api/campaigns/${c.id}/stop`);
    await api(engine.base, "DELETE", `/api/campaigns/${c.id}`);
  }
});

test("confirming Stop stops the campaign in the engine; Start is offered, not Resume", async () => {
  const c = await runningCampaign("Night list", 2);
  try {
    const controls = await openCampaign("Night list");
    await controls.getByRole("button", { name: "Stop" }).click();
    const dialog = page.getByRole("dialog", { name: "Stop “Night list”?" });
    await dialog.getByText("2 pending leads").waitFor();
    await dialog.getByRole("button", { name: "Stop campaign" }).click();
    await dialog.waitFor({ state: "detached" });
    await controls.getByText("Stopped", { exact: true }).waitFor();
    assert.equal(await statusOf(c.id), "stopped", "the engine stopped the campaign");
    const start = controls.getByRole("button", { name: "Start" });
    await start.waitFor();
    assert.equal(await controls.getByRole("button", { name: "Resume" }).count(), 0, "a stopped campaign has no Resume");
    assert.equal(await controls.getByRole("button", { name: "Stop" }).count(), 0);
    await page.waitForFunction(() => document.activeElement?.textContent?.trim() === "Start");
    assert.ok(await focused(start), "the keyboard stays in the controls: Start has the focus");
    const leads = (await api(engine.base, "GET", `/api/campaigns/${c.id}/leads?status=pending`)).body;
    assert.equal(leads.total, 2, "stopping keeps the pending leads (Start would dial them)");
  } finally {
    await api(engine.base, "DELETE", `/api/campaigns/${c.id}`);
  }
});

/**
 * Records, at every change of the page, what the import's progress shows: the percentage on
 * its bar and the words announced, and whether the preview is up. Read with `importTimeline`.
 */
async function recordImport() {
  await page.evaluate(() => {
    const seen = [];
    const look = () => {
      const box = document.querySelector("[data-testid=import-progress]");
      const state = box
        ? {
            pct: Number(box.querySelector("[role=progressbar]")?.getAttribute("aria-valuenow")),
            text: box.querySelector("[role=status]")?.textContent ?? "",
          }
        : { pct: null, text: "", preview: document.querySelector("[aria-label='Import preview']") !== null };
      const last = seen.at(-1);
      if (JSON.stringify(last) !== JSON.stringify(state)) seen.push(state);
    };
    look();
    const observer = new MutationObserver(look);
    observer.observe(document.body, { subtree: true, childList: true, attributes: true, characterData: true });
    window.importTimeline = () => {
      observer.disconnect();
      return seen;
    };
  });
}
const importTimeline = () => page.evaluate(() => window.importTimeline());

test("a 100,000-row import shows its upload's progress, then processing, then the preview and the result", async () => {
  const created = await api(engine.base, "POST", "/api/campaigns", { name: "Big list" });
  assert.equal(created.status, 201);
  const c = created.body;
  const rows = Array.from({ length: 100_000 }, (_, i) => `Lead ${i},+1415${2_000_000 + i},lead${i}@example.com`);
  const csv = Buffer.from(["name,phone,email", ...rows].join("\n") + "\n");
  assert.ok(csv.length > 4_000_000, `several MB (${csv.length} bytes)`);
  // Loopback takes megabytes in an instant: the upload is throttled to about 2 s, as a slow
  // link would be, so its progress can be seen between 0 and 100%.
  const cdp = await page.context().newCDPSession(page);
  await cdp.send("Network.enable");
  const throttle = (bytesPerSec) =>
    cdp.send("Network.emulateNetworkConditions", {
      offline: false,
      latency: 0,
      downloadThroughput: -1,
      uploadThroughput: bytesPerSec,
    });
  try {
    await openCampaign("Big list");
    await panel().getByRole("tab", { name: "Import leads", selected: true }).waitFor();
    await panel().getByRole("button", { name: "Upload a file" }).click();

    await throttle(2 * 1024 * 1024);
    await recordImport();
    await panel().getByLabel("CSV file").setInputFiles({ name: "big-list.csv", mimeType: "text/csv", buffer: csv });
    await panel().getByRole("heading", { name: "Check before importing: big-list.csv" }).waitFor({ timeout: 30_000 });
    await throttle(-1);
    assert.equal(await panel().getByTestId("import-count").textContent(), "100,000");
    assert.equal(await panel().getByTestId("import-total").textContent(), "100,000");

    const seen = await importTimeline();
    const shown = seen.filter((s) => s.pct !== null);
    const pcts = shown.map((s) => s.pct);
    assert.ok(
      pcts.some((p) => p > 0 && p < 100),
      `the upload's progress was shown on its way, not only at its ends: ${JSON.stringify(pcts)}`,
    );
    assert.deepEqual(
      pcts,
      [...pcts].sort((a, b) => a - b),
      "the percentage only grows",
    );
    const processing = shown.findIndex((s) => /processing/.test(s.text));
    assert.ok(processing >= 0, `a processing state was shown: ${JSON.stringify(shown)}`);
    assert.equal(shown[processing].pct, 100, "processing comes once the upload is at 100%");
    assert.ok(
      shown.slice(0, processing).every((s) => /Checking big-list\.csv \(4\.\d MB\): uploading/.test(s.text)),
      `before that, the upload is named with its size: ${JSON.stringify(shown.slice(0, processing))}`,
    );
    assert.ok(seen.at(-1).preview, "then the preview replaced the progress");

    // Importing for real sends the same file again, with the same progress, then the result.
    await recordImport();
    await panel().getByRole("button", { name: "Import 100,000 leads" }).click();
    await panel().getByText("100,000 leads imported.").waitFor({ timeout: 60_000 });
    const again = (await importTimeline()).filter((s) => s.pct !== null);
    assert.ok(
      again.some((s) => s.pct === 100 && s.text === "Importing 100,000 leads: processing…"),
      `the import showed its processing state: ${JSON.stringify(again)}`,
    );
    assert.equal(await panel().getByTestId("import-progress").count(), 0, "the progress is gone with the answer");
    const stored = (await api(engine.base, "GET", `/api/campaigns/${c.id}/leads?limit=1`)).body;
    assert.equal(stored.total, 100_000);
  } finally {
    await cdp.detach();
    await api(engine.base, "DELETE", `/api/campaigns/${c.id}`);
  }
});

test("calling a number from a phone number: checked as typed, and the engine's refusal is shown", async () => {
  await go("Phone Numbers");
  await main().getByRole("link", { name: "+1 415 555 2671" }).click();
  await panel().getByRole("button", { name: "Call a number from this one" }).click();
  const dialog = page.getByRole("dialog", { name: "Call a number" });
  assert.equal(await dialog.getByLabel("Call from").inputValue(), mainLine.id, "the number's own line is chosen");
  assert.equal(
    await dialog.getByLabel("Agent").locator("option:checked").textContent(),
    "The number’s outbound agent (Closer)",
    "the number's outbound agent speaks unless another is chosen",
  );
  const call = dialog.getByRole("button", { name: "Call", exact: true });

  await dialog.getByLabel("Number to call").fill("+1415");
  await dialog.getByText("Too short").waitFor();
  assert.ok(await call.isDisabled(), "a number too short cannot be called");

  await dialog.getByLabel("Number to call").fill("+1 415 555 0100");
  await dialog.getByLabel("Their name").fill("Ada");
  await call.click();
  // No public URL (nor carrier credentials) in this engine: its 422 says so.
  await dialog
    .getByTestId("outbound-error")
    .getByText(/public base URL/i)
    .waitFor();
  await dialog.getByRole("link", { name: "Open Settings" }).waitFor();
  assert.ok(page.url().includes("#/numbers/"), "a refused call stays where it was");
  await dialog.getByRole("button", { name: "Cancel" }).click();
  await dialog.waitFor({ state: "detached" });
  await page.keyboard.press("Escape");
});

test("calling from the Live page: a number without an outbound agent needs one chosen", async () => {
  await go("Live");
  await main().getByRole("button", { name: "Call a number" }).click();
  const dialog = page.getByRole("dialog", { name: "Call a number" });
  await dialog.getByLabel("Number to call").fill("+14155550100");
  await dialog.getByLabel("Call from").selectOption({ label: "+1 415 555 0123 · Spare" });
  await dialog.getByText("This number has no outbound agent").waitFor();
  const call = dialog.getByRole("button", { name: "Call", exact: true });
  assert.ok(await call.isDisabled(), "no agent, no call");
  await dialog.getByLabel("Agent").selectOption({ label: "Backup Bot" });
  assert.ok(await call.isEnabled());
  await call.click();
  await dialog
    .getByTestId("outbound-error")
    .getByText(/public base URL/i)
    .waitFor();
  await page.keyboard.press("Escape");
  await dialog.waitFor({ state: "detached" });
});

test("the Agents page shows each agent's live calls against its maximum", async () => {
  await go("Agents");
  const load = main().getByTestId("agent-load");
  await load.getByText("Live load").waitFor();
  await load.getByRole("progressbar", { name: "Closer: live calls" }).waitFor();
  assert.equal(
    await load.getByRole("progressbar", { name: "Closer: live calls" }).getAttribute("aria-valuetext"),
    "0 of 4 calls",
  );
  await load.getByText("0 / 5").waitFor(); // Backup Bot, the default maximum
});

test("the campaigns page never errored and never scrolled sideways at 1024x700", async () => {
  const [c] = await campaigns();
  for (const route of ["campaigns", "campaigns/new", `campaigns/${c.id}`]) {
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
