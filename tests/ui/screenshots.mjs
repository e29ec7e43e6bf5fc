// Captures every page of the UI at 1024x700 and 1280x800, with sample data, for a person to
// look at: node tests/ui/screenshots.mjs [out-dir]   (default /tmp/ui-shots; needs ui/dist).
import { mkdirSync } from "node:fs";
import { api, launchBrowser, routeCalls, startEngine, token } from "./harness.mjs";

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
    await visit("agents", "agents");
    await visit(`agents/${desk.id}`, "agent-panel");
    await page.getByLabel("Context").fill('{"hours": "9-5",\n "parking": }');
    await shot("agent-context-invalid");
    await page.getByRole("button", { name: "Delete" }).click();
    await page.getByRole("button", { name: "Delete agent" }).click();
    await page.getByText("is assigned to").waitFor();
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
    await visit("numbers", "numbers");
    await page.close();
  }

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
