// The Live page against a real live call: a real engine (`--insecure-skip-webhook-signatures`)
// answers a Twilio voice webhook, a Twilio media-stream client connects, and the engine bridges
// it to a fake OpenAI Realtime server, which makes the transcript lines appear and confirms new
// instructions. End call goes through a fake Twilio REST API. One engine and one page for the
// whole file: the steps run in order and build on each other.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { api, launchBrowser, startEngine, token, openPage } from "./harness.mjs";
import {
  ACCOUNT_SID,
  callSid,
  startRealtime,
  startTwilioApi,
  twilioInboundCall,
  twilioMediaStream,
  twilioStatus,
  until,
} from "./live-sims.mjs";

const CALLER = "+14158675309";
const MANAGED = "+14155552671";
const SID = callSid();

let realtime;
let twilioApi;
let engine;
let browser;
let page;
let agent;
let call; // { callId, agentId } from the TwiML
let media;
const errors = [];

before(async () => {
  realtime = await startRealtime();
  twilioApi = await startTwilioApi();
  engine = await startEngine({
    args: [
      "--openai-realtime-url",
      realtime.url,
      "--twilio-api-url",
      twilioApi.url,
      "--insecure-skip-webhook-signatures",
      "--public-url",
      "https://sb.example.test",
    ],
    env: { OPENAI_API_KEY: "sk-test", TWILIO_ACCOUNT_SID: ACCOUNT_SID, TWILIO_AUTH_TOKEN: "test-auth-token" },
  });
  browser = await launchBrowser();
  page = await openPage(browser, 1280, 800, errors);
});

after(async () => {
  media?.stop();
  await browser?.close();
  await engine?.stop();
  await realtime?.close();
  await twilioApi?.close();
});

const main = () => page.locator("main");
const liveList = () => main().getByRole("list", { name: "Live calls" });
const item = () => liveList().locator("a.live-item");
const detail = () => main().locator("section.live-call");
const transcript = () => detail().getByRole("log", { name: "Transcript" });
const elapsed = (scope) => scope.getByTestId("elapsed").first();

test("with no calls, the Live page says so and what it takes for calls to arrive", async () => {
  await page.goto(`${engine.base}/`);
  await page.getByLabel("Control API token").fill(token);
  await page.getByLabel("Control API token").press("Enter");
  await page.getByRole("heading", { name: "Overview", level: 1 }).waitFor();
  // The sidebar link, by keyboard like the other sections.
  const link = page.getByRole("navigation", { name: "Sections" }).getByRole("link", { name: "Live" });
  await link.focus();
  await page.keyboard.press("Enter");
  await page.getByRole("heading", { name: "Live", level: 1 }).waitFor();
  assert.equal(await link.getAttribute("aria-current"), "page");

  await main().getByRole("heading", { name: "No live calls" }).waitFor();
  await main().getByText("No number has an inbound agent yet").waitFor();
  await main().getByText("https://sb.example.test", { exact: true }).waitFor();

  // An agent and a number that sends it inbound calls, through the API: the hint follows.
  const created = await api(engine.base, "POST", "/api/agents", {
    name: "Front Desk",
    system_prompt: "You answer the phone for Acme Plumbing.",
    builtin_tools: ["transfer_call"],
    transfer_targets: [{ name: "manager", to: "+14155550177", description: "the duty manager", warm: true }],
  });
  assert.equal(created.status, 201);
  agent = created.body;
  const number = await api(engine.base, "POST", "/api/phone-numbers", {
    number: MANAGED,
    carrier: "twilio",
    inbound_agent_id: agent.id,
  });
  assert.equal(number.status, 201);
  await main().getByText("1 number answers with an agent").waitFor();

  for (const [w, h] of [
    [1024, 700],
    [1280, 800],
  ]) {
    await page.setViewportSize({ width: w, height: h });
    await page.screenshot({ path: `/tmp/live-empty-${w}.png` });
  }
});

test("a ringing call appears at once, selected, with its agent, numbers and a ringing clock", async () => {
  await page.evaluate(() => {
    window.__sameDocument = true;
  });
  call = await twilioInboundCall(engine, { callSid: SID, from: CALLER, to: MANAGED });
  assert.equal(call.agentId, agent.id);

  await item().first().waitFor();
  assert.equal(await item().count(), 1);
  await item().getByText("Front Desk").waitFor();
  await item().getByText("+1 415 867 5309").waitFor();
  await item().getByText("Ringing", { exact: true }).waitFor();
  // The page shows the only call without being asked, and the URL names it.
  await page.waitForURL(new RegExp(`#/live/${call.callId}$`));
  assert.equal(await item().getAttribute("aria-current"), "true");
  await detail().getByRole("heading", { name: "Front Desk" }).waitFor();
  await detail().getByText("Waiting for the first words…").waitFor();
  await page.getByTestId("live-calls").getByText("1 live call").waitFor();
  assert.ok(await page.evaluate(() => window.__sameDocument === true), "the page was not reloaded");
});

test("the media stream connects: the call is in progress, its clock runs, the backend has the agent", async () => {
  media = await twilioMediaStream(engine, { callSid: SID, callId: call.callId, agentId: call.agentId });
  media.silence(10);
  await item().getByText("In progress", { exact: true }).waitFor();
  await detail().getByText("In progress", { exact: true }).waitFor();
  await until("the backend to be configured", () => realtime.instructions().length >= 1);
  assert.equal(realtime.latest().authorization, "Bearer sk-test");
  assert.match(realtime.instructions()[0], /Acme Plumbing/, "the agent's prompt reaches the backend");

  const first = await elapsed(item()).textContent();
  assert.match(first, /^\d+:\d\d$/, `a running clock (${first})`);
  await until("the clock to tick", async () => (await elapsed(item()).textContent()) !== first, 4_000);
  assert.match(await elapsed(detail()).textContent(), /^\d+:\d\d$/);
});

test("what the caller and the agent say appears live, in order", async () => {
  realtime.callerSays("My sink is leaking.");
  await transcript().getByText("My sink is leaking.").waitFor();
  realtime.agentSays("I can send a plumber.");
  await transcript().getByText("I can send a plumber.").waitFor();
  assert.deepEqual(await transcript().locator(".transcript .speaker").allTextContents(), ["Caller", "Agent"]);
});

test("the transcript follows the newest line, unless the operator scrolled up to read", async () => {
  for (let i = 1; i <= 14; i++) {
    if (i % 2) realtime.callerSays(`It is under the kitchen sink, line ${i}.`);
    else realtime.agentSays(`Understood, noted for the plumber, line ${i}.`);
  }
  await transcript().getByText("line 14.", { exact: false }).waitFor();
  const atBottom = () => transcript().evaluate((el) => el.scrollHeight - el.scrollTop - el.clientHeight < 4);
  const scrolls = await transcript().evaluate((el) => el.scrollHeight > el.clientHeight);
  assert.ok(scrolls, "enough lines to scroll");
  await until("the transcript to be scrolled to the newest line", atBottom, 3_000);

  // The operator scrolls up with the wheel; the page hears it before the next line comes.
  await transcript().hover();
  await page.mouse.wheel(0, -10_000);
  await until("the transcript to be scrolled to the top", () => transcript().evaluate((el) => el.scrollTop === 0));
  await transcript().evaluate(() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r))));
  realtime.callerSays("Can they come today?");
  await transcript().getByText("Can they come today?").waitFor();
  const jump = detail().getByRole("button", { name: /1 new line/ });
  await jump.waitFor();
  assert.equal(await transcript().evaluate((el) => el.scrollTop), 0, "the operator's reading position is kept");
  await jump.click();
  await until("the jump to the newest line", atBottom, 3_000);
  await jump.waitFor({ state: "detached" });
});

test("screenshots of a live call at 1280x800 and 1024x700", async () => {
  for (const [w, h] of [
    [1280, 800],
    [1024, 700],
  ]) {
    await page.setViewportSize({ width: w, height: h });
    await page.waitForTimeout(150);
    const [scroll, client] = await page.evaluate(() => [
      document.documentElement.scrollWidth,
      document.documentElement.clientWidth,
    ]);
    assert.ok(scroll <= client, `${w}: the window does not scroll sideways (${scroll} > ${client})`);
    await page.screenshot({ path: `/tmp/live-call-${w}.png` });
  }
});

test("the context editor refuses what is not a JSON object", async () => {
  // At 1024x700 the editor folds away under the transcript until asked for.
  const editor = detail().getByLabel("Call context");
  assert.ok(!(await editor.isVisible()), "folded away on a narrow window");
  await detail().getByText("none for this call").waitFor();
  await detail().getByRole("button", { name: "Edit context" }).click();
  await editor.waitFor();
  const apply = detail().getByRole("button", { name: "Apply to call" });
  assert.equal(await editor.inputValue(), "{}", "the call's stored context to start from");
  assert.ok(await apply.isDisabled(), "nothing to apply before an edit");
  await editor.fill('{"name": "Ada",}');
  await detail().getByText("Invalid JSON").waitFor();
  assert.ok(await apply.isDisabled(), "invalid JSON cannot be applied");
  await editor.fill('"Ada"');
  await detail().getByText("Context must be a JSON object ({ … }), not a string.").waitFor();
  assert.ok(await apply.isDisabled(), "a non-object cannot be applied");
  await page.screenshot({ path: "/tmp/live-context-invalid-1024.png" });
});

test("a call context edit reaches the live voice session, and the page says when it is applied", async () => {
  const before = realtime.instructions().length;
  const editor = detail().getByLabel("Call context");
  await editor.fill('{"name": "Ada Lovelace", "plan": "Gold support"}');
  await detail().getByText("Valid JSON object with 2 keys.").waitFor();
  await detail().getByRole("button", { name: "Apply to call" }).click();
  await detail().getByText("Applied to the live call").waitFor();

  const sent = realtime.instructions().slice(before);
  assert.equal(sent.length, 1, `one session.update with the new instructions (${JSON.stringify(sent)})`);
  assert.match(sent[0], /Gold support/, "the call's context is in the new instructions");
  assert.match(sent[0], /Ada Lovelace/);
  const stored = await api(engine.base, "GET", `/api/calls/${call.callId}`);
  assert.deepEqual(stored.body.context, { name: "Ada Lovelace", plan: "Gold support" });
  assert.deepEqual(JSON.parse(await editor.inputValue()), { name: "Ada Lovelace", plan: "Gold support" });
  await page.screenshot({ path: "/tmp/live-context-applied-1024.png" });
  await page.setViewportSize({ width: 1280, height: 800 });
  await page.screenshot({ path: "/tmp/live-context-applied-1280.png" });
  await page.setViewportSize({ width: 1024, height: 700 });
});

test("the agent's context can be changed from the call, and reaches it too", async () => {
  const before = realtime.instructions().length;
  await detail().getByRole("button", { name: "Agent", exact: true }).click();
  const editor = detail().getByLabel("Front Desk’s context");
  assert.equal(await editor.inputValue(), "{}");
  await editor.fill('{"opening_hours": "Mon-Fri 8-18"}');
  await detail().getByRole("button", { name: "Apply to agent" }).click();
  await detail().getByText("Applied to the live call").waitFor();
  const sent = realtime.instructions().slice(before);
  assert.equal(sent.length, 1);
  assert.match(sent[0], /Mon-Fri 8-18/, "the agent's context is in the new instructions");
  assert.match(sent[0], /Gold support/, "the call's own context stays");
  const stored = await api(engine.base, "GET", `/api/agents/${agent.id}`);
  assert.deepEqual(stored.body.context, { opening_hours: "Mon-Fri 8-18" });
  await detail().getByRole("button", { name: "This call" }).click();
  await detail().getByLabel("Call context").waitFor();
});

test("Listen plays the call through this computer's speakers, with a volume, until stopped", async () => {
  // The engine opens the speaker of the sound server test.sh starts (scripts/audio-rig.sh).
  const listen = detail().getByRole("button", { name: "Listen", exact: true });
  assert.equal(await listen.getAttribute("aria-pressed"), "false");
  const asked = page.waitForRequest((r) => r.url().endsWith("/api/listen") && r.method() === "PUT");
  await listen.click();
  assert.deepEqual((await asked).postDataJSON(), { call_id: call.callId });
  const stop = detail().getByRole("button", { name: "Stop listening" });
  await stop.waitFor();
  assert.equal(await stop.getAttribute("aria-pressed"), "true");
  assert.equal((await api(engine.base, "GET", "/api/listen")).body.call_id, call.callId, "the engine plays it");

  const volume = detail().getByRole("slider", { name: "Volume" });
  const louder = page.waitForRequest((r) => r.url().endsWith("/api/listen") && r.method() === "PUT");
  await volume.fill("40");
  assert.deepEqual((await louder).postDataJSON(), { call_id: call.callId, volume: 0.4 });
  await page.waitForTimeout(100);
  assert.equal((await api(engine.base, "GET", "/api/listen")).body.volume, 0.4);
  await page.screenshot({ path: "/tmp/live-listening-1024.png" });
  await page.setViewportSize({ width: 1280, height: 800 });
  await page.screenshot({ path: "/tmp/live-listening-1280.png" });
  await page.setViewportSize({ width: 1024, height: 700 });

  await stop.click();
  await listen.waitFor();
  assert.equal((await api(engine.base, "GET", "/api/listen")).body.call_id, null, "and stops");
});

test("Take over gives the operator the call; Hand back returns it to the agent, told what was said", async () => {
  await detail().getByRole("button", { name: "Listen", exact: true }).click();
  await detail().getByRole("button", { name: "Stop listening" }).waitFor();
  const take = detail().getByRole("button", { name: "Take over" });
  await take.click();
  const flag = detail().getByRole("status").filter({ hasText: "You have the call" });
  await flag.waitFor();
  assert.equal((await api(engine.base, "GET", "/api/listen")).body.taken_over, true, "the engine has it taken over");
  assert.equal(await take.count(), 0, "Take over gives way to Hand back");
  // The agent's session is paused; a second one only transcribes the operator.
  await until("the agent to be paused", () =>
    realtime.sessions[0].events.some(
      (e) => e.type === "session.update" && e.session?.audio?.input?.turn_detection?.create_response === false,
    ),
  );
  await until("the operator's transcriber", () => realtime.sessions.length === 2);
  realtime.transcribesOn(1, "This is Sam from the front desk.");
  const said = transcript().locator("li.line-operator").filter({ hasText: "This is Sam from the front desk." });
  await said.waitFor();
  assert.equal(await said.locator(".speaker").textContent(), "Operator");
  await transcript().getByText("An operator took the call over.").waitFor();
  await page.setViewportSize({ width: 1280, height: 800 });
  await page.screenshot({ path: "/tmp/live-taken-over-1280.png" });
  await page.setViewportSize({ width: 1024, height: 700 });
  await page.screenshot({ path: "/tmp/live-taken-over-1024.png" });
  await page.setViewportSize({ width: 1280, height: 800 });

  await detail().getByRole("button", { name: "Hand back to agent" }).click();
  await flag.waitFor({ state: "detached" });
  await detail().getByRole("button", { name: "Take over" }).waitFor();
  await until("the agent to be told what was said", () =>
    realtime.sessions[0].events.some(
      (e) =>
        e.type === "conversation.item.create" &&
        e.item.role === "system" &&
        e.item.content[0].text.includes("Operator: This is Sam from the front desk."),
    ),
  );
  await transcript().getByText("The operator handed the call back to the agent.").waitFor();
  await detail().getByRole("button", { name: "Stop listening" }).click();
  await detail().getByRole("button", { name: "Listen", exact: true }).waitFor();
});

test("a whisper reaches the agent as a private note, and the transcript as the operator's", async () => {
  const note = detail().getByLabel("Note to the agent");
  const send = detail().getByRole("button", { name: "Send note" });
  assert.ok(await send.isDisabled(), "nothing to send yet");
  await note.fill("Offer the 10% discount.");
  await send.click();
  await detail().getByText("The agent has it.").waitFor();
  assert.equal(await note.inputValue(), "", "the box is ready for the next note");
  await until("the note to reach the agent", () =>
    realtime.sessions[0].events.some(
      (e) => e.type === "session.update" && e.session.instructions?.includes("- Offer the 10% discount."),
    ),
  );
  await transcript()
    .locator("li.line-operator")
    .filter({ hasText: "(note to the agent, not heard by the caller) Offer the 10% discount." })
    .waitFor();
});

test("a warm transfer shows on the call while the person is called, and its end when nobody answers", async () => {
  const summary = "Jo's sink is leaking; they want a plumber today.";
  const responses = () => realtime.latest().events.filter((e) => e.type === "response.create").length;
  const before = responses();
  realtime.agentCalls("transfer_call", JSON.stringify({ target: "manager", summary }));
  // The agent tells the caller to hold (a response with no audio here), then the person is called.
  await until("the engine to ask for the agent's words", () => responses() > before);
  realtime.push({ type: "response.created", response: { id: "resp_hold", status: "in_progress", output: [] } });
  realtime.push({ type: "response.done", response: { id: "resp_hold", status: "completed", output: [] } });
  const placed = await until("the person to be called", () =>
    twilioApi.requests.find((r) => r.path.endsWith("/Calls.json")),
  );
  assert.equal(placed.form.To, "+14155550177");
  assert.match(placed.form.Twiml, /Jo&apos;s sink is leaking/);
  const banner = detail().getByRole("status").filter({ hasText: "Warm transfer" });
  await banner.getByText("manager (+1 415 555 0177)", { exact: false }).waitFor();
  await banner.getByText("Calling", { exact: true }).waitFor();
  await page.screenshot({ path: "/tmp/live-warm-transfer-1280.png" });

  // Twilio reports the person's phone was not answered: the banner goes, the agent is told.
  const status = new URL(placed.form.StatusCallback);
  const res = await fetch(`${engine.public}${status.pathname}${status.search}`, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({
      AccountSid: ACCOUNT_SID,
      CallSid: placed.reply.sid,
      CallStatus: "no-answer",
    }).toString(),
  });
  assert.equal(res.status, 204);
  await banner.waitFor({ state: "detached" });
  await transcript()
    .locator("li.line-tool")
    .filter({ hasText: "transfer_call failed: manager (+14155550177): nobody answered" })
    .waitFor();
  await until("the agent to be told", () =>
    realtime
      .latest()
      .events.some(
        (e) =>
          e.type === "conversation.item.create" &&
          e.item.role === "system" &&
          /nobody answered/.test(e.item.content[0].text),
      ),
  );
  // The call log keeps the transfer, with what the person would have been told.
  const record = await api(engine.base, "GET", `/api/calls/${call.callId}`);
  assert.equal(record.body.transfers.length, 1);
  assert.deepEqual([record.body.transfers[0].state, record.body.transfers[0].detail], ["failed", "nobody answered"]);
  // And the call log shows it too, in another window.
  const other = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  other.on("pageerror", (e) => errors.push(e.message));
  await other.goto(`${engine.base}/#/calls/${call.callId}`);
  await other.getByLabel("Control API token").fill(token);
  await other.getByLabel("Control API token").press("Enter");
  const transfers = other.locator("aside.panel").getByRole("region", { name: "Transfers" });
  await transfers.getByText("Warm transfer to", { exact: false }).waitFor();
  await transfers.getByText("— nobody answered", { exact: false }).waitFor();
  await transfers.getByText(`Summary for them: “Hello, this is Front Desk`, { exact: false }).waitFor();
  await transfers.scrollIntoViewIfNeeded();
  await other.screenshot({ path: "/tmp/calls-transfer-1280.png" });
  await other.close();
  realtime.push({ type: "response.created", response: { id: "resp_sorry", status: "in_progress", output: [] } });
  realtime.push({ type: "response.done", response: { id: "resp_sorry", status: "completed", output: [] } });
  // The tests after this one count Twilio's requests from here (the hang-ups).
  twilioApi.requests.splice(0);
});

test("Listen in browser plays the call's audio stream, with a level meter", async () => {
  const listen = detail().getByRole("button", { name: "Listen in browser" });
  const opened = page.waitForEvent("websocket", (ws) => ws.url().includes(`/api/calls/${call.callId}/audio`));
  await listen.click();
  await opened;
  const meter = detail().getByRole("meter", { name: "Call audio level" });
  await meter.waitFor();
  // The caller speaks: a 1 kHz tone for a second reaches the meter through the engine's tap.
  const speaking = setInterval(() => media.tone(5, 1000), 100);
  try {
    await until("the meter to move", async () => Number(await meter.getAttribute("aria-valuenow")) > 60);
  } finally {
    clearInterval(speaking);
  }
  await page.screenshot({ path: "/tmp/live-browser-listen-1280.png" });
  await detail().getByRole("button", { name: "Stop in browser" }).click();
  await meter.waitFor({ state: "detached" });
  await listen.waitFor();
});

test("End call asks first; Cancel leaves the call up", async () => {
  await detail().getByRole("button", { name: "End call" }).click();
  const dialog = page.getByRole("dialog", { name: "End this call?" });
  await dialog.getByText("+1 415 867 5309").waitFor();
  assert.ok(
    await dialog.getByRole("button", { name: "Cancel" }).evaluate((b) => b === document.activeElement),
    "the safe choice has the focus",
  );
  await page.keyboard.press("Escape");
  await dialog.waitFor({ state: "detached" });
  await page.waitForTimeout(300);
  assert.ok(media.open, "Cancel leaves the call up");
  assert.equal(twilioApi.requests.length, 0, "Twilio was not asked anything");
});

test("End call hangs up through Twilio, closes the media stream and takes the call off the list", async () => {
  await detail().getByRole("button", { name: "End call" }).click();
  const dialog = page.getByRole("dialog", { name: "End this call?" });
  await dialog.getByRole("button", { name: "End call" }).click();
  await dialog.waitFor({ state: "detached" });

  const closed = await media.closed;
  assert.ok(closed.byEngine, "the engine closed the media stream");
  await until("Twilio to be asked to hang up", () => twilioApi.requests.length > 0);
  assert.equal(twilioApi.requests[0].path, `/2010-04-01/Accounts/${ACCOUNT_SID}/Calls/${SID}.json`);
  assert.deepEqual(twilioApi.requests[0].form, { Status: "completed" });

  await main().getByText("No live calls right now.").waitFor();
  assert.equal(await item().count(), 0, "the ended call left the live list");
  // The operator keeps what they were reading.
  await detail().getByText("This call is over — ended by an operator.").waitFor();
  await transcript().getByText("My sink is leaking.").waitFor();
  await detail().getByText("Completed", { exact: true }).waitFor();
  assert.equal(await detail().getByRole("button", { name: "End call" }).count(), 0);
  await detail().getByText("its context can no longer change").waitFor();
  assert.equal(await detail().getByRole("button", { name: "Apply to call" }).count(), 0);
  assert.deepEqual(JSON.parse(await detail().getByLabel("Call context").textContent()), {
    name: "Ada Lovelace",
    plan: "Gold support",
    operator_notes: ["Offer the 10% discount."],
  });
  await page.getByTestId("live-calls").getByText("0 live calls").waitFor();
  await page.screenshot({ path: "/tmp/live-ended-1024.png" });

  const record = (await api(engine.base, "GET", `/api/calls/${call.callId}`)).body;
  assert.equal(record.status, "completed");
  assert.equal(record.hangup_cause, "ended by an operator");
  const again = await api(engine.base, "POST", `/api/calls/${call.callId}/hangup`);
  assert.equal(again.status, 409, "an ended call cannot be ended again");

  await detail().getByRole("link", { name: "Close" }).click();
  await main().getByRole("heading", { name: "No live calls" }).waitFor();
  assert.ok(await page.evaluate(() => window.__sameDocument === true), "the page was not reloaded");
});

test("a call the carrier will not hang up says why; trying again ends it", async () => {
  // A second call, still ringing (no media stream): the engine hangs it up through Twilio.
  const sid = callSid();
  const second = await twilioInboundCall(engine, { callSid: sid, from: "+14155550199", to: MANAGED });
  await page.waitForURL(new RegExp(`#/live/${second.callId}$`));
  await item().getByText("+1 415 555 0199").waitFor();
  await detail().getByText("Ringing", { exact: true }).waitFor();
  await detail().getByText("Waiting for the first words…").waitFor();

  twilioApi.failNext(401, 20003, "Authenticate");
  const before = twilioApi.requests.length;
  await detail().getByRole("button", { name: "End call" }).click();
  const dialog = page.getByRole("dialog", { name: "End this call?" });
  await dialog.getByRole("button", { name: "End call" }).click();
  const alert = dialog.getByRole("alert");
  await alert.getByText("The carrier could not be told to hang up").waitFor();
  await alert.getByText("Twilio refused hang up (401): Authenticate", { exact: false }).waitFor();
  await page.screenshot({ path: "/tmp/live-end-error-1024.png" });

  await dialog.getByRole("button", { name: "Try again" }).click();
  await dialog.waitFor({ state: "detached" });
  await detail().getByRole("button", { name: "Ending…" }).waitFor();
  const asked = twilioApi.requests.slice(before).map((r) => r.path);
  assert.deepEqual(
    asked,
    [0, 1].map(() => `/2010-04-01/Accounts/${ACCOUNT_SID}/Calls/${sid}.json`),
  );

  // Twilio then reports the end, and the call leaves the list.
  await twilioStatus(engine, { CallSid: sid, CallStatus: "canceled", SequenceNumber: "1" });
  await main().getByText("No live calls right now.").waitFor();
  await detail().getByText("Canceled", { exact: true }).waitFor();
  await detail().getByText("This call is over").waitFor();
  await detail().getByText("Nothing was said on this call.").waitFor();
  assert.deepEqual(errors, [], "no uncaught errors in the page");
});

test("after the event stream lagged, the page reloads the calls and lines it missed", async () => {
  // A second window whose event stream loses every call event and transcript line until the
  // engine would say it lagged: here the test says it, the way the engine does.
  const other = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  other.on("pageerror", (e) => errors.push(e.message));
  const liveLists = { asked: 0, answered: 0 };
  const isLiveList = (r) => /\/api\/calls\?.*status=live/.test(r.url());
  other.on("request", (r) => {
    if (isLiveList(r)) liveLists.asked += 1;
  });
  other.on("requestfinished", (r) => {
    if (isLiveList(r)) liveLists.answered += 1;
  });
  let dropping = true;
  let toPage;
  await other.routeWebSocket(/\/api\/events/, (ws) => {
    toPage = ws;
    const server = ws.connectToServer();
    server.onMessage((m) => {
      if (!dropping || !/"type":"(call_created|call_updated|transcript_line)"/.test(m)) ws.send(m);
    });
  });
  await other.goto(`${engine.base}/#/live`);
  await other.getByLabel("Control API token").fill(token);
  await other.getByLabel("Control API token").press("Enter");
  const otherMain = other.locator("main");
  await otherMain.getByRole("heading", { name: "No live calls" }).waitFor();
  await other.getByTestId("engine-status").getByText("Engine connected").waitFor();
  // The page asks for the live list when it starts and again when the stream opens: a call
  // placed before the second answer would come in by that answer, not by an event.
  await until("both live-list answers", () => liveLists.asked >= 2 && liveLists.answered === liveLists.asked);

  const sid = callSid();
  const third = await twilioInboundCall(engine, { callSid: sid, from: "+14155550142", to: MANAGED });
  const sessions = realtime.sessions.length;
  const stream = await twilioMediaStream(engine, { callSid: sid, callId: third.callId, agentId: third.agentId });
  await until(
    "a voice session for the call",
    () => realtime.sessions.length > sessions && realtime.instructions().length,
  );
  realtime.callerSays("Hello, is anyone there?");
  await until("the line to be stored", async () => {
    const { body } = await api(engine.base, "GET", `/api/calls/${third.callId}`);
    return body.transcript.length === 1 && body.status === "in_progress";
  });
  await other.waitForTimeout(300);
  assert.equal(await otherMain.getByRole("heading", { name: "No live calls" }).count(), 1, "the events were lost");

  toPage.send(JSON.stringify({ type: "lagged", missed: 4 }));
  await otherMain.getByRole("list", { name: "Live calls" }).getByText("+1 415 555 0142").waitFor();
  await other.waitForURL(new RegExp(`#/live/${third.callId}$`));
  await otherMain.getByRole("log", { name: "Transcript" }).getByText("Hello, is anyone there?").waitFor();

  // With events flowing again, the caller hanging up takes the call off the list.
  dropping = false;
  stream.stop();
  await otherMain.getByText("No live calls right now.").waitFor();
  await otherMain.getByText("This call is over").waitFor();
  await other.close();
  assert.deepEqual(errors, [], "no uncaught errors in either page");
});

test("the call log finds a call by what was said, the words marked, and exports what it shows as CSV", async () => {
  const other = await browser.newPage({ viewport: { width: 1280, height: 800 }, acceptDownloads: true });
  other.on("pageerror", (e) => errors.push(e.message));
  await other.goto(`${engine.base}/#/calls`);
  await other.getByLabel("Control API token").fill(token);
  await other.getByLabel("Control API token").press("Enter");
  const otherMain = other.locator("main");
  const table = otherMain.getByRole("table", { name: "Calls" });
  await table.locator("tbody tr").first().waitFor();
  const all = await table.locator("tbody tr").count();
  assert.ok(all >= 3, `several calls in the log (${all})`);

  await otherMain.getByLabel("Search transcripts").fill("sink leak");
  await otherMain.getByText("1 call match").waitFor();
  const row = table.locator("tbody tr");
  assert.equal(await row.count(), 1);
  assert.deepEqual(await row.locator("mark").allTextContents(), ["sink", "leaking"], "the last word as a word's start");
  await row.getByText("Caller:").waitFor();
  await other.screenshot({ path: "/tmp/calls-search-1280.png" });

  const download = other.waitForEvent("download");
  await otherMain.getByRole("button", { name: "Export CSV" }).click();
  const file = await download;
  assert.match(file.suggestedFilename(), /^calls-\d{8}-\d{4}\.csv$/);
  const csv = await new Promise((ok, fail) => {
    file.createReadStream().then((s) => {
      let text = "";
      s.on("data", (d) => (text += d));
      s.on("end", () => ok(text));
      s.on("error", fail);
    }, fail);
  });
  const lines = csv.trim().split("\n");
  assert.equal(lines.length, 2, `a header and the one call found:\n${csv}`);
  assert.match(lines[0], /^id,started_at,direction,status,from,to,agent,/);
  assert.ok(lines[1].startsWith(`${call.callId},`), lines[1]);

  // Words nobody said: nothing, said so.
  await otherMain.getByLabel("Search transcripts").fill("zebra crossing");
  await otherMain.getByText("No calls match these filters").waitFor();
  await other.close();
  assert.deepEqual(errors, [], "no uncaught errors");
});

test("a recorded call plays in the call log, the line being heard marked; deleting it takes its recording too", async () => {
  const put = await api(engine.base, "PUT", `/api/agents/${agent.id}`, {
    record_calls: true,
    recording_disclosure: "This call is recorded.",
  });
  assert.equal(put.status, 200);
  const sid = callSid();
  const rec = await twilioInboundCall(engine, { callSid: sid, from: "+14155550188", to: MANAGED });
  const sessions = realtime.sessions.length;
  const stream = await twilioMediaStream(engine, { callSid: sid, callId: rec.callId, agentId: rec.agentId });
  await until("a voice session for the call", () => realtime.sessions.length > sessions);
  // Three seconds of the caller, in real time (the recording's clock); a line said a second in.
  for (let i = 0; i < 150; i++) {
    stream.tone(1, 800);
    if (i === 50) realtime.callerSays("I would like a plumber on Friday morning.");
    await new Promise((r) => setTimeout(r, 20));
  }
  stream.stop();
  const recorded = await until("the recording's length", async () => {
    const { body } = await api(engine.base, "GET", `/api/calls/${rec.callId}`);
    return body.recording?.duration_ms ? body : null;
  });
  assert.ok(recorded.recording.duration_ms >= 2900, JSON.stringify(recorded.recording));

  const other = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  other.on("pageerror", (e) => errors.push(e.message));
  await other.goto(`${engine.base}/#/calls/${rec.callId}`);
  await other.getByLabel("Control API token").fill(token);
  await other.getByLabel("Control API token").press("Enter");
  await other.getByRole("heading", { name: "Recording" }).waitFor();
  const audio = other.getByLabel("Call recording");
  await until("the recording to load", () =>
    audio.evaluate((a) => a.readyState >= 1 && Math.abs(a.duration - 3) < 0.3),
  );
  const line = other.locator("li", { hasText: "I would like a plumber on Friday morning." });
  await line.getByRole("button", { name: /^Play from 0:0\d$/ }).click();
  await until("the line to be marked as it plays", async () => (await line.getAttribute("aria-current")) === "true");
  const at = await audio.evaluate((a) => a.currentTime);
  assert.ok(at >= 0.8 && at < 3, `played from the line, ${at} s in`);
  await other.screenshot({ path: "/tmp/calls-recording-1280.png" });

  await other.getByRole("button", { name: "Delete", exact: true }).click();
  await other.getByRole("dialog").getByText("its transcript and its recording are deleted for good").waitFor();
  await other.getByRole("button", { name: "Delete call" }).click();
  await other.getByText("Call deleted").waitFor();
  const gone = await api(engine.base, "GET", `/api/calls/${rec.callId}`);
  assert.equal(gone.status, 404);
  await other.close();
  assert.deepEqual(errors, [], "no uncaught errors");
});
