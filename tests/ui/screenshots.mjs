// Captures every page of the UI at 1024x700 and 1280x800, with sample data, for a person to
// look at: node tests/ui/screenshots.mjs [out-dir]   (default /tmp/ui-shots; needs ui/dist).
import { mkdirSync } from "node:fs";
import { api, launchBrowser, routeCalls, startEngine, token } from "./harness.mjs";
import {
  ACCOUNT_SID,
  callSid,
  startRealtime,
  startTwilioApi,
  twilioInboundCall,
  twilioMediaStream,
  until,
} from "./live-sims.mjs";

const out = process.argv[2] ?? "/tmp/ui-shots";
mkdirSync(out, { recursive: true });
const engine = await startEngine();
const browser = await launchBrowser();
try {
  const post = async (path, body) => (await api(engine.base, "POST", path, body)).body;
  const put = async (path, body) => (await api(engine.base, "PUT", path, body)).body;
  const desk = await post("/api/agents", {
    name: "Front Desk",
    system_prompt:
      "You are the receptionist of Acme Dental. Book, move and cancel appointments; never give medical advice.",
    greeting: "Thanks for calling Acme Dental, how can I help?",
    notes: "Main inbound agent for the clinic",
    context: { hours: "Mon–Fri 9:00–17:00", address: "12 Market St", parking: true },
  });
  const night = await post("/api/agents", {
    name: "After-hours Support",
    notes: "Takes messages outside opening hours",
    voice: "cedar",
  });
  const sales = await post("/api/agents", {
    name: "Sales Outreach",
    max_concurrent_calls: 20,
    model: "gpt-realtime-mini",
  });
  await put(`/api/agents/${sales.id}`, { active: false });
  const main = await post("/api/phone-numbers", {
    number: "+14155552671",
    carrier: "twilio",
    label: "Front desk — main clinic line",
  });
  const london = await post("/api/phone-numbers", {
    number: "+442079460958",
    carrier: "telnyx",
    label: "London office",
  });
  const sip = await post("/api/phone-numbers", { number: "+14155550123", carrier: "livekit", label: "" });
  await put(`/api/phone-numbers/${main.id}`, { inbound_agent_id: desk.id, outbound_agent_id: sales.id });
  await put(`/api/phone-numbers/${london.id}`, { inbound_agent_id: night.id });
  await put(`/api/phone-numbers/${sip.id}`, { status: "disabled" });

  for (const [w, h] of [
    [1024, 700],
    [1280, 800],
  ]) {
    const page = await browser.newPage({ viewport: { width: w, height: h } });
    const shot = async (name) => {
      await page.waitForTimeout(250);
      await page.screenshot({ path: `${out}/${name}-${w}.png` });
    };
    await page.goto(`${engine.base}/`);
    await page.getByLabel("Control API token").fill("wrong");
    await page.getByLabel("Control API token").press("Enter");
    await page.getByText("did not accept").waitFor();
    await shot("signin-error");
    await page.getByLabel("Control API token").fill(token);
    await page.getByLabel("Control API token").press("Enter");
    await page.locator(".page").waitFor();

    const visit = async (route, name) => {
      await page.goto(`${engine.base}/#/${route}`);
      await page.locator(".page").waitFor();
      await shot(name);
    };
    await visit("live", "live-empty");
    await visit("agents", "agents");
    await visit(`agents/${desk.id}`, "agent-panel");
    await page.getByLabel("Context").fill('{"hours": "9-5",\n "parking": }');
    await shot("agent-context-invalid");
    await page.getByRole("button", { name: "Delete" }).click();
    await page.getByRole("button", { name: "Delete agent" }).click();
    await page.getByText("still handles calls for").waitFor();
    await shot("agent-delete-conflict");
    await page.getByRole("button", { name: "Cancel" }).click();
    await visit("agents/new", "agent-new");
    await visit("numbers", "numbers-no-public-url");
    await visit("numbers/new", "number-new");
    await page.getByRole("textbox", { name: "Phone number" }).fill("+1415");
    await shot("number-new-invalid");
    await page.getByRole("textbox", { name: "Phone number" }).fill("+1 415 555 2672");
    await shot("number-new-valid");
    await visit(`numbers/${main.id}`, "number-panel");
    await visit("calls", "calls-empty");
    await routeCalls(page);
    await visit("agents", "agents");
    await visit("calls", "calls");
    await visit("calls/call-01", "call-detail");
    await page.unrouteAll();
    await visit("settings", "settings-no-public-url");
    if (w === 1024) await put("/api/settings", { public_base_url: "https://switchboard-demo.ngrok.app" });
    await visit("settings", "settings");
    await page.locator(".table-area").evaluate((el) => el.scrollTo(0, el.scrollHeight));
    await shot("settings-credentials");
    // The audio card and the Test Call form (a call itself needs a sound server: see
    // tests/ui/test-call.test.mjs, which saves its own shots).
    await visit("settings/audio", "settings-audio");
    await visit("test-call", "test-call");
    await visit("numbers", "numbers");
    await page.close();
  }

  await liveCallShots(browser);
  await campaignShots(browser);

  // Offline: the engine goes away under an open page.
  const page = await browser.newPage({ viewport: { width: 1024, height: 700 } });
  await page.goto(`${engine.base}/`);
  await page.getByLabel("Control API token").fill(token);
  await page.getByLabel("Control API token").press("Enter");
  await page.locator(".page").waitFor();
  await engine.stop();
  await page.getByText("Engine offline").first().waitFor();
  await page.goto(`${engine.base}/#/calls`).catch(() => {});
  await page.getByRole("heading", { name: "Engine offline" }).waitFor();
  await page.screenshot({ path: `${out}/offline-1024.png` });
} finally {
  await browser.close();
  await engine.stop();
}
console.log(`screenshots in ${out}`);

/** The Live page with calls bridged to a fake voice backend (another engine, set up for it). */
async function liveCallShots(browser) {
  const publicUrl = "https://switchboard-demo.ngrok.app";
  const authToken = "demo-auth-token";
  const realtime = await startRealtime();
  const twilioApi = await startTwilioApi();
  const live = await startEngine({
    args: ["--openai-realtime-url", realtime.url, "--twilio-api-url", twilioApi.url, "--public-url", publicUrl],
    env: { OPENAI_API_KEY: "sk-demo", TWILIO_ACCOUNT_SID: ACCOUNT_SID, TWILIO_AUTH_TOKEN: authToken },
  });
  const streams = [];
  try {
    const post = async (path, body) => (await api(live.base, "POST", path, body)).body;
    const desk = await post("/api/agents", {
      name: "Front Desk",
      system_prompt: "You answer the phone for Acme Plumbing.",
      context: { hours: "Mon–Fri 8:00–18:00", emergency_fee: "$90" },
    });
    const night = await post("/api/agents", { name: "After-hours Support" });
    await post("/api/phone-numbers", { number: "+14155552671", carrier: "twilio", inbound_agent_id: desk.id });
    await post("/api/phone-numbers", { number: "+14155550123", carrier: "twilio", inbound_agent_id: night.id });
    const signed = { publicUrl, authToken };
    const start = async (from, to, bridged) => {
      const sid = callSid();
      const call = await twilioInboundCall(live, { callSid: sid, from, to, signed });
      if (bridged) {
        const sessions = realtime.sessions.length;
        streams.push(await twilioMediaStream(live, { callSid: sid, callId: call.callId, agentId: call.agentId }));
        await until("the voice session", () => realtime.sessions.length > sessions && realtime.instructions().length);
      }
      return call;
    };
    const first = await start("+14158675309", "+14155552671", true);
    const lines = [
      ["agent", "Thanks for calling Acme Plumbing, how can I help?"],
      ["caller", "Hi, my kitchen sink is leaking under the cabinet."],
      ["agent", "I'm sorry to hear that. Is the water still running, or have you turned off the valve?"],
      ["caller", "I turned the valve off, but there's water on the floor."],
      ["agent", "Good, that stops it getting worse. I can send a plumber today between 2 and 4 pm. Does that work?"],
      ["caller", "Yes, that's perfect. How much is the call-out?"],
      ["agent", "The call-out is $90, and the plumber will quote the repair before starting."],
    ];
    // The first call's session is the earliest: speak into it.
    const session = realtime.sessions[0];
    let n = 0;
    for (const [who, text] of lines) {
      n += 1;
      const event =
        who === "caller"
          ? { type: "conversation.item.input_audio_transcription.completed", item_id: `i${n}`, content_index: 0 }
          : {
              type: "response.output_audio_transcript.done",
              response_id: `r${n}`,
              item_id: `i${n}`,
              output_index: 0,
              content_index: 0,
            };
      session.ws.send(JSON.stringify({ event_id: `s${n}`, ...event, transcript: text }));
      await new Promise((r) => setTimeout(r, 60));
    }
    await start("+442079460958", "+14155550123", true);
    await start("+14155550199", "+14155552671", false);
    await api(live.base, "PUT", `/api/calls/${first.callId}/context`, { name: "Ada", plan: "Gold support" });

    for (const [w, h] of [
      [1024, 700],
      [1280, 800],
    ]) {
      const page = await browser.newPage({ viewport: { width: w, height: h } });
      await page.goto(`${live.base}/#/live/${first.callId}`);
      await page.getByLabel("Control API token").fill(token);
      await page.getByLabel("Control API token").press("Enter");
      await page.getByText("The call-out is $90").waitFor();
      await page.waitForTimeout(1200); // let the clocks run
      await page.screenshot({ path: `${out}/live-call-${w}.png` });
      const toggle = page.getByRole("button", { name: "Edit context" });
      if (await toggle.isVisible()) await toggle.click();
      await page.getByLabel("Call context").fill('{"name": "Ada", "plan": "Gold support",}');
      await page.screenshot({ path: `${out}/live-context-invalid-${w}.png` });
      await page.getByLabel("Call context").fill(JSON.stringify({ name: "Ada", plan: `Platinum (${w})` }, null, 2));
      await page.getByRole("button", { name: "Apply to call" }).click();
      await page.getByText("Applied to the live call").waitFor();
      await page.screenshot({ path: `${out}/live-context-applied-${w}.png` });
      await page.getByRole("button", { name: "End call" }).click();
      await page.getByRole("dialog").waitFor();
      await page.screenshot({ path: `${out}/live-end-confirm-${w}.png` });
      await page.close();
    }
  } finally {
    for (const s of streams) s.stop();
    await live.stop();
    await realtime.close();
    await twilioApi.close();
  }
}

/**
 * A big lead file on its way up (the upload throttled, as a slow link would have it), then
 * while the engine reads it. Leaves the panel on the Import tab with the preview shown.
 */
async function importProgressShots(page, shot) {
  const side = page.locator("aside.panel");
  const rows = Array.from({ length: 100_000 }, (_, i) => `Lead ${i},+1415${2_000_000 + i},lead${i}@example.com`);
  const buffer = Buffer.from(["name,phone,email", ...rows].join("\n"));
  const cdp = await page.context().newCDPSession(page);
  const throttle = (uploadThroughput) =>
    cdp.send("Network.emulateNetworkConditions", {
      offline: false,
      latency: 0,
      downloadThroughput: -1,
      uploadThroughput,
    });
  try {
    await cdp.send("Network.enable");
    await side.getByRole("button", { name: "Upload a file" }).click();
    await throttle(1024 * 1024);
    await side.getByLabel("CSV file").setInputFiles({ name: "expo-visitors-2026.csv", mimeType: "text/csv", buffer });
    await page.waitForFunction(
      () =>
        Number(
          document.querySelector("[data-testid=import-progress] [role=progressbar]")?.getAttribute("aria-valuenow"),
        ) >= 40,
    );
    await page.screenshot({ path: `${out}/campaign-import-uploading-${page.viewportSize().width}.png` });
    await side.getByText("processing…").waitFor({ timeout: 30_000 });
    await shot("campaign-import-processing");
    await side.getByText("Check before importing").waitFor({ timeout: 30_000 });
  } finally {
    await throttle(-1);
    await cdp.detach();
  }
}

/** Campaigns: the list, a running campaign with its leads, a pause by the dialer, the import
 * preview, the create form, and the outbound call dialog. The dialer cannot dial here (no
 * carrier), so progress and the pause arrive as made-up events on the page's event socket;
 * leads and the import answer come from fixtures when the engine has no import route yet. */
async function campaignShots(browser) {
  const engine = await startEngine();
  try {
    const post = async (path, body) => (await api(engine.base, "POST", path, body)).body;
    const closer = await post("/api/agents", { name: "Closer", max_concurrent_calls: 10 });
    const backup = await post("/api/agents", { name: "Backup Closer", max_concurrent_calls: 5 });
    const main = await post("/api/phone-numbers", {
      number: "+14155552671",
      carrier: "twilio",
      label: "Sales line",
      outbound_agent_id: closer.id,
    });
    const second = await post("/api/phone-numbers", { number: "+14155550123", carrier: "twilio", label: "Sales 2" });
    const settings = {
      max_concurrent_calls: 10,
      calls_per_second: 0.5,
      window: { start: "09:00", end: "18:00", time_zone: "America/Los_Angeles", days: [1, 2, 3, 4, 5] },
      retry: { retry_on: ["busy", "no_answer"], max_attempts: 3, delay_secs: 7200 },
      voicemail: {
        action: "leave_message",
        message: "Hi, this is Acme Solar returning your request. We will try again later.",
      },
      strategy: "primary_first",
      default_region: "US",
    };
    await post("/api/campaigns", { name: "Q3 renewals", settings });
    const winback = await post("/api/campaigns", {
      name: "Win-back: lapsed members",
      prompt: "You are calling {name} ({email}) for Acme Solar. They asked about panels last spring.",
      agents: [
        { agent_id: closer.id, primary: true },
        { agent_id: backup.id, primary: false },
      ],
      number_ids: [main.id, second.id],
      settings,
    });
    const spring = await post("/api/campaigns", {
      name: "Spring solar offer",
      prompt: "Offer {name} a free roof survey.",
      agents: [{ agent_id: closer.id }],
      number_ids: [main.id],
      settings,
    });
    const leadsCsv = [
      "name,phone,email",
      "Ada Lovelace,+14155550100,ada@example.com",
      "Alan Turing,(415) 555-0101,alan@example.com",
      "Grace Hopper,555-01,grace@example.com",
      "Ada L.,+1 415 555 0100,ada.l@example.com",
      "Edsger Dijkstra,+14155550102,",
      "Barbara Liskov,+14155550103,barbara@example.com",
    ].join("\n");
    const probe = await fetch(`${engine.base}/api/campaigns/${spring.id}/leads/import?dry_run=true`, {
      method: "POST",
      headers: { authorization: `Bearer ${token}`, "content-type": "text/csv" },
      body: leadsCsv,
    });
    const canImport = probe.status !== 404;
    if (canImport) {
      await fetch(`${engine.base}/api/campaigns/${winback.id}/leads/import?dry_run=false`, {
        method: "POST",
        headers: { authorization: `Bearer ${token}`, "content-type": "text/csv" },
        body: leadsCsv,
      });
    }
    const names = ["Ada Lovelace", "Alan Turing", "Edsger Dijkstra", "Barbara Liskov", "Ken Thompson", "Frances Allen"];
    const statuses = ["done", "done", "failed", "dialing", "pending", "pending"];
    const outcomes = ["answered", "answered", "no_answer", null, "busy", null];
    const fixtureLeads = names.map((name, i) => ({
      id: i + 1,
      campaign_id: winback.id,
      name,
      phone: `+1415555010${i}`,
      email: i === 2 ? null : `${name.split(" ")[0].toLowerCase()}@example.com`,
      fields: {},
      status: statuses[i],
      attempts: statuses[i] === "pending" && outcomes[i] === null ? 0 : statuses[i] === "failed" ? 3 : 1,
      last_outcome: outcomes[i],
      line: i + 2,
      next_attempt_at: new Date(Date.now() + 2 * 3600_000).toISOString(),
    }));
    const preview = {
      imported: 4,
      rejected: [
        { line: 4, reason: 'phone: "555-01" is not a phone number', raw: "Grace Hopper,555-01,grace@example.com" },
      ],
      duplicates: [{ line: 5, phone: "+14155550100", first_line: 2 }],
      total_rows: 6,
    };

    for (const [w, h] of [
      [1024, 700],
      [1280, 800],
    ]) {
      const page = await browser.newPage({ viewport: { width: w, height: h } });
      let send = () => {};
      await page.routeWebSocket(/\/api\/events/, (ws) => {
        ws.connectToServer();
        send = (event) => ws.send(JSON.stringify(event));
      });
      if (!canImport) {
        await page.route(/\/api\/campaigns\/[^/]+\/leads(\?|$)/, (route) =>
          route.fulfill({ json: { items: fixtureLeads, total: 412, limit: 25, offset: 0 } }),
        );
        await page.route(/\/api\/campaigns\/[^/]+\/leads\/import/, (route) => route.fulfill({ json: preview }));
      }
      const shot = async (name) => {
        await page.waitForTimeout(300);
        await page.screenshot({ path: `${out}/${name}-${w}.png` });
      };
      await page.goto(`${engine.base}/#/campaigns`);
      await page.getByLabel("Control API token").fill(token);
      await page.getByLabel("Control API token").press("Enter");
      await page.locator("table[aria-label=Campaigns]").waitFor();
      await page.getByTestId("engine-status").getByText("Engine connected").waitFor();
      await page.waitForTimeout(500);
      // The win-back campaign running, as the dialer would report it.
      send({ type: "campaign_updated", campaign: { ...winback, status: "running" } });
      send({
        type: "campaign_progress",
        progress: {
          campaign_id: winback.id,
          leads: { total: 412, pending: 251, dialing: 6, done: 131, failed: 24 },
          active_calls: 6,
          dial_rate: 0.42,
          eta_secs: 598,
          cost_usd: 1.25,
        },
      });
      send({ type: "campaign_updated", campaign: { ...spring, status: "paused" } });
      send({
        type: "campaign_paused",
        campaign: { ...spring, status: "paused" },
        reason: "Twilio refused the calls: the account's balance is too low",
      });
      await shot("campaigns");
      await page.goto(`${engine.base}/#/campaigns/${winback.id}`);
      await page.locator("aside.panel").getByRole("tab", { name: /Leads/ }).click();
      await shot("campaign-running");
      await page.locator("aside.panel").getByRole("button", { name: "Stop" }).click();
      await page.getByRole("dialog").waitFor();
      await shot("campaign-stop-confirm");
      await page.keyboard.press("Escape");
      await page.getByRole("dialog").waitFor({ state: "detached" });
      await page.goto(`${engine.base}/#/campaigns/${spring.id}`);
      await page.locator("aside.panel").getByRole("tab", { name: "Import leads" }).click();
      await shot("campaign-paused");
      await page.locator("aside.panel").getByRole("button", { name: "Paste rows" }).click();
      await page.locator("aside.panel").getByLabel("CSV rows").fill(leadsCsv);
      await page.locator("aside.panel").getByRole("button", { name: "Check rows" }).click();
      await page.locator("aside.panel").getByText("Check before importing").waitFor();
      await page.locator("aside.panel .panel-body").evaluate((el) => el.scrollTo(0, 560));
      await shot("campaign-import-preview");
      if (canImport) await importProgressShots(page, shot);
      await page.locator("aside.panel").getByRole("tab", { name: "Settings" }).click();
      await page.locator("aside.panel .panel-body").evaluate((el) => el.scrollTo(0, 380));
      await shot("campaign-settings");
      await page.goto(`${engine.base}/#/campaigns/new`);
      await page.locator("aside.panel").getByLabel("Name").fill("Summer survey");
      await page.locator("aside.panel").getByLabel("Calls per second").fill("0");
      await page.locator("aside.panel").getByLabel("Time zone").fill("Mars/Base");
      await page.locator("aside.panel .panel-body").evaluate((el) => el.scrollTo(0, 640));
      await shot("campaign-new-invalid");
      await page.goto(`${engine.base}/#/numbers/${main.id}`);
      await page.getByRole("button", { name: "Call a number from this one" }).click();
      await page.getByLabel("Number to call").fill("+1 415 555 0100");
      await page.getByLabel("Their name").fill("Ada");
      await page.getByRole("button", { name: "Call", exact: true }).click();
      await page.getByTestId("outbound-error").waitFor();
      await shot("outbound-call-refused");
      await page.keyboard.press("Escape");
      await page.goto(`${engine.base}/#/agents`);
      await page.getByTestId("agent-load").waitFor();
      await shot("agents-load");
      await page.close();
    }
  } finally {
    await engine.stop();
  }
}
