// Shared by the UI browser tests and the screenshot script: starts a real engine serving the
// built UI, and a headless Chromium (Debian's, never a downloaded one) to drive it.
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";

export const repo = resolve(import.meta.dirname, "../..");
export const token = "ui-test-token";

// playwright-core is a devDependency of ui/, so resolve it from there.
const { chromium } = createRequire(join(repo, "ui/package.json"))("playwright-core");

/** The environment minus anything that would change what a fresh engine shows. */
function engineEnv() {
  const env = { ...process.env, SWITCHBOARD_NO_KEYRING: "true" };
  delete env.WEBHOOK_BASE_URL;
  for (const key of Object.keys(env)) {
    if (/^(TWILIO|TELNYX|OPENAI|LIVEKIT|RETELL)_/.test(key)) delete env[key];
  }
  return env;
}

/**
 * Starts `switchboard serve` on ephemeral ports with the built UI; resolves once it listens.
 * `args` are extra `serve` flags (e.g. `--public-url`); `env` adds environment variables.
 * Resolves to `{ base, public, dataDir, stop }`: `base` is the control listener, `public` the carriers'.
 */
export async function startEngine({ args = [], env = {} } = {}) {
  const bin = process.env.SWITCHBOARD_BIN ?? join(repo, "target/debug/switchboard");
  const uiDir = join(repo, "ui/dist");
  if (!existsSync(bin))
    throw new Error(`no engine binary at ${bin}: run \`cargo build -p switchboard\` (or set SWITCHBOARD_BIN)`);
  if (!existsSync(join(uiDir, "index.html")))
    throw new Error(`no built UI in ${uiDir}: run \`npm --prefix ui run build\``);
  const data = mkdtempSync(join(tmpdir(), "switchboard-ui-test-"));
  const child = spawn(
    bin,
    [
      "serve",
      "--data-dir",
      data,
      "--control-addr",
      "127.0.0.1:0",
      "--public-addr",
      "127.0.0.1:0",
      "--token",
      token,
      "--ui-dir",
      uiDir,
      ...args,
    ],
    {
      env: { ...engineEnv(), ...env },
      stdio: ["ignore", "pipe", "pipe"],
    },
  );
  let stderr = "";
  child.stderr.on("data", (d) => {
    stderr += d;
  });
  // The engine prints `control: …` then `public: …`, one line each, once both listen.
  const [base, publicBase] = await new Promise((ok, fail) => {
    let out = "";
    const timer = setTimeout(
      () => fail(new Error(`the engine printed no control and public addresses in 20 s; stderr:\n${stderr}`)),
      20_000,
    );
    child.stdout.on("data", (d) => {
      out += d;
      // Whole lines only: a chunk may end in the middle of an address.
      const control = out.match(/^control: (http:\/\/\S+)\r?\n/m);
      const pub = out.match(/^public: (http:\/\/\S+)\r?\n/m);
      if (control && pub) {
        clearTimeout(timer);
        ok([control[1].replace(/\/$/, ""), pub[1].replace(/\/$/, "")]);
      }
    });
    child.once("exit", (code) => {
      clearTimeout(timer);
      fail(new Error(`the engine exited (${code}) before listening; stderr:\n${stderr}`));
    });
  });
  let stopped = false;
  return {
    base,
    public: publicBase,
    /** The engine's data directory (removed by `stop`). */
    dataDir: data,
    /** What the engine has logged so far (its standard error). */
    log: () => stderr,
    /** Stops the engine (SIGTERM, then SIGKILL) and removes its data directory. */
    async stop() {
      if (!stopped) {
        stopped = true;
        if (child.exitCode === null) {
          const exited = new Promise((ok) => child.once("exit", ok));
          child.kill("SIGTERM");
          const timer = setTimeout(() => child.kill("SIGKILL"), 5_000);
          await exited;
          clearTimeout(timer);
        }
      }
      rmSync(data, { recursive: true, force: true });
    },
  };
}

/** `args`: extra Chromium switches (e.g. `--host-resolver-rules`). */
export async function launchBrowser({ args = [] } = {}) {
  return chromium.launch({
    executablePath: process.env.CHROMIUM_BIN ?? "/usr/bin/chromium",
    headless: true,
    args: [
      ...args,
      "--no-sandbox",
      "--disable-gpu",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      "--no-first-run",
    ],
  });
}

/** Calls the control API directly, as a script or CRM would. */
/**
 * A page of `browser` at `width` x `height` whose uncaught errors land in `errors` (each test
 * file asserts it stays empty), with the tests' usual 10 s wait.
 */
export async function openPage(browser, width, height, errors) {
  const page = await browser.newPage({ viewport: { width, height } });
  page.setDefaultTimeout(10_000);
  page.on("pageerror", (e) => errors.push(e.message));
  return page;
}

export async function api(base, method, path, body) {
  const res = await fetch(`${base}${path}`, {
    method,
    headers: {
      authorization: `Bearer ${token}`,
      ...(body === undefined ? {} : { "content-type": "application/json" }),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, body: text === "" ? null : JSON.parse(text) };
}

// Calls cannot be created through the API yet (no telephony in the engine), so the call log is
// exercised with fixtures shaped like the OpenAPI document's CallPage and CallDetail.
const start = Date.parse("2026-11-20T14:00:00Z");
const at = (secs) => new Date(start + secs * 1000).toISOString();
export const calls = Array.from({ length: 30 }, (_, i) => ({
  id: `call-${String(i).padStart(2, "0")}`,
  direction: i % 3 === 0 ? "outbound" : "inbound",
  carrier: "twilio",
  carrier_call_id: `CA${i}`,
  from_number: "+14155550100",
  to_number: "+14155552671",
  status: i === 0 ? "in_progress" : i % 5 === 0 ? "no_answer" : "completed",
  agent_id: "agent-1",
  agent_name: "Front Desk",
  number_id: "number-1",
  started_at: at(-i * 3600),
  answered_at: i % 5 === 0 && i > 0 ? null : at(-i * 3600 + 2),
  ended_at: i === 0 ? null : at(-i * 3600 + 95),
  duration_secs: i === 0 || i % 5 === 0 ? null : 93,
  hangup_cause: null,
  cost_estimate_usd: null,
}));
const transcript = [
  {
    id: 1,
    call_id: "call-01",
    speaker: "agent",
    text: "Thanks for calling Acme Dental, how can I help?",
    at: at(-3600 + 3),
  },
  {
    id: 2,
    call_id: "call-01",
    speaker: "caller",
    text: "I'd like to move my appointment to Friday.",
    at: at(-3600 + 9),
  },
  { id: 3, call_id: "call-01", speaker: "system", text: "Context updated: calendar", at: at(-3600 + 12) },
];

/** Answers the page's /api/calls requests from the fixtures, filtering and paging like the engine. */
export async function routeCalls(page, requests) {
  await page.route(/\/api\/calls(\?|\/|$)/, async (route) => {
    const url = new URL(route.request().url());
    requests?.push(url.pathname + url.search);
    const one = url.pathname.match(/^\/api\/calls\/([^/]+)$/);
    if (one) {
      const call = calls.find((c) => c.id === one[1]);
      return route.fulfill({
        json: { ...call, transcript: call.id === "call-01" ? transcript : [], analysis: null, cost: null },
      });
    }
    const q = url.searchParams;
    let items = calls;
    if (q.get("status") === "live")
      items = items.filter((c) => ["queued", "ringing", "in_progress"].includes(c.status));
    else if (q.get("status")) items = items.filter((c) => q.get("status").split(",").includes(c.status));
    if (q.get("direction")) items = items.filter((c) => c.direction === q.get("direction"));
    const limit = Number(q.get("limit") ?? 50);
    const offset = Number(q.get("offset") ?? 0);
    return route.fulfill({
      json: {
        items: items.slice(offset, offset + limit),
        total: items.length,
        limit,
        offset,
        matches: [],
        capped: false,
        summary_matches: [],
      },
    });
  });
}
