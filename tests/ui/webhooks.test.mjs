// Settings → Webhooks end to end: an endpoint added in the page (its secret shown once), a call
// carried by carrier webhooks to a real engine, its events delivered to a loopback receiver
// that checks each signature and refuses the first request, the delivery log updating live,
// and a redelivery sent under the same idempotency key. Needs an OS keyring (the secrets live
// there): run under dbus-run-session with gnome-keyring unlocked.
import assert from "node:assert/strict";
import { createHmac, randomBytes } from "node:crypto";
import { mkdirSync } from "node:fs";
import { createServer } from "node:http";
import { after, before, test } from "node:test";
import { api, launchBrowser, openPage, startEngine, token } from "./harness.mjs";
import { until } from "./live-sims.mjs";

const shots = "/tmp/ui-shots";
const ACCOUNT = "AC0123456789abcdef0123456789abcdef";
const SID = "CA0123456789abcdef0123456789abcd01";
const MANAGED = "+14155552671";

let engine;
let browser;
let page;
let receiver;
let secret = null;
/** Every request the receiver got: key, type, whether its signature checked out, answer. */
const got = [];
let refuseNext = 1;
const errors = [];

/** The receiver's check, from docs/WEBHOOKS.md. */
function verify(header, body) {
  const parts = Object.fromEntries(header.split(",").map((p) => p.split("=", 2)));
  const expected = createHmac("sha256", secret).update(`${parts.t}.`).update(body).digest("hex");
  return expected === parts.v1 && Math.abs(Date.now() / 1000 - Number(parts.t)) < 300;
}

before(async () => {
  receiver = createServer((req, res) => {
    const chunks = [];
    req.on("data", (c) => chunks.push(c));
    req.on("end", () => {
      const body = Buffer.concat(chunks);
      const verified = secret !== null && verify(req.headers["switchboard-signature"] ?? "", body);
      const status = !verified ? 400 : refuseNext > 0 ? 500 : 200;
      if (verified && refuseNext > 0) refuseNext -= 1;
      got.push({ key: req.headers["idempotency-key"], type: req.headers["switchboard-event-type"], verified, status });
      res.writeHead(status, { "content-type": "text/plain" }).end(status === 200 ? "ok" : "try later");
    });
  });
  await new Promise((ok) => receiver.listen(0, "127.0.0.1", ok));
  engine = await startEngine({
    args: ["--insecure-skip-webhook-signatures", "--public-url", "https://sb.example.test"],
    env: {
      SWITCHBOARD_NO_KEYRING: "false",
      SWITCHBOARD_KEYRING_SERVICE: `switchboard-ui-webhooks-${randomBytes(6).toString("hex")}`,
      SWITCHBOARD_WEBHOOK_RETRY_BASE_MS: "200",
    },
  });
  browser = await launchBrowser();
  page = await openPage(browser, 1280, 900, errors);
});

after(async () => {
  await browser?.close();
  await engine?.stop();
  await new Promise((ok) => (receiver ? receiver.close(ok) : ok()));
});

const card = () => page.locator("section", { has: page.getByRole("heading", { name: "Webhooks to your systems" }) });
const log = () => card().getByRole("table", { name: "Deliveries" });

async function twilio(path, params) {
  const res = await fetch(`${engine.public}/webhooks/twilio/${path}`, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({ AccountSid: ACCOUNT, CallSid: SID, ...params }).toString(),
  });
  return res.status;
}

test("a webhook is added in Settings and its secret shown once", async () => {
  const agent = await api(engine.base, "POST", "/api/agents", { name: "Front Desk" });
  const number = await api(engine.base, "POST", "/api/phone-numbers", {
    number: MANAGED,
    carrier: "twilio",
    inbound_agent_id: agent.body.id,
  });
  assert.equal(number.status, 201);

  await page.goto(`${engine.base}/#/settings`);
  await page.getByLabel("Control API token").fill(token);
  await page.getByLabel("Control API token").press("Enter");
  await card().getByText("No webhooks yet").waitFor();
  const url = `http://127.0.0.1:${receiver.address().port}/hooks`;
  await card().getByLabel("URL").fill(url);
  await card().getByLabel("Description (optional)").fill("Sales CRM");
  await card().getByRole("button", { name: "Add webhook" }).click();

  const shown = card()
    .locator(".banner code")
    .filter({ hasText: /^whsec_/ });
  await shown.waitFor();
  secret = await shown.textContent();
  mkdirSync(shots, { recursive: true });
  await page.screenshot({ path: `${shots}/settings-webhooks-secret-1280.png` });
  assert.match(secret, /^whsec_[A-Za-z0-9_-]{43}$/);
  await card().getByRole("table", { name: "Webhooks" }).getByText(url).waitFor();
  await card().getByText("Nothing sent yet").waitFor();
  const listed = await api(engine.base, "GET", "/api/webhooks");
  assert.equal(listed.body.length, 1);
  assert.ok(!JSON.stringify(listed.body).includes(secret), "the list never carries the secret");
  await card().getByRole("button", { name: "Done" }).click();
  assert.equal(
    await card()
      .locator(".banner code")
      .filter({ hasText: /^whsec_/ })
      .count(),
    0,
    "shown once",
  );
});

test("a call's events appear in the delivery log live, retried, and are redelivered under the same key", async () => {
  assert.equal(
    await twilio("voice", { CallStatus: "ringing", Direction: "inbound", From: "+14158675309", To: MANAGED }),
    200,
  );
  assert.equal(await twilio("status", { CallStatus: "in-progress", SequenceNumber: "1" }), 204);
  assert.equal(await twilio("status", { CallStatus: "completed", CallDuration: "31", SequenceNumber: "2" }), 204);

  // Both events delivered, the first after one refused attempt.
  await log().locator("tbody tr").nth(1).waitFor();
  await page.waitForFunction(
    () => document.querySelectorAll('table[aria-label="Deliveries"] tbody tr .badge-good').length === 2,
  );
  const rows = log().locator("tbody tr");
  const types = await rows.locator("td:nth-child(2)").allTextContents();
  assert.deepEqual(types.sort(), ["call.ended", "call.started"]);
  const attempts = (await rows.locator("td:nth-child(4)").allTextContents()).map(Number);
  assert.deepEqual(attempts.sort(), [1, 2], "the refused one was tried again");
  assert.ok(
    got.every((r) => r.verified),
    "every request is signed as documented",
  );
  assert.equal(new Set(got.map((r) => r.key)).size, 2, `two events, one key each: ${JSON.stringify(got)}`);

  mkdirSync(shots, { recursive: true });
  await card().scrollIntoViewIfNeeded();
  await page.screenshot({ path: `${shots}/settings-webhooks-1280.png`, fullPage: true });

  const ended = rows.filter({ hasText: "call.ended" });
  const before = got.length;
  await ended.getByRole("button", { name: "Redeliver" }).click();
  await until("the redelivery to reach the receiver", () => got.length > before);
  assert.equal(got.length, before + 1, "one more request");
  const again = got[before];
  assert.equal(again.type, "call.ended");
  assert.equal(again.status, 200);
  assert.ok(
    got.slice(0, before).some((r) => r.key === again.key && r.type === "call.ended"),
    "the same idempotency key as the first delivery",
  );
  await ended.locator(".badge-good").waitFor();
  assert.equal(await ended.locator("td:nth-child(4)").textContent(), "1", "a fresh schedule");
  assert.deepEqual(errors, []);
});
