// Phone Numbers without Twilio's console, against the real engine and a fake Twilio account:
// the account's numbers listed with where each sends its calls, one imported and pointed here,
// after the public URL changes, the banner and status strip that re-point it in one step; a
// number bought, then released when it is deleted.
import assert from "node:assert/strict";
import { createServer } from "node:http";
import { randomBytes } from "node:crypto";
import { after, before, test } from "node:test";
import { api, launchBrowser, openPage, startEngine, token } from "./harness.mjs";
import { ACCOUNT_SID, until } from "./live-sims.mjs";
import { fakeRetell, KEY as RETELL_KEY } from "./retell-fake.mjs";

const FIRST = "https://first.example.test";
const SECOND = "https://second.example.test";

/**
 * Twilio's IncomingPhoneNumbers (list, one page; buy; update; release), Addresses (list) and
 * the Numbers API's approved Bundles (list), enough for the page.
 */
async function startTwilioNumbers(numbers, forSale, addresses, bundles) {
  const requests = [];
  const server = createServer((req, res) => {
    let body = "";
    req.on("data", (d) => {
      body += d;
    });
    req.on("end", () => {
      const url = new URL(req.url, "http://localhost");
      const form = Object.fromEntries(new URLSearchParams(body));
      requests.push({ method: req.method, path: url.pathname, form });
      const base = `/2010-04-01/Accounts/${ACCOUNT_SID}/IncomingPhoneNumbers`;
      const send = (status, json) => {
        res.writeHead(status, { "content-type": "application/json" });
        res.end(JSON.stringify(json));
      };
      if (req.method === "GET" && url.pathname === `${base}.json`) {
        return send(200, {
          incoming_phone_numbers: numbers,
          page: 0,
          page_size: 1000,
          next_page_uri: null,
          uri: `${base}.json`,
        });
      }
      if (req.method === "GET" && url.pathname === `/2010-04-01/Accounts/${ACCOUNT_SID}/Addresses.json`) {
        const country = url.searchParams.get("IsoCountry");
        const found = addresses.filter((a) => country === null || a.iso_country === country);
        return send(200, { addresses: found, page: 0, page_size: 1000, next_page_uri: null, uri: url.pathname });
      }
      if (req.method === "GET" && url.pathname === "/v2/RegulatoryCompliance/Bundles") {
        const q = (k) => url.searchParams.get(k);
        const results = bundles.filter(
          (b) =>
            (q("Status") === null || b.status === q("Status")) &&
            (q("IsoCountry") === null || b.iso_country === q("IsoCountry")) &&
            (q("NumberType") === null || b.number_type === q("NumberType")),
        );
        const self = `http://${req.headers.host}${req.url}`;
        return send(200, {
          results,
          meta: {
            page: 0,
            page_size: 1000,
            first_page_url: self,
            previous_page_url: null,
            url: self,
            next_page_url: null,
            key: "results",
          },
        });
      }
      const search = url.pathname.match(/\/AvailablePhoneNumbers\/([A-Z]{2})\/(Local|Mobile|TollFree)\.json$/);
      if (req.method === "GET" && search) {
        const contains = url.searchParams.get("Contains") ?? "";
        const offered = forSale.filter((n) => n.iso_country === search[1] && n.phone_number.includes(contains));
        return send(200, { available_phone_numbers: offered, uri: url.pathname });
      }
      if (req.method === "POST" && url.pathname === `${base}.json`) {
        const i = forSale.findIndex((n) => n.phone_number === form.PhoneNumber);
        if (i < 0) return send(400, { code: 21422, message: "PhoneNumber is not available", status: 400 });
        if (forSale[i].address_requirements !== "none" && !addresses.some((a) => a.sid === form.AddressSid)) {
          return send(400, { code: 21631, message: "Phone Number Requires an Address", status: 400 });
        }
        if (forSale[i].iso_country === "AU" && !bundles.some((b) => b.sid === form.BundleSid)) {
          return send(400, { code: 21649, message: "Bundle required", status: 400 });
        }
        const [sold] = forSale.splice(i, 1);
        const n = { ...number(sold.phone_number, form.VoiceUrl ?? ""), status_callback: form.StatusCallback ?? "" };
        numbers.push(n);
        return send(201, n);
      }
      const one = url.pathname.match(/\/IncomingPhoneNumbers\/(PN\w+)\.json$/);
      const n = one && numbers.find((x) => x.sid === one[1]);
      if (req.method === "POST" && n) {
        n.voice_url = form.VoiceUrl ?? n.voice_url;
        n.voice_method = form.VoiceMethod ?? n.voice_method;
        n.status_callback = form.StatusCallback ?? n.status_callback;
        return send(200, n);
      }
      if (req.method === "DELETE" && n) {
        numbers.splice(numbers.indexOf(n), 1);
        res.writeHead(204);
        return res.end();
      }
      send(404, { code: 20404, message: "The requested resource was not found", status: 404 });
    });
  });
  await new Promise((ok) => server.listen(0, "127.0.0.1", ok));
  return {
    url: `http://127.0.0.1:${server.address().port}/2010-04-01`,
    numbersUrl: `http://127.0.0.1:${server.address().port}/v2`,
    requests,
    close: () => new Promise((ok) => server.close(ok)),
  };
}

/** Telnyx's phone numbers (list, route to a connection, release), one Call Control application,
 * numbers for sale (`forSale`, AU mobiles), approved requirement groups, and number orders that
 * succeed at once; `orders` keeps what was ordered. */
async function startTelnyxNumbers(numbers, app, forSale, groups) {
  const orders = [];
  const server = createServer((req, res) => {
    let body = "";
    req.on("data", (d) => {
      body += d;
    });
    req.on("end", () => {
      const url = new URL(req.url, "http://localhost");
      const send = (status, json) => {
        res.writeHead(status, { "content-type": "application/json" });
        res.end(JSON.stringify(json));
      };
      if (req.headers.authorization !== `Bearer ${TELNYX_KEY}`) return send(401, { errors: [{ code: "10009" }] });
      if (req.method === "GET" && url.pathname === "/v2/phone_numbers") {
        const only = url.searchParams.get("filter[phone_number]");
        const data = numbers.filter((n) => only === null || n.phone_number === only);
        return send(200, { data, meta: { total_pages: 1, total_results: data.length, page_number: 1 } });
      }
      if (req.method === "GET" && url.pathname === "/v2/available_phone_numbers") {
        const country = url.searchParams.get("filter[country_code]");
        const kind = url.searchParams.get("filter[phone_number_type]");
        const data = forSale.filter((n) => n.country === country && n.kind === kind).map((n) => n.resource);
        return send(200, { data, meta: { total_results: data.length, best_effort_results: 0 } });
      }
      if (req.method === "GET" && url.pathname === "/v2/requirement_groups") {
        return send(200, groups);
      }
      if (req.method === "POST" && url.pathname === "/v2/number_orders") {
        const order = JSON.parse(body);
        const wanted = order.phone_numbers[0];
        const offer = forSale.findIndex((n) => n.resource.phone_number === wanted.phone_number);
        if (offer < 0) {
          return send(422, { errors: [{ code: "85000", title: "Must search phone number via search API first" }] });
        }
        forSale.splice(offer, 1);
        orders.push(order);
        numbers.push({
          id: `20000000000000${10 + orders.length}`,
          phone_number: wanted.phone_number,
          connection_id: order.connection_id,
          connection_name: app.application_name,
          customer_reference: order.customer_reference,
          status: "active",
        });
        const data = {
          id: `f826ed66-b27c-4340-9dc0-00000000000${orders.length}`,
          record_type: "number_order",
          status: "success",
          requirements_met: true,
          connection_id: order.connection_id,
          phone_numbers: [
            {
              phone_number: wanted.phone_number,
              status: "success",
              requirements_met: true,
              requirements_status: "approved",
            },
          ],
        };
        return send(200, { data });
      }
      if (url.pathname === `/v2/call_control_applications/${app.id}`) {
        if (req.method === "PATCH") Object.assign(app, JSON.parse(body));
        return send(200, { data: app });
      }
      const one = numbers.findIndex((n) => url.pathname === `/v2/phone_numbers/${n.id}`);
      if (req.method === "PATCH" && one >= 0) {
        Object.assign(numbers[one], JSON.parse(body), { connection_name: app.application_name });
        return send(200, { data: numbers[one] });
      }
      if (req.method === "DELETE" && one >= 0) {
        const [gone] = numbers.splice(one, 1);
        return send(200, { data: gone });
      }
      send(404, { errors: [{ code: "10005", title: "Resource not found" }] });
    });
  });
  await new Promise((ok) => server.listen(0, "127.0.0.1", ok));
  return {
    url: `http://127.0.0.1:${server.address().port}/v2`,
    orders,
    close: () => new Promise((ok) => server.close(ok)),
  };
}

const TELNYX_KEY = "KEY-telnyx-ui-test";
const telnyxApp = {
  id: "1494404757140276705",
  application_name: "Switchboard",
  webhook_event_url: "https://old-tunnel.example/webhooks/telnyx",
};
const telnyxNumbers = [
  { id: "2000000000000001", phone_number: "+14155550199", connection_id: null, customer_reference: "Sales line" },
];
const telnyxForSale = [
  {
    country: "AU",
    kind: "mobile",
    resource: {
      record_type: "available_phone_number",
      phone_number: "+61480000042",
      best_effort: false,
      quickship: true,
      reservable: false,
      cost_information: { currency: "USD", monthly_cost: "4.00", upfront_cost: "1.00" },
      features: [{ name: "voice" }, { name: "sms" }],
      region_information: [
        { region_name: "AU", region_type: "country_code" },
        { region_name: "Sydney", region_type: "location" },
      ],
    },
  },
];
const telnyxGroups = [
  {
    id: "a4b201f9-8646-4e54-a7d2-b2e403eeaf8c",
    record_type: "requirement_group",
    action: "ordering",
    country_code: "AU",
    phone_number_type: "mobile",
    customer_reference: "Acme AU (Telnyx)",
    status: "approved",
    regulatory_requirements: [],
  },
];

const number = (phone, voiceUrl, name = phone) => ({
  sid: `PN${randomBytes(16).toString("hex")}`,
  account_sid: ACCOUNT_SID,
  phone_number: phone,
  friendly_name: name,
  voice_url: voiceUrl,
  voice_method: "POST",
  voice_application_sid: "",
  trunk_sid: null,
  status_callback: "",
});

const forSale = [
  {
    friendly_name: "(415) 555-0166",
    phone_number: "+14155550166",
    locality: "San Francisco",
    region: "CA",
    iso_country: "US",
    address_requirements: "none",
    beta: false,
    capabilities: { voice: true, sms: true, mms: false, fax: false },
  },
  {
    friendly_name: "(415) 555-0177",
    phone_number: "+14155550177",
    locality: "San Francisco",
    region: "CA",
    iso_country: "US",
    address_requirements: "none",
    beta: false,
    capabilities: { voice: true, sms: true, mms: false, fax: false },
  },
  {
    friendly_name: "0412 345 678",
    phone_number: "+61412345678",
    locality: null,
    region: null,
    iso_country: "AU",
    address_requirements: "local",
    beta: false,
    capabilities: { voice: true, sms: true, mms: false, fax: false },
  },
];
const addresses = [
  {
    sid: `AD${"a".repeat(32)}`,
    account_sid: ACCOUNT_SID,
    customer_name: "Acme Plumbing",
    friendly_name: "Sydney office",
    street: "1 George St",
    city: "Sydney",
    region: "NSW",
    postal_code: "2000",
    iso_country: "AU",
  },
];
const bundles = [
  {
    sid: `BU${"b".repeat(32)}`,
    account_sid: ACCOUNT_SID,
    friendly_name: "Acme AU mobiles",
    status: "twilio-approved",
    valid_until: null,
    iso_country: "AU",
    number_type: "mobile",
  },
];
const account = [
  number("+14155550101", "", "Front desk line"),
  number("+14155550102", "https://other-app.example/voice"),
];
let twilio;
let telnyx;
let retell;
let engine;
let browser;
let page;
const errors = [];

before(async () => {
  twilio = await startTwilioNumbers(account, forSale, addresses, bundles);
  retell = await fakeRetell();
  telnyx = await startTelnyxNumbers(telnyxNumbers, telnyxApp, telnyxForSale, telnyxGroups);
  engine = await startEngine({
    args: [
      "--twilio-api-url",
      twilio.url,
      "--twilio-numbers-url",
      twilio.numbersUrl,
      "--retell-api-url",
      retell.base,
      "--telnyx-api-url",
      telnyx.url,
    ],
    env: {
      TWILIO_ACCOUNT_SID: ACCOUNT_SID,
      TWILIO_AUTH_TOKEN: "test-auth-token",
      RETELL_API_KEY: RETELL_KEY,
      TELNYX_API_KEY: TELNYX_KEY,
      TELNYX_PUBLIC_KEY: randomBytes(32).toString("base64"),
    },
  });
  assert.equal((await api(engine.base, "PUT", "/api/settings", { public_base_url: FIRST })).status, 200);
  browser = await launchBrowser();
  page = await openPage(browser, 1280, 800, errors);
});

after(async () => {
  await browser?.close();
  await engine?.stop();
  await twilio?.close();
  retell?.server.close();
  await telnyx?.close();
});

const main = () => page.locator("main");

/** Opens Buy a number once it has put the focus in its first field (typing before that could
 * land anywhere). */
async function openBuyPanel() {
  await main().getByRole("button", { name: "Buy a number" }).click();
  await page.waitForFunction(() => document.activeElement?.id === "buy-carrier");
}

/** Searches the open Buy panel; the row of the results holding `row` (default: the digits). */
async function search({ country, kind, contains, row }) {
  if (country) await page.getByLabel("Country").fill(country);
  if (kind) await page.getByLabel("Type").selectOption(kind);
  if (contains) await page.getByLabel("Contains digits").fill(contains);
  await page.getByRole("button", { name: "Search", exact: true }).click();
  const found = page
    .getByRole("table", { name: "Numbers for sale" })
    .getByRole("row")
    .filter({ hasText: row ?? contains });
  await found.first().waitFor();
  return found;
}

test("the Twilio account's numbers show where their calls go; Import takes one in, pointed here", async () => {
  await page.goto(`${engine.base}/#/numbers`);
  await page.getByLabel("Control API token").fill(token);
  await page.getByLabel("Control API token").press("Enter");
  await page.getByRole("heading", { name: "Phone Numbers", level: 1 }).waitFor();
  await main().getByRole("button", { name: "Your Twilio numbers" }).click();
  const table = page.getByRole("table", { name: "Twilio account numbers" });
  await table.waitFor();
  const row = (phone) => table.getByRole("row").filter({ hasText: phone });
  await row("+1 415 555 0101").getByText("Not pointed").waitFor();
  await row("+1 415 555 0101").getByText("Front desk line").waitFor();
  await row("+1 415 555 0102").getByText("Points elsewhere").waitFor();
  await page.screenshot({ path: "/tmp/numbers-account-1280.png" });

  await row("+1 415 555 0101").getByRole("button", { name: "Import" }).click();
  await row("+1 415 555 0101").getByText("Points here").waitFor();
  await row("+1 415 555 0101").getByText("In Switchboard").waitFor();
  const update = twilio.requests.find((r) => r.method === "POST");
  assert.deepEqual(update.form, {
    VoiceUrl: `${FIRST}/webhooks/twilio/voice`,
    VoiceMethod: "POST",
    StatusCallback: `${FIRST}/webhooks/twilio/status`,
    StatusCallbackMethod: "POST",
  });
  const stored = (await api(engine.base, "GET", "/api/phone-numbers")).body;
  assert.equal(stored.length, 1);
  assert.equal(stored[0].carrier_number_id, account[0].sid, "Twilio's id is kept");
  await page.keyboard.press("Escape");
  const managed = main().getByRole("table", { name: "Phone numbers" }).getByRole("row").filter({ hasText: "0101" });
  await managed.getByText("Points here").waitFor();
});

test("after the public URL changes, the banner and status strip say so and Re-point all fixes it", async () => {
  assert.equal((await api(engine.base, "PUT", "/api/settings", { public_base_url: SECOND })).status, 200);
  await page.reload();
  const banner = main().getByText("1 number still sends calls to an old public URL.");
  await banner.waitFor();
  const strip = page
    .getByRole("contentinfo", { name: "Status" })
    .getByRole("link", { name: "1 number points at an old URL" });
  await strip.waitFor();
  await page.screenshot({ path: "/tmp/numbers-old-url-1280.png" });
  await main().getByRole("button", { name: "Re-point all here" }).click();
  await banner.waitFor({ state: "detached" });
  await strip.waitFor({ state: "detached" });
  await until("Twilio to have the new URL", () => account[0].voice_url === `${SECOND}/webhooks/twilio/voice`);
  assert.deepEqual(errors, []);
});

test("Buy a number: search, buy, and it is managed and points here", async () => {
  await openBuyPanel();
  const offered = await search({ contains: "0166" });
  await offered.getByText("San Francisco, CA, US").waitFor();
  await page.screenshot({ path: "/tmp/numbers-buy-1280.png" });
  await offered.getByRole("button", { name: "Buy" }).click();
  const row = main().getByRole("table", { name: "Phone numbers" }).getByRole("row").filter({ hasText: "0166" });
  await row.getByText("Points here").waitFor();
  const bought = account.find((n) => n.phone_number === "+14155550166");
  assert.equal(bought.voice_url, `${SECOND}/webhooks/twilio/voice`, "bought pointed at the URL in force");
  assert.deepEqual(errors, []);
});

test("An Australian mobile is bought with the account's address and approved bundle, picked for you", async () => {
  await openBuyPanel();
  const offered = await search({ country: "AU", kind: "mobile", row: "412" });
  await offered.getByText("An address").waitFor();
  assert.equal(await page.getByLabel("Address").inputValue(), addresses[0].sid, "the account's AU address");
  assert.equal(await page.getByLabel("Regulatory bundle").inputValue(), bundles[0].sid, "its approved bundle");
  await page
    .getByLabel("Address")
    .getByText("Sydney office (1 George St, Sydney, NSW, 2000)")
    .waitFor({ state: "attached" });
  await page.screenshot({ path: "/tmp/numbers-buy-au-1280.png" });
  await offered.getByRole("button", { name: "Buy" }).click();
  await main().getByRole("table", { name: "Phone numbers" }).getByRole("row").filter({ hasText: "412" }).waitFor();
  const bought = twilio.requests.find((r) => r.method === "POST" && r.form.PhoneNumber === "+61412345678");
  assert.equal(bought.form.AddressSid, addresses[0].sid);
  assert.equal(bought.form.BundleSid, bundles[0].sid);
  assert.deepEqual(errors, []);
});

test("Deleting a Twilio number offers to release it, and releasing gives it back to the account", async () => {
  const row = main().getByRole("table", { name: "Phone numbers" }).getByRole("row").filter({ hasText: "0166" });
  await row.getByRole("link").first().click();
  await page.getByRole("button", { name: "Delete" }).click();
  const dialog = page.getByRole("dialog", { name: "Remove +1 415 555 0166?" });
  await dialog.getByLabel("Keep it on the Twilio account", { exact: false }).waitFor();
  assert.ok(await dialog.getByRole("radio", { name: /Keep it/ }).isChecked(), "keeping is the default");
  await dialog.getByRole("radio", { name: /Release it/ }).check();
  await page.screenshot({ path: "/tmp/numbers-release-1280.png" });
  await dialog.getByRole("button", { name: "Release and remove" }).click();
  await row.waitFor({ state: "detached" });
  await until("Twilio to have released it", () => !account.some((n) => n.phone_number === "+14155550166"));
  assert.ok(
    account.some((n) => n.phone_number === "+14155550101"),
    "the others stay",
  );
  assert.deepEqual(errors, []);
});

test("A new Retell agent with a number, in one step: a refusal says what was undone, then it is made", async () => {
  await openBuyPanel();
  const offered = await search({ contains: "0177" });
  await page.getByLabel("Inbound agent").selectOption({ label: "A new agent on Retell…" });
  await page.getByLabel("Name").fill("Front desk bot");
  await page.getByLabel("Instructions").fill("You answer for Acme Plumbing and book visits.");
  await page.getByLabel("Greeting").fill("Acme Plumbing, hello!");
  await page.screenshot({ path: "/tmp/numbers-new-agent-1280.png" });

  retell.held.failNext = 402;
  await offered.getByRole("button", { name: "Buy" }).click();
  const refusal = page.getByRole("alert").filter({ hasText: "Creating the Retell agent failed" });
  await refusal.waitFor();
  assert.match(await refusal.innerText(), /Undone: the Retell LLM deleted\./);
  assert.doesNotMatch(await refusal.innerText(), /by hand/, "a refused agent was not made: nothing to look for");
  await page.screenshot({ path: "/tmp/numbers-new-agent-refused-1280.png" });
  assert.deepEqual(retell.held.llms, [], "nothing left at Retell");
  assert.ok(!account.some((n) => n.phone_number === "+14155550177"), "nothing bought");

  await offered.getByRole("button", { name: "Buy" }).click();
  const row = main().getByRole("table", { name: "Phone numbers" }).getByRole("row").filter({ hasText: "0177" });
  await row.getByText("Front desk bot").waitFor();
  assert.equal(retell.held.agents.length, 1);
  const agents = (await api(engine.base, "GET", "/api/agents")).body;
  assert.equal(agents.find((a) => a.name === "Front desk bot").backend, "retell");
  assert.ok(
    account.some((n) => n.phone_number === "+14155550177"),
    "bought",
  );
  assert.deepEqual(errors, []);
});

test("Your Telnyx numbers: one imported is routed to the Call Control application, which is pointed here", async () => {
  const put = await api(engine.base, "PUT", "/api/settings", { telnyx_connection_id: telnyxApp.id });
  assert.equal(put.status, 200);
  await main().getByRole("button", { name: "Your Telnyx numbers" }).click();
  const table = page.getByRole("table", { name: "Telnyx account numbers" });
  const row = table.getByRole("row").filter({ hasText: "+1 415 555 0199" });
  await row.getByText("Not pointed").waitFor();
  await row.getByText("Sales line").waitFor();
  await row.getByRole("button", { name: "Import" }).click();
  await row.getByText("Points here").waitFor();
  await page.screenshot({ path: "/tmp/numbers-telnyx-1280.png" });
  assert.equal(telnyxNumbers[0].connection_id, telnyxApp.id, "routed to the application");
  assert.equal(telnyxApp.webhook_event_url, `${SECOND}/webhooks/telnyx`, "which now sends its webhooks here");
  assert.equal(telnyxApp.application_name, "Switchboard", "its name kept");
  assert.deepEqual(errors, []);
});

test("Buy a number on Telnyx: the price shows, the approved requirement group is picked, and it is ordered on our application", async () => {
  await openBuyPanel();
  await page.getByLabel("Carrier").selectOption("telnyx");
  await page.getByText("From Telnyx, pointed at Switchboard as it is bought").waitFor();
  const offered = await search({ country: "AU", kind: "mobile", row: "480" });
  await offered.getByText("1.00 USD now, then 4.00 USD a month").waitFor();
  assert.equal(await page.getByLabel("Requirement group").inputValue(), telnyxGroups[0].id, "its approved group");
  assert.equal(await page.getByLabel("Address").count(), 0, "Telnyx takes no address with an order");
  await page.screenshot({ path: "/tmp/numbers-buy-telnyx-1280.png" });
  await offered.getByRole("button", { name: "Buy" }).click();
  const row = main().getByRole("table", { name: "Phone numbers" }).getByRole("row").filter({ hasText: "480" });
  await row.getByText("Points here").waitFor();
  await row.getByText("Telnyx", { exact: true }).waitFor();
  assert.equal(telnyx.orders.length, 1, "ordered once");
  assert.deepEqual(telnyx.orders[0].phone_numbers, [
    { phone_number: "+61480000042", requirement_group_id: telnyxGroups[0].id },
  ]);
  assert.equal(telnyx.orders[0].connection_id, telnyxApp.id, "on the Call Control application");
  assert.deepEqual(errors, []);
});

test("Deleting a Telnyx number offers to release it, and releasing gives it back to the account", async () => {
  const row = main().getByRole("table", { name: "Phone numbers" }).getByRole("row").filter({ hasText: "480" });
  await row.getByRole("link").first().click();
  await page.getByRole("button", { name: "Delete" }).click();
  const dialog = page.getByRole("dialog", { name: /^Remove \+61/ });
  await dialog.getByLabel("Keep it on the Telnyx account", { exact: false }).waitFor();
  await dialog.getByRole("radio", { name: /Release it/ }).check();
  await dialog.getByRole("button", { name: "Release and remove" }).click();
  await row.waitFor({ state: "detached" });
  await until("Telnyx to have released it", () => !telnyxNumbers.some((n) => n.phone_number === "+61480000042"));
  assert.ok(
    telnyxNumbers.some((n) => n.phone_number === "+14155550199"),
    "the others stay",
  );
  assert.deepEqual(errors, []);
});
