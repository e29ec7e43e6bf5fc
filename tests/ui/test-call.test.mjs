// The Test Call page and Settings → Audio against a real engine whose audio is a private
// PulseAudio (scripts/audio-rig.sh: PULSE_SERVER in the environment), so a test call really
// opens the virtual microphone and speaker, and the agent is a fake OpenAI Realtime server
// whose transcript lines appear on the page. One engine and one page for the whole file: the
// steps run in order and build on each other.
import assert from "node:assert/strict";
import { createServer } from "node:http";
import { after, before, test } from "node:test";
import { api, launchBrowser, openPage, startEngine, token } from "./harness.mjs";
import { startRealtime, until } from "./live-sims.mjs";

const SHOTS = process.env.UI_SHOTS ?? "/tmp";

let realtime;
let engine;
let browser;
let page;
let agent;
let callId;
let toolServer;
const toolRequests = [];
const errors = [];

before(async () => {
  assert.ok(
    process.env.PULSE_SERVER,
    'test calls need a sound server: run eval "$(scripts/audio-rig.sh start)" first (it sets PULSE_SERVER)',
  );
  // A tool the agent may call: an order lookup on loopback that records what it was sent.
  toolServer = createServer((req, res) => {
    let body = "";
    req.on("data", (d) => {
      body += d;
    });
    req.on("end", () => {
      toolRequests.push({ method: req.method, body: JSON.parse(body) });
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify({ order: "A-17", status: "shipped" }));
    });
  });
  await new Promise((ok) => toolServer.listen(0, "127.0.0.1", ok));
  realtime = await startRealtime();
  engine = await startEngine({
    args: ["--openai-realtime-url", realtime.url],
    env: { OPENAI_API_KEY: "sk-test" },
  });
  const created = await api(engine.base, "POST", "/api/agents", {
    name: "Front Desk",
    system_prompt: "You answer the phone for Acme Plumbing. The caller is {{name}}.",
    greeting: "Thanks for calling Acme Plumbing.",
    tools: [{ name: "lookup_order", url: `http://127.0.0.1:${toolServer.address().port}/orders` }],
  });
  assert.equal(created.status, 201);
  agent = created.body;
  browser = await launchBrowser();
  page = await openPage(browser, 1280, 800, errors);
  await page.goto(`${engine.base}/`);
  await page.getByLabel("Control API token").fill(token);
  await page.getByLabel("Control API token").press("Enter");
  await page.getByRole("heading", { name: "Overview", level: 1 }).waitFor();
});

after(async () => {
  // A call left running would keep the devices open: end it before the engine goes.
  if (callId) await api(engine.base, "POST", `/api/calls/${callId}/hangup`).catch(() => {});
  await browser?.close();
  await engine?.stop();
  await realtime?.close();
  await new Promise((ok) => (toolServer ? toolServer.close(ok) : ok()));
});

const main = () => page.locator("main");
const audioCard = () => main().locator("section.audio-card");
const startButton = () => main().getByRole("button", { name: "Start test call" });
const transcript = () => main().getByRole("log", { name: "Transcript" });
const muteButton = () =>
  main()
    .locator(".test-controls")
    .getByRole("button", { name: /^(Mute|Unmute)$/ });

test("a test call started from the page reaches the agent, and what is said appears live", async () => {
  await page.goto(`${engine.base}/#/agents`);
  const link = page.getByRole("navigation", { name: "Sections" }).getByRole("link", { name: "Test Call" });
  await link.click();
  await page.getByRole("heading", { name: "Test Call", level: 1 }).waitFor();
  assert.equal(await link.getAttribute("aria-current"), "page");
  assert.equal(await main().getByLabel("Agent", { exact: true }).inputValue(), agent.id);
  await main().getByLabel("Name").fill("Ada Lovelace");
  await main().getByLabel("The agent waits for me (as on an outbound call)").check();
  await main().getByLabel("The agent greets first (as on an inbound call)").check();
  await page.screenshot({ path: `${SHOTS}/test-call-idle-1280.png` });

  const sessions = realtime.sessions.length;
  const started = page.waitForResponse((r) => r.url().endsWith("/api/test-calls"));
  await startButton().click();
  const res = await started;
  assert.equal(res.status(), 201, `the engine started the call: ${await res.text()}`);
  const call = await res.json();
  callId = call.id;
  assert.equal(call.direction, "test");
  await page.waitForURL(`**/#/test-call/${callId}`);

  await until(
    "the agent's voice session",
    () => realtime.sessions.length > sessions && realtime.instructions().length,
  ).catch(async (e) => {
    const record = (await api(engine.base, "GET", `/api/calls/${callId}`)).body;
    throw new Error(
      `${e.message}; sessions ${realtime.sessions.length} (was ${sessions}); call ${JSON.stringify(record)}`,
    );
  });
  assert.match(realtime.instructions()[0], /Ada Lovelace/, "the call's context reaches the agent");
  await main().getByRole("status").filter({ hasText: "Live" }).waitFor();
  await main().getByRole("heading", { name: "Front Desk" }).waitFor();

  realtime.agentSays("Thanks for calling Acme Plumbing.");
  await transcript().getByText("Thanks for calling Acme Plumbing.").waitFor();
  realtime.callerSays("My sink is leaking.");
  await transcript().getByText("My sink is leaking.").waitFor();
  assert.deepEqual(await transcript().locator(".transcript .speaker").allTextContents(), ["Front Desk", "You"]);
  await page.screenshot({ path: `${SHOTS}/test-call-live-1280.png` });
});

test("the running test call is on the Live page as a test call, and the Test Call page finds it again", async () => {
  await page.getByRole("navigation", { name: "Sections" }).getByRole("link", { name: "Live" }).click();
  const item = main().locator(`a.live-item[data-call-id="${callId}"]`);
  await item.waitFor();
  await item.getByText("Test call", { exact: true }).waitFor();
  await item.getByText("This computer", { exact: true }).waitFor();
  assert.equal(await main().getByText("local", { exact: true }).count(), 0, "no end is shown as a number");

  // Back on Test Call with nothing chosen: the running call, with what was said so far.
  await page.getByRole("navigation", { name: "Sections" }).getByRole("link", { name: "Test Call" }).click();
  await page.waitForURL(`**/#/test-call/${callId}`);
  await transcript().getByText("My sink is leaking.").waitFor();
});

test("Mute tells the engine, and the button shows the state", async () => {
  const button = muteButton();
  assert.equal(await button.getAttribute("aria-pressed"), "false");
  const muting = page.waitForRequest((r) => r.url().endsWith(`/api/test-calls/${callId}/mute`));
  await button.click();
  const sent = await muting;
  assert.equal(sent.method(), "PUT");
  assert.deepEqual(sent.postDataJSON(), { muted: true });
  await main().getByRole("button", { name: "Unmute" }).waitFor();
  assert.equal(await button.getAttribute("aria-pressed"), "true");
  await main().getByText("Muted: the agent hears silence").waitFor();

  const unmuting = page.waitForRequest((r) => r.url().endsWith(`/api/test-calls/${callId}/mute`));
  await button.click();
  assert.deepEqual((await unmuting).postDataJSON(), { muted: false });
  // Exact: "Mute" is also a substring of "Unmute", which is on screen until the answer comes.
  await main().getByRole("button", { name: "Mute", exact: true }).waitFor();
  assert.equal(await button.getAttribute("aria-pressed"), "false");
});

test("a tool the agent calls shows in the live transcript, with what it answered", async () => {
  realtime.agentCalls("lookup_order", '{"order_id":"A-17"}');
  const line = (text) => transcript().locator(".line-tool").filter({ hasText: text });
  await line('lookup_order({"order_id":"A-17"})').waitFor();
  await line('lookup_order → {"order":"A-17","status":"shipped"}').waitFor();
  assert.equal(await transcript().locator(".line-tool .speaker").first().textContent(), "Tool");
  assert.equal(toolRequests.length, 1, "the tool server was asked once");
  assert.deepEqual(toolRequests[0], { method: "POST", body: { order_id: "A-17" } });
  await page.screenshot({ path: `${SHOTS}/test-call-tool-1280.png` });
});

test("End ends the call at once; the page says so, why, and links to it in Calls", async () => {
  await main().getByRole("button", { name: "End test call" }).click();
  const ended = main().locator(".test-ended");
  await ended.waitFor();
  await main().locator(".badge").filter({ hasText: "Ended" }).waitFor();
  assert.equal(await ended.getByRole("link", { name: "Calls" }).getAttribute("href"), `#/calls/${callId}`);
  const record = (await api(engine.base, "GET", `/api/calls/${callId}`)).body;
  assert.ok(record.ended_at, "the engine ended the call");
  if (record.hangup_cause) await ended.getByText(record.hangup_cause, { exact: false }).waitFor();
  await page.screenshot({ path: `${SHOTS}/test-call-ended-1280.png` });

  // In Calls it is a test call on this computer, never a phone number.
  await ended.getByRole("link", { name: "Calls" }).click();
  await page.getByRole("heading", { name: "Calls", level: 1 }).waitFor();
  const row = main().locator("tbody tr").first();
  await row.getByText("Test call").waitFor();
  assert.equal(await row.getByText("This computer").count(), 2, "from and to are this computer");
  assert.equal(await main().getByText("local", { exact: true }).count(), 0);

  // The agent's numbers keep test calls apart.
  await page.goto(`${engine.base}/#/agents/${agent.id}`);
  await main().getByText("Plus 1 test call from this computer, not counted above.").waitFor();
  // And the tool it called during the test call, with how it went.
  const cells = main()
    .getByRole("table", { name: "Tool calls" })
    .getByRole("row")
    .filter({ hasText: "lookup_order" })
    .locator("td");
  const [name, calls, failed, average] = await cells.allTextContents();
  assert.deepEqual([name, calls, failed], ["lookup_order", "1", "0"]);
  assert.match(average, /^\d+ ms$/);
  const stats = (await api(engine.base, "GET", `/api/agents/${agent.id}/stats`)).body;
  assert.equal(stats.tests.calls, 1);
  assert.equal(stats.total.calls, 0, "test calls are not counted in the total");
  callId = null;
});

test("a device that cannot be opened: Settings marks it not connected, and Start says so, naming it", async () => {
  const set = await api(engine.base, "PUT", "/api/settings", { audio_input: "alsa:nonexistent" });
  assert.equal(set.status, 200);
  // Whatever happens, the default microphone is put back: the level meter below reads it.
  try {
    await page.goto(`${engine.base}/#/settings/audio`);
    const mic = audioCard().getByLabel("Microphone", { exact: true });
    await until("the missing device to be shown", async () => (await mic.inputValue()) === "alsa:nonexistent");
    // Until the device list has come it is shown unmarked: nothing says yet that it is missing.
    await until(
      "the saved device to stay chosen, marked not connected",
      async () => (await mic.locator("option:checked").textContent()) === "alsa:nonexistent (not connected)",
    );

    await page.goto(`${engine.base}/#/test-call`);
    await page.getByRole("heading", { name: "Test Call", level: 1 }).waitFor();
    await startButton().click();
    const alert = main().getByRole("alert");
    await alert.waitFor();
    assert.match(await alert.textContent(), /alsa:nonexistent/, "the message names the device");
    assert.equal(
      await alert.getByRole("link", { name: "Open Settings → Audio" }).getAttribute("href"),
      "#/settings/audio",
    );
    assert.match(page.url(), /#\/test-call$/, "no call was started");
    await page.screenshot({ path: `${SHOTS}/test-call-audio-error-1280.png` });
  } finally {
    assert.equal((await api(engine.base, "PUT", "/api/settings", { audio_input: null })).status, 200);
  }
});

test("Settings → Audio lists the devices, keeps a saved choice across a reload, plays a tone and meters the microphone", async () => {
  const devices = (await api(engine.base, "GET", "/api/audio")).body;
  assert.equal(devices.available, true, `the audio rig is reachable: ${devices.problem}`);
  assert.ok(devices.inputs.length > 0 && devices.outputs.length > 0, "the rig has a microphone and a speaker");

  await page.goto(`${engine.base}/#/settings/audio`);
  await page.getByRole("heading", { name: "Audio", level: 2 }).waitFor();
  const mic = audioCard().getByLabel("Microphone", { exact: true });
  const speaker = audioCard().getByLabel("Speaker", { exact: true });
  // System default first, then each device by name.
  await until("the microphones to be listed", async () => (await mic.locator("option").count()) > 1);
  const micOptions = await mic.locator("option").allTextContents();
  assert.match(micOptions[0], /^System default/);
  for (const d of devices.inputs) assert.ok(micOptions.includes(d.name), `${d.name} is offered`);
  const speakerOptions = await speaker.locator("option").allTextContents();
  for (const d of devices.outputs) assert.ok(speakerOptions.includes(d.name), `${d.name} is offered`);
  for (const label of [
    "Echo cancellation (recommended)",
    "Headphones (no processing)",
    "Half-duplex (mic muted while the agent speaks)",
  ]) {
    await audioCard().getByLabel(label).waitFor();
  }
  assert.equal(await audioCard().getByLabel("Echo cancellation (recommended)").isChecked(), true);

  // The level meter reads the microphone while the card is on screen.
  await audioCard().getByTestId("level-value").filter({ hasText: "dBFS" }).waitFor();
  await page.screenshot({ path: `${SHOTS}/settings-audio-1280.png`, fullPage: false });

  // Choose a microphone and the headphones mode, save, reload: both are kept. Whatever
  // happens, the defaults are put back for the tests after this one.
  try {
    const chosen = devices.inputs.at(-1);
    await mic.selectOption(chosen.id);
    await audioCard().getByLabel("Headphones (no processing)").check();
    await audioCard().getByRole("button", { name: "Save" }).click();
    await page.getByText("Audio settings saved").waitFor();
    const saved = (await api(engine.base, "GET", "/api/settings")).body;
    assert.equal(saved.audio_input, chosen.id);
    assert.equal(saved.echo_mode, "headphones");
    await page.reload();
    await page.getByRole("heading", { name: "Audio", level: 2 }).waitFor();
    await until("the saved microphone to be selected", async () => (await mic.inputValue()) === chosen.id);
    assert.equal(await audioCard().getByLabel("Headphones (no processing)").isChecked(), true);

    // The tone: busy while it plays (a second), then back. The busy label is watched for in the
    // page, so a quick answer cannot slip between two polls.
    await audioCard().evaluate((card) => {
      window.__sawPlaying = false;
      new MutationObserver(() => {
        if (card.textContent.includes("Playing…")) window.__sawPlaying = true;
      }).observe(card, { subtree: true, childList: true, characterData: true });
    });
    const played = page.waitForResponse((r) => r.url().endsWith("/api/audio/tone"));
    await audioCard().getByRole("button", { name: "Play test tone" }).click();
    const toneRes = await played;
    assert.equal(toneRes.status(), 200, `the tone played: ${await toneRes.text()}`);
    await audioCard().getByRole("button", { name: "Play test tone" }).waitFor();
    await audioCard().getByText("Played a one-second tone").waitFor();
    assert.equal(await page.evaluate(() => window.__sawPlaying), true, "the button said Playing… meanwhile");
  } finally {
    const reset = await api(engine.base, "PUT", "/api/settings", {
      audio_input: null,
      audio_output: null,
      echo_mode: "cancel",
    });
    assert.equal(reset.status, 200);
  }
});

test("the level meter stops asking once the card is off screen", async () => {
  await page.goto(`${engine.base}/#/settings/audio`);
  await audioCard().getByTestId("level-value").filter({ hasText: "dBFS" }).waitFor();
  let asked = 0;
  const count = (r) => {
    if (r.url().endsWith("/api/audio/level")) asked += 1;
  };
  page.on("request", count);
  await page.goto(`${engine.base}/#/agents`);
  await page.getByRole("heading", { name: "Agents", level: 1 }).waitFor();
  const settled = asked;
  await page.waitForTimeout(800);
  page.off("request", count);
  assert.ok(asked - settled <= 1, `no readings once the card is gone (${asked - settled} more)`);
});

test("without a sound server, Settings and Test Call say so, and that the rest works without it", async () => {
  // The engine's answer on a machine with no sound server, as the document defines it.
  const problem = "no sound server is running (PulseAudio or PipeWire)";
  await page.route(/\/api\/audio$/, (route) =>
    route.fulfill({
      json: { available: false, problem, host: null, inputs: [], outputs: [], input: null, output: null },
    }),
  );
  try {
    await page.goto(`${engine.base}/#/agents`);
    await page.goto(`${engine.base}/#/settings/audio`);
    const banner = audioCard().getByRole("status").filter({ hasText: "No audio on this computer" });
    await banner.waitFor();
    assert.match(await banner.textContent(), /no sound server is running/);
    assert.match(await banner.textContent(), /everything else in Switchboard works without them/);
    assert.equal(await audioCard().getByRole("button", { name: "Play test tone" }).isDisabled(), true);
    await page.screenshot({ path: `${SHOTS}/settings-audio-unavailable-1280.png` });

    await page.goto(`${engine.base}/#/test-call`);
    await main().getByText("No audio on this computer").waitFor();
  } finally {
    await page.unroute(/\/api\/audio$/);
  }
});

test("no uncaught errors in the page", () => {
  assert.deepEqual(errors, []);
});
