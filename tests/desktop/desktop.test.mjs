// The real desktop window under a virtual display, driven through WebDriver (tauri-driver +
// WebKitWebDriver): the window shows the UI talking to its embedded engine, and a change made
// in the window is visible through the control API. Run by scripts/test.sh under xvfb-run,
// after `tauri build --debug --no-bundle` has built the embedded-assets binary.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn, execFileSync } from "node:child_process";
import { mkdtempSync, writeFileSync, mkdirSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import net from "node:net";
import { startRealtime } from "../ui/live-sims.mjs";

const repo = resolve(import.meta.dirname, "../..");
const app = process.env.SWITCHBOARD_DESKTOP_BIN ?? join(repo, "target/debug/switchboard-desktop");
const token = "desktop-test-token";
const shots = join(repo, "target/desktop-shots");

let driver;
let session;
let api;
let data;
let realtime;
const wd = "http://127.0.0.1:4444";

function freePort() {
  return new Promise((ok, fail) => {
    const s = net.createServer();
    s.once("error", fail);
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => ok(port));
    });
  });
}

async function call(method, path, body) {
  const res = await fetch(`${wd}${path}`, {
    method,
    headers: { "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const json = await res.json();
  if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${JSON.stringify(json.value)}`);
  return json.value;
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Polls until `fn` returns a truthy value, or fails after `ms` with `what`. */
async function eventually(what, fn, ms = 15000) {
  const end = Date.now() + ms;
  let last;
  while (Date.now() < end) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (e) {
      last = e;
    }
    await sleep(200);
  }
  throw new Error(`timed out waiting for ${what}${last ? `: ${last.message}` : ""}`);
}

const ELEMENT = "element-6066-11e4-a52e-4f735466cecf"; // the W3C web element identifier
async function find(css) {
  const el = await call("POST", `/session/${session}/element`, { using: "css selector", value: css });
  return el[ELEMENT];
}
async function findAll(css) {
  const els = await call("POST", `/session/${session}/elements`, { using: "css selector", value: css });
  return els.map((e) => e[ELEMENT]);
}
const text = (el) => call("GET", `/session/${session}/element/${el}/text`);
const click = (el) => call("POST", `/session/${session}/element/${el}/click`, {});
const type = (el, value) => call("POST", `/session/${session}/element/${el}/value`, { text: value });
/** The first element matching `css` whose text includes `needle`. */
async function findByText(css, needle) {
  for (const el of await findAll(css)) {
    if ((await text(el)).includes(needle)) return el;
  }
  return null;
}
/** The window's visible text (read by script: element handles go stale as the UI re-renders). */
const pageText = () => call("POST", `/session/${session}/execute/sync`, { script: "return document.body.innerText", args: [] });
async function screenshot(name) {
  const png = await call("GET", `/session/${session}/screenshot`);
  mkdirSync(shots, { recursive: true });
  writeFileSync(join(shots, `${name}.png`), Buffer.from(png, "base64"));
}
async function apiGet(path) {
  const res = await fetch(`${api}${path}`, { headers: { authorization: `Bearer ${token}` } });
  assert.equal(res.status, 200, `GET ${path}`);
  return res.json();
}

before(async () => {
  const port = await freePort();
  api = `http://127.0.0.1:${port}`;
  data = mkdtempSync(join(tmpdir(), "switchboard-desktop-"));
  // The agent of a test call: a fake OpenAI Realtime server on loopback.
  realtime = await startRealtime();
  // The app inherits tauri-driver's environment: the same variables `switchboard serve` takes.
  driver = spawn("tauri-driver", ["--port", "4444", "--native-port", "4445"], {
    env: {
      ...process.env,
      SWITCHBOARD_DATA_DIR: data,
      SWITCHBOARD_CONTROL_ADDR: `127.0.0.1:${port}`,
      SWITCHBOARD_PUBLIC_ADDR: "127.0.0.1:0",
      SWITCHBOARD_TOKEN: token,
      SWITCHBOARD_NO_KEYRING: "true",
      OPENAI_REALTIME_URL: realtime.url,
      OPENAI_API_KEY: "sk-test",
    },
    stdio: ["ignore", "inherit", "inherit"],
  });
  await eventually("tauri-driver", async () => (await fetch(`${wd}/status`)).ok);
  const created = await call("POST", "/session", {
    capabilities: { alwaysMatch: { browserName: "wry", "tauri:options": { application: app } } },
  });
  session = created.sessionId;
});

after(async () => {
  if (session) await call("DELETE", `/session/${session}`).catch(() => {});
  driver?.kill();
  await realtime?.close();
});

test("the window shows the UI connected to its embedded engine", async () => {
  const nav = await eventually("the Agents page link", () => findByText("nav a, nav button", "Agents"));
  assert.ok(nav);
  // The engine inside the app answers on the configured address with the configured token.
  assert.deepEqual(await apiGet("/api/agents"), []);
  // The window opens on the Overview, empty on a new install.
  await eventually("the empty overview", async () => (await pageText()).includes("No calls yet"));
  await screenshot("overview-empty");
  await click(await eventually("the Agents page link", () => findByText("nav a, nav button", "Agents")));
  await eventually("the empty agents state", async () => (await pageText()).includes("No agents yet"));
  assert.match(await pageText(), /Engine connected/, "the status strip shows the engine is reachable");
  await screenshot("agents-empty");
});

test("an agent created in the window is stored by the engine", async () => {
  await click(await eventually("the new agent button", () => findByText("button", "New agent")));
  const name = await eventually("the agent name field", () => find("input[name='name']"));
  await type(name, "Desk agent");
  await click(await findByText("button", "Create agent"));
  const agents = await eventually("the agent in the API", async () => {
    const list = await apiGet("/api/agents");
    return list.length === 1 ? list : null;
  });
  assert.equal(agents[0].name, "Desk agent");
  await screenshot("agent-created");
});

test("a change made through the API appears in the window", async () => {
  const res = await fetch(`${api}/api/agents`, {
    method: "POST",
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
    body: JSON.stringify({ name: "From the API" }),
  });
  assert.equal(res.status, 201);
  await eventually("the API's agent in the window", async () => (await pageText()).includes("From the API"));
  await screenshot("agent-from-api");
});

test("the Live page renders in the desktop window", async () => {
  await click(await eventually("the Live page link", () => findByText("nav a, nav button", "Live")));
  await eventually("the Live page's empty state", async () => (await pageText()).includes("No live calls"));
  await screenshot("live-empty");
});

test("a test call started in the window talks to the agent through this machine's audio", async () => {
  // The sound card is scripts/audio-rig.sh's virtual one (test.sh starts it; the app inherits
  // PULSE_SERVER through tauri-driver).
  await click(await eventually("the Test Call link", () => findByText("nav a, nav button", "Test Call")));
  await click(await eventually("the Start button", () => findByText("button", "Start test call")));
  await eventually("the agent's voice session", () => realtime.sessions.length > 0 && realtime.instructions().length);
  realtime.agentSays("Hello from the desktop.");
  await eventually("the agent's words in the window", async () => (await pageText()).includes("Hello from the desktop."));
  await screenshot("test-call");
  const [call] = (await apiGet("/api/calls")).items;
  assert.equal(call.direction, "test");
  assert.equal(call.carrier, "local");
  await click(await findByText("button", "End test call"));
  await eventually("the call's end on the record", async () => (await apiGet(`/api/calls/${call.id}`)).ended_at);
  await eventually("the end in the window", async () => (await pageText()).includes("The test call is over"));
});

/** Waits until the engine has closed the database and stopped answering. */
async function engineStopped() {
  // SQLite folds the write-ahead log back and deletes it only when the last connection
  // closes cleanly, so its disappearance shows the engine closed the database on exit.
  await eventually("the database to be closed", () => !existsSync(join(data, "switchboard.db-wal")));
  await eventually("the engine to stop answering", async () => {
    try {
      await fetch(`${api}/api/health`);
      return false;
    } catch {
      return true;
    }
  });
}

test("closing the window shuts the engine down cleanly", async () => {
  assert.ok(existsSync(join(data, "switchboard.db-wal")), "the database is open while the window is");
  // The same request the window's close button makes. (WebDriver's own window close kills
  // the process outright, which would test nothing.)
  await call("POST", `/session/${session}/execute/sync`, {
    script: "window.__TAURI_INTERNALS__.invoke('plugin:window|close', { label: 'main' }); return true;",
    args: [],
  }).catch(() => {});
  await engineStopped();
  // The window is gone; end the WebDriver session so a new one can start.
  await call("DELETE", `/session/${session}`).catch(() => {});
  session = undefined;
});

test("SIGTERM (logout, shutdown) also closes the database cleanly", async () => {
  const created = await call("POST", "/session", {
    capabilities: { alwaysMatch: { browserName: "wry", "tauri:options": { application: app } } },
  });
  session = created.sessionId;
  await eventually("the engine to answer again", async () => (await fetch(`${api}/api/health`)).ok);
  const agents = await apiGet("/api/agents");
  assert.equal(agents.length, 2, "the agents made earlier are still there after the restart");
  const pids = execFileSync("pgrep", ["-f", app]).toString().trim().split("\n");
  for (const pid of pids) process.kill(Number(pid), "SIGTERM");
  await engineStopped();
  session = undefined;
});
