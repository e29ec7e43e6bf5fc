// The call log and a call's transcript. The engine has no telephony yet, so nothing can create
// calls through the API: the browser's requests for calls are answered with fixtures shaped by
// the OpenAPI document's `CallPage` and `CallDetail`, while everything else hits a real engine.
// Also: a token the engine stops accepting sends the operator back to the sign-in screen.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { launchBrowser, routeCalls, startEngine, token, openPage } from "./harness.mjs";

let engine;
let browser;
let page;
const errors = [];

const requests = [];

before(async () => {
  engine = await startEngine();
  browser = await launchBrowser();
  page = await openPage(browser, 1024, 700, errors);
  await routeCalls(page, requests);
});

after(async () => {
  await browser?.close();
  await engine?.stop();
});

const main = () => page.locator("main");

async function eventually(what, check, timeout = 5_000) {
  for (const end = Date.now() + timeout; Date.now() < end;) {
    if (check()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  assert.fail(`timed out waiting for ${what}; requests: ${requests.join(" ")}`);
}
const rows = () => main().locator("table tbody tr");

test("the call log lists calls newest first, with the live count in the status strip", async () => {
  await page.goto(`${engine.base}/#/calls`);
  await page.getByLabel("Control API token").fill(token);
  await page.getByLabel("Control API token").press("Enter");
  await main().getByText("30 calls in the log").waitFor();
  assert.equal(await rows().count(), 25, "one page holds 25 calls");
  await rows().first().getByText("In progress").waitFor();
  await page.getByTestId("live-calls").getByText("1 live call").waitFor();
});

test("paging and filters ask the API for the right slice", async () => {
  await main().getByRole("button", { name: "Older" }).click();
  await main().getByText("26–30 of 30").waitFor();
  assert.equal(await rows().count(), 5);
  assert.ok(
    requests.some((r) => r.includes("offset=25")),
    `a request asked for offset 25: ${requests.join(" ")}`,
  );

  await main().getByLabel("Status").selectOption("live");
  await main().getByText("1–1 of 1").waitFor();
  assert.ok(
    requests.some((r) => r.includes("status=live") && r.includes("offset=0")),
    "a filter change starts again from the first page",
  );
  await main().getByLabel("Status").selectOption("busy");
  await main().getByText("No calls match these filters").waitFor();
  await main().getByRole("button", { name: "Clear filters" }).first().click();
  await main().getByText("30 calls in the log").waitFor();

  await main().getByLabel("From").fill("2026-11-20");
  await main().getByLabel("To").fill("2026-11-19");
  await main().getByText("The start date is after the end date.").waitFor();
  await main().getByLabel("To").fill("2026-11-20");
  await eventually("a request with the date range as since/until", () =>
    requests.some((r) => r.includes("since=") && r.includes("until=")),
  );
  await main().getByRole("button", { name: "Clear filters" }).first().click();
});

test("a call's detail shows its transcript, speaker by speaker", async () => {
  await rows().nth(1).locator("a").click();
  const panel = page.locator("aside.panel");
  await panel.getByRole("heading", { name: "Inbound call" }).waitFor();
  const lines = panel.locator(".transcript li");
  await lines.first().waitFor();
  assert.deepEqual(await lines.locator(".speaker").allTextContents(), ["Agent", "Caller", "System"]);
  await panel.getByText("I'd like to move my appointment to Friday.").waitFor();
  await page.keyboard.press("Escape");
  await panel.waitFor({ state: "detached" });
  assert.deepEqual(errors, [], "no uncaught errors in the page");
});

test("a token the engine no longer accepts sends the operator back to sign in", async () => {
  await page.evaluate(() => localStorage.setItem("switchboard.token", "revoked-token"));
  await page.reload();
  await page.getByText("The engine no longer accepts the saved token").waitFor();
  await page.getByLabel("Control API token").fill(token);
  await page.getByLabel("Control API token").press("Enter");
  await main().getByText("30 calls in the log").waitFor();
});
