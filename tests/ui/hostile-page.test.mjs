// A web page in the user's browser against the loopback control API (issue 18, point 1): a page
// of another origin and a page that rebinds its own name to 127.0.0.1 each try to read, to
// write and to open the event stream, even holding the token, from a real Chromium. Each try is
// refused by the engine (its log says why, once per source), and nothing is changed. The UI's
// own page, doing the same, gets in: the rig would notice if the refusals stopped.
import assert from "node:assert/strict";
import { createServer } from "node:http";
import { after, before, test } from "node:test";
import { api, launchBrowser, openPage, startEngine, token } from "./harness.mjs";

let engine;
let browser;
let hostile;
let hostileBase;
const errors = [];

/** What a hostile page tries against `target` (the API's base URL), run inside the page. */
async function attempts({ target, token }) {
  const out = {};
  const tryFetch = async (name, url, init) => {
    try {
      const res = await fetch(url, init);
      out[name] = { status: res.status, body: await res.text() };
    } catch (e) {
      out[name] = { blocked: String(e) };
    }
  };
  await tryFetch("read", `${target}/api/agents`, { headers: { authorization: `Bearer ${token}` } });
  await tryFetch("write", `${target}/api/agents`, {
    method: "POST",
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
    body: JSON.stringify({ name: "Planted by a page" }),
  });
  // A "simple" request needs no preflight: the browser sends it whatever CORS says.
  await tryFetch("blind", `${target}/api/agents?access_token=${token}`, {
    method: "POST",
    mode: "no-cors",
    headers: { "content-type": "text/plain" },
    body: JSON.stringify({ name: "Planted blind" }),
  });
  out.events = await new Promise((ok) => {
    const ws = new WebSocket(`${target.replace(/^http/, "ws")}/api/events?access_token=${token}`);
    ws.onopen = () => {
      ws.close();
      ok("opened");
    };
    ws.onerror = () => ok("refused");
  });
  return out;
}

before(async () => {
  engine = await startEngine({ env: { SWITCHBOARD_LOG: "warn" } });
  hostile = createServer((_req, res) => {
    res.writeHead(200, { "content-type": "text/html" }).end("<!doctype html><title>Free prizes</title><p>Hello</p>");
  });
  await new Promise((ok) => hostile.listen(0, "127.0.0.1", ok));
  hostileBase = `http://127.0.0.1:${hostile.address().port}`;
  // rebind.test resolves to this machine, as an attacker's name does once rebound. Chromium's
  // own guard for private networks is off: the engine must hold without it (other browsers,
  // older ones, and Chromium's exceptions), and it would hide whether the engine refused.
  browser = await launchBrowser({
    args: [
      "--host-resolver-rules=MAP rebind.test 127.0.0.1",
      "--disable-features=BlockInsecurePrivateNetworkRequests,PrivateNetworkAccessSendPreflights,PrivateNetworkAccessRespectPreflightResults,LocalNetworkAccessChecks",
    ],
  });
});

after(async () => {
  await browser?.close();
  await engine?.stop();
  hostile?.close();
});

test("a page of another origin is refused on every route and the event stream", async () => {
  const page = await openPage(browser, 800, 600, errors);
  await page.goto(hostileBase);
  const got = await page.evaluate(attempts, { target: engine.base, token });
  // A preflighted request refused is a network error to the page: it learns nothing.
  assert.ok(got.read.blocked, JSON.stringify(got.read));
  assert.ok(got.write.blocked, JSON.stringify(got.write));
  assert.equal(got.events, "refused");
  // The blind write went out; the engine refused it (an opaque answer to the page).
  assert.equal(got.blind.status, 0, JSON.stringify(got.blind));
  assert.deepEqual((await api(engine.base, "GET", "/api/agents")).body, [], "nothing was planted");
  const log = engine.log();
  assert.match(log, new RegExp(`request refused: a page of ${hostileBase} may not use the control API`));
  // Four tries, one line: the rest are counted, not logged again.
  assert.equal(log.split(`a page of ${hostileBase}`).length - 1, 1, log);
  await page.close();
});

test("a page that rebinds its name to 127.0.0.1 is refused by its Host", async () => {
  const page = await openPage(browser, 800, 600, errors);
  const port = new URL(engine.base).port;
  const rebound = `http://rebind.test:${port}`;
  // The attacker's server serves the page first; later requests to the same name reach the
  // engine (the rebinding). The first step is played by routing the page itself only.
  await page.route(`${rebound}/`, (route) =>
    route.fulfill({ contentType: "text/html", body: "<!doctype html><title>Rebound</title><p>Hi</p>" }),
  );
  await page.goto(`${rebound}/`);
  const got = await page.evaluate(attempts, { target: rebound, token });
  // Same-origin to the browser, so the page reads the answers: each a refusal naming the Host.
  for (const name of ["read", "write"]) {
    assert.equal(got[name].status, 403, `${name}: ${JSON.stringify(got[name])}`);
    assert.match(JSON.parse(got[name].body).error.message, /answers only to its loopback address/);
  }
  assert.equal(got.events, "refused");
  assert.deepEqual((await api(engine.base, "GET", "/api/agents")).body, [], "nothing was planted");
  assert.match(engine.log(), /request refused: the control API answers only to its loopback address.*rebind\.test/);
  await page.close();
});

test("the UI's own page, trying the same, gets in", async () => {
  const page = await openPage(browser, 800, 600, errors);
  await page.goto(`${engine.base}/`);
  const got = await page.evaluate(attempts, { target: engine.base, token });
  assert.equal(got.read.status, 200, JSON.stringify(got.read));
  assert.equal(got.write.status, 201, JSON.stringify(got.write));
  assert.equal(got.events, "opened");
  const names = (await api(engine.base, "GET", "/api/agents")).body.map((a) => a.name).sort();
  assert.ok(names.includes("Planted by a page"), JSON.stringify(names));
  await page.close();
  assert.deepEqual(errors, []);
});
