// The headless server's .deb (issue 17, point 5), as an administrator installs it: built by
// scripts/package-server.sh (the debug build, UI inside), installed with dpkg, the service
// started exactly as its systemd unit says (user, environment, command line; this machine has
// no running systemd), the UI and API answered from the installed binary, then purged.
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { execFileSync, spawn } from "node:child_process";
import { readFileSync, statSync } from "node:fs";
import { fileURLToPath } from "node:url";
import path from "node:path";

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const root = process.getuid() === 0;
const run = (cmd, args, opts = {}) =>
  execFileSync(root ? cmd : "sudo", root ? args : [cmd, ...args], { encoding: "utf8", ...opts });

let deb;
let installed = false;
after(() => {
  if (installed) run("dpkg", ["--purge", "switchboard-server"], { stdio: "ignore" });
});

test("the package holds the binary, the unit and the settings, and names its libraries", () => {
  deb = execFileSync("scripts/package-server.sh", ["--debug"], { cwd: repo, encoding: "utf8" }).trim();
  const files = execFileSync("dpkg-deb", ["-c", deb], { encoding: "utf8" });
  for (const f of ["./usr/bin/switchboard", "./lib/systemd/system/switchboard.service", "./etc/default/switchboard"]) {
    assert.match(files, new RegExp(` ${f.replace(/\./g, "\\.")}$`, "m"), `${f} in ${files}`);
  }
  assert.match(files, /^-rw------- root\/root .* \.\/etc\/default\/switchboard$/m, "credentials: root only");
  const depends = execFileSync("dpkg-deb", ["-f", deb, "Depends"], { encoding: "utf8" });
  assert.match(depends, /libc6 \(>= [\d.]+\)/);
  assert.match(depends, /adduser/);
  const conffiles = execFileSync("dpkg-deb", ["-I", deb, "conffiles"], { encoding: "utf8" });
  assert.equal(conffiles.trim(), "/etc/default/switchboard", "an administrator's settings survive upgrades");
});

test("installed, it runs as its own user as the unit says and serves the UI and API", async () => {
  run("dpkg", ["-i", deb], { stdio: "pipe" });
  installed = true;
  const unit = readFileSync("/lib/systemd/system/switchboard.service", "utf8");
  // The unit is well-formed for systemd itself (unknown keys, a missing binary or user fail).
  run("systemd-analyze", ["verify", "/lib/systemd/system/switchboard.service"], { stdio: "pipe" });
  const key = (k) => [...unit.matchAll(new RegExp(`^${k}=(.*)$`, "gm"))].map((m) => m[1]);
  const [user] = key("User");
  assert.equal(user, "switchboard");
  const account = run("getent", ["passwd", user]).trim().split(":");
  assert.equal(account[5], "/var/lib/switchboard");
  assert.match(account[6], /nologin|false/, "a system account nobody logs in as");
  assert.notEqual(account[2], "0");
  const data = statSync("/var/lib/switchboard");
  assert.equal(data.uid, Number(account[2]), "its data directory is its own");
  assert.equal(statSync("/etc/default/switchboard").mode & 0o777, 0o600);

  const env = key("Environment").map((e) => e.split("=", 2));
  const [exec] = key("ExecStart");
  const [bin, ...args] = exec.split(" ");
  // setpriv becomes the user and execs the command in place, as systemd does: the engine
  // itself is the child, its own exit status seen.
  const child = spawn(
    root ? "setpriv" : "sudo",
    [
      ...(root ? [] : ["setpriv"]),
      `--reuid=${user}`,
      `--regid=${user}`,
      "--init-groups",
      "env",
      ...env.map(([k, v]) => `${k}=${v}`),
      // Free ports instead of the defaults, which another engine on this machine may hold.
      "SWITCHBOARD_CONTROL_ADDR=127.0.0.1:0",
      "SWITCHBOARD_PUBLIC_ADDR=127.0.0.1:0",
      bin,
      ...args,
    ],
    { cwd: "/", stdio: ["ignore", "pipe", "pipe"] },
  );
  let out = "";
  child.stdout.on("data", (d) => (out += d));
  child.stderr.on("data", (d) => (out += d));
  const control = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no control address:\n${out}`)), 30_000);
    child.stdout.on("data", () => {
      const m = out.match(/^control: (http:\S+)$/m);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    });
    child.on("exit", (code) => reject(new Error(`exited ${code}:\n${out}`)));
  });
  try {
    const page = await fetch(`${control}/`);
    assert.equal(page.status, 200);
    assert.equal(await page.text(), readFileSync(path.join(repo, "ui/dist/index.html"), "utf8"), "the built-in UI");
    const token = run("cat", ["/var/lib/switchboard/control-token"]).trim();
    const agents = await fetch(`${control}/api/agents`, { headers: { authorization: `Bearer ${token}` } });
    assert.equal(agents.status, 200);
    assert.deepEqual(await agents.json(), []);
    assert.equal(statSync("/var/lib/switchboard/switchboard.db").uid, Number(account[2]));
    // Without a keyring, a secret saved through the API lands in the service user's own file.
    const saved = await fetch(`${control}/api/tool-secrets/crm_token`, {
      method: "PUT",
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
      body: JSON.stringify({ value: "crm-secret-kept" }),
    });
    assert.equal(saved.status, 204, await saved.text());
    const kept = statSync("/var/lib/switchboard/secrets.json");
    assert.equal(kept.uid, Number(account[2]));
    assert.equal(kept.mode & 0o777, 0o600);
  } finally {
    const exited = new Promise((resolve) => child.on("exit", (code) => resolve({ code })));
    const [signal] = key("KillSignal");
    child.kill(signal);
    const { code } = await exited;
    assert.equal(code, 0, `a clean stop:\n${out}`);
  }
  assert.match(out, /database closed/);

  run("dpkg", ["--purge", "switchboard-server"], { stdio: "pipe" });
  installed = false;
  assert.throws(() => statSync("/var/lib/switchboard"), "purged: the data is gone");
  assert.throws(() => run("getent", ["passwd", "switchboard"], { stdio: "pipe" }), "and the user");
});
