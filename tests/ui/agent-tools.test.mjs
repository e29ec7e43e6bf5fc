// An agent's tools in its form, in headless Chromium against a real engine: switching on
// end_call, adding an HTTP tool (its schema, method, timeout and wait message reach the
// engine as given), a schema that is not JSON caught in the form, the engine's own refusal (a
// credential as a plain header) shown naming the tool, and a key saved in Settings → Tool
// secrets (a private keyring: scripts/test.sh runs these tests in a D-Bus session with
// gnome-keyring) sent by reference.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { api, launchBrowser, openPage, startEngine, token } from "./harness.mjs";

let engine;
let browser;
let page;
let agent;
const errors = [];

before(async () => {
  assert.ok(
    process.env.DBUS_SESSION_BUS_ADDRESS,
    "tool secrets need a Secret Service: run these tests through scripts/test.sh (a private gnome-keyring)",
  );
  engine = await startEngine({
    env: { SWITCHBOARD_NO_KEYRING: "false", SWITCHBOARD_KEYRING_SERVICE: `switchboard-ui-test-${process.pid}` },
  });
  const created = await api(engine.base, "POST", "/api/agents", { name: "Order desk" });
  assert.equal(created.status, 201);
  agent = created.body;
  browser = await launchBrowser();
  page = await openPage(browser, 1280, 900, errors);
  await page.goto(`${engine.base}/#/agents/${agent.id}`);
  await page.getByLabel("Control API token").fill(token);
  await page.getByRole("button", { name: "Sign in" }).click();
  await panel().getByRole("heading", { name: "Order desk" }).waitFor();
});

after(async () => {
  await browser?.close();
  await engine?.stop();
  assert.deepEqual(errors, [], "no uncaught errors in the page");
});

const panel = () => page.locator("aside.panel");
const tools = () => panel().getByRole("group", { name: "Tools" });
const card = (n) => tools().getByRole("region", { name: `Tool ${n}` });
const stored = async () => (await api(engine.base, "GET", `/api/agents/${agent.id}`)).body;

test("a tool added in the form, and end_call switched on, reach the engine as given", async () => {
  await tools().getByLabel("Can end the call", { exact: false }).check();
  await tools().getByRole("button", { name: "Add a tool" }).click();
  await card(1).getByLabel("Name").fill("lookup_order");
  await card(1).getByLabel("What it is for").fill("Find an order by its number. Ask for the number first.");
  await card(1).getByLabel("Method").selectOption("GET");
  await card(1).getByLabel("URL").fill("https://crm.example.test/orders");
  await card(1)
    .getByLabel("Arguments (JSON Schema)")
    .fill(
      JSON.stringify({ type: "object", required: ["order_id"], properties: { order_id: { type: "string" } } }, null, 2),
    );
  await card(1).getByLabel("Timeout (ms)").fill("2500");
  await card(1).getByLabel("Said while it runs").fill("One moment while I look.");
  await card(1).getByLabel("Headers").fill("X-Shop: north");
  await page.screenshot({ path: "/tmp/agent-tools-1280.png", fullPage: true });
  await panel().getByRole("button", { name: "Save changes" }).click();
  await panel().getByText("Saved", { exact: true }).waitFor();

  const a = await stored();
  assert.deepEqual(a.builtin_tools, ["end_call"]);
  assert.equal(a.tools.length, 1);
  assert.deepEqual(a.tools[0], {
    name: "lookup_order",
    description: "Find an order by its number. Ask for the number first.",
    method: "GET",
    url: "https://crm.example.test/orders",
    parameters: { type: "object", required: ["order_id"], properties: { order_id: { type: "string" } } },
    headers: [{ name: "X-Shop", value: "north" }],
    timeout_ms: 2500,
    wait_message: "One moment while I look.",
  });
});

test("a schema that is not JSON is caught in the form, and nothing is sent", async () => {
  await card(1).getByLabel("Arguments (JSON Schema)").fill("{ type: object");
  await tools().getByText("Tool 1 (lookup_order): the arguments' schema is not JSON", { exact: false }).waitFor();
  assert.equal(await panel().getByRole("button", { name: "Save changes" }).isDisabled(), true);
  await card(1).getByLabel("Arguments (JSON Schema)").fill('{"type": "object", "properties": {}}');
  assert.equal(await panel().getByRole("button", { name: "Save changes" }).isDisabled(), false);
});

test("the engine's refusal names the tool, and the agent is left as it was", async () => {
  await card(1).getByLabel("Headers").fill("Authorization: Bearer sk-live-123");
  await panel().getByRole("button", { name: "Save changes" }).click();
  const refusal = tools().getByText("tool 1: lookup_order: header", { exact: false });
  await refusal.waitFor();
  assert.match(await refusal.textContent(), /credential/);
  assert.doesNotMatch(await refusal.textContent(), /sk-live-123/, "the value is not echoed");
  await page.screenshot({ path: "/tmp/agent-tools-refused-1280.png" });
  assert.deepEqual((await stored()).tools[0].headers, [{ name: "X-Shop", value: "north" }]);
});

test("a key saved in Settings → Tool secrets goes by reference, and Settings says which tool uses it", async () => {
  await page.goto(`${engine.base}/#/settings`);
  const secretsCard = page.locator("section.card").filter({ has: page.getByRole("heading", { name: "Tool secrets" }) });
  await secretsCard.getByLabel("Name").fill("crm_token");
  await secretsCard.getByLabel("Value").fill("crm-secret-7f3a");
  await secretsCard.getByRole("button", { name: "Save secret" }).click();
  const row = secretsCard
    .getByRole("table", { name: "Tool secrets" })
    .getByRole("row")
    .filter({ hasText: "crm_token" });
  await row.getByText("No tool yet").waitFor();
  assert.equal(await secretsCard.getByLabel("Value").inputValue(), "", "the value is not kept in the page");

  await page.goto(`${engine.base}/#/agents/${agent.id}`);
  await card(1).getByLabel("Headers").fill("Authorization: Bearer {{secret:crm_token}}");
  await panel().getByRole("button", { name: "Save changes" }).click();
  await panel().getByText("Saved", { exact: true }).waitFor();
  assert.deepEqual((await stored()).tools[0].headers, [
    { name: "Authorization", value: "Bearer {{secret:crm_token}}" },
  ]);

  await page.goto(`${engine.base}/#/settings`);
  await row.getByText("Order desk: lookup_order").waitFor();
  assert.equal(await row.getByRole("button", { name: "Remove" }).isDisabled(), true, "kept while a tool uses it");
  await secretsCard.scrollIntoViewIfNeeded();
  await page.screenshot({ path: "/tmp/tool-secrets-1280.png" });
  const secrets = (await api(engine.base, "GET", "/api/tool-secrets")).body;
  assert.ok(!JSON.stringify(secrets).includes("crm-secret-7f3a"), "the value never comes back");
});

test("transfer targets are given one a line, checked, and kept as numbers", async () => {
  await page.goto(`${engine.base}/#/agents/${agent.id}`);
  await tools().getByLabel("Can transfer the call", { exact: false }).check();
  const targets = tools().getByLabel("Transfer targets");
  await targets.fill("front_desk +1 415 555 0100");
  await tools().getByText("Line 1: write “name | number or sip:URI | when to use”.").waitFor();
  assert.equal(await panel().getByRole("button", { name: "Save changes" }).isDisabled(), true);
  await targets.fill(
    "front_desk | +1 415 555 0100 | a person at reception\nsupport | sip:support@pbx.example.test |\nmanager | +1 415 555 0177 | complaints | warm 40s",
  );
  await page.screenshot({ path: "/tmp/agent-transfer-1280.png" });
  await panel().getByRole("button", { name: "Save changes" }).click();
  await panel().getByText("Saved", { exact: true }).waitFor();
  const a = await stored();
  assert.deepEqual(a.builtin_tools, ["end_call", "transfer_call"]);
  assert.deepEqual(a.transfer_targets, [
    { name: "front_desk", to: "+14155550100", description: "a person at reception", warm: false, ring_secs: 25 },
    { name: "support", to: "sip:support@pbx.example.test", description: "", warm: false, ring_secs: 25 },
    { name: "manager", to: "+14155550177", description: "complaints", warm: true, ring_secs: 40 },
  ]);
  // Read back as written.
  await page.reload();
  assert.match(
    await tools().getByLabel("Transfer targets").inputValue(),
    /manager \| \+14155550177 \| complaints \| warm 40s$/,
  );
  // A ring time the engine will not take is refused, naming the target.
  await targets.fill("manager | +1 415 555 0177 | complaints | warm 300s");
  await panel().getByRole("button", { name: "Save changes" }).click();
  await tools().getByText("ring_secs must be 5 to 120", { exact: false }).waitFor();
  // The engine's own check: a number that is none.
  await targets.fill("front_desk | 12 |");
  await panel().getByRole("button", { name: "Save changes" }).click();
  await tools().getByText("target 1 (front_desk)", { exact: false }).waitFor();
  assert.equal((await stored()).transfer_targets.length, 3, "nothing changed");
  await targets.fill("front_desk | +1 415 555 0100 | a person at reception\nsupport | sip:support@pbx.example.test |");
});

test("removing the tool leaves the built-in actions on and no HTTP tool", async () => {
  await page.goto(`${engine.base}/#/agents/${agent.id}`);
  await card(1).getByRole("button", { name: "Remove" }).click();
  await panel().getByRole("button", { name: "Save changes" }).click();
  await panel().getByText("Saved", { exact: true }).waitFor();
  const a = await stored();
  assert.deepEqual([a.tools, a.builtin_tools], [[], ["end_call", "transfer_call"]]);
});

test("pressing phone keys is switched on and off like the other built-in actions", async () => {
  await page.goto(`${engine.base}/#/agents/${agent.id}`);
  const keys = tools().getByLabel("Can press phone keys", { exact: false });
  await keys.check();
  await panel().getByRole("button", { name: "Save changes" }).click();
  await panel().getByText("Saved", { exact: true }).waitFor();
  assert.deepEqual((await stored()).builtin_tools, ["end_call", "transfer_call", "send_dtmf"]);
  await page.reload();
  assert.equal(await tools().getByLabel("Can press phone keys", { exact: false }).isChecked(), true);
  await tools().getByLabel("Can press phone keys", { exact: false }).uncheck();
  await panel().getByRole("button", { name: "Save changes" }).click();
  await panel().getByText("Saved", { exact: true }).waitFor();
  assert.deepEqual((await stored()).builtin_tools, ["end_call", "transfer_call"]);
});

test("an MCP server is added with its key by reference, and a key in plain text is refused naming it", async () => {
  await page.goto(`${engine.base}/#/agents/${agent.id}`);
  await tools().getByRole("button", { name: "Add an MCP server" }).click();
  const server = tools().getByRole("region", { name: "MCP server 1" });
  await server.getByLabel("Label").fill("crm");
  await server.getByLabel("Server URL").fill("https://mcp.example.test/mcp");
  await server.getByLabel("What it is for").fill("Customer records");
  await server.getByLabel("Only these tools").fill("lookup_customer, list_orders");
  await server.getByLabel("Headers").fill("Authorization: Bearer sk-live-123");
  await panel().getByRole("button", { name: "Save changes" }).click();
  await tools().getByText("server 1 (crm): header", { exact: false }).waitFor();
  assert.deepEqual((await stored()).mcp_servers, [], "nothing kept");
  await server.getByLabel("Headers").fill("Authorization: Bearer {{secret:crm_token}}");
  await server.scrollIntoViewIfNeeded();
  await page.screenshot({ path: "/tmp/agent-mcp-1280.png" });
  await panel().getByRole("button", { name: "Save changes" }).click();
  await panel().getByText("Saved", { exact: true }).waitFor();
  assert.deepEqual((await stored()).mcp_servers, [
    {
      label: "crm",
      url: "https://mcp.example.test/mcp",
      description: "Customer records",
      allowed_tools: ["lookup_customer", "list_orders"],
      headers: [{ name: "Authorization", value: "Bearer {{secret:crm_token}}" }],
    },
  ]);
});
