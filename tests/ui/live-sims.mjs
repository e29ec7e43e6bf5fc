// What a live call needs besides the engine, for the Live page's browser test and the
// screenshot script: a fake OpenAI Realtime server (GA protocol), a fake Twilio REST API that
// accepts hang-ups, Twilio's voice webhook, and a Twilio media-stream client.
import { createHmac, randomBytes } from "node:crypto";
import { createServer } from "node:http";
import { createRequire } from "node:module";
import { join } from "node:path";
import { repo } from "./harness.mjs";

// ws is a devDependency of ui/, so resolve it from there.
const { WebSocket, WebSocketServer } = createRequire(join(repo, "ui/package.json"))("ws");

export const ACCOUNT_SID = "AC0123456789abcdef0123456789abcdef";

/** Resolves once `check()` returns something truthy (and to that), or fails after `timeout` ms. */
export async function until(what, check, timeout = 10_000) {
  const end = Date.now() + timeout;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

function listen(server) {
  return new Promise((ok) => server.listen(0, "127.0.0.1", () => ok(server.address().port)));
}

/**
 * A Realtime server: `session.created` on connect, `session.updated` (echoing the session) for
 * each `session.update`; audio appends are ignored. `sessions` holds one entry per connection
 * with the client events it sent (audio left out); `push` sends a server event to the latest.
 */
export async function startRealtime() {
  const sessions = [];
  const server = createServer((_, res) => res.writeHead(404).end());
  const wss = new WebSocketServer({ noServer: true });
  let next = 1;
  const eventId = () => `e${next++}`;
  server.on("upgrade", (req, socket, head) => {
    const url = new URL(req.url, "http://localhost");
    if (url.pathname !== "/v1/realtime") return socket.destroy();
    wss.handleUpgrade(req, socket, head, (ws) => {
      const session = {
        ws,
        model: url.searchParams.get("model"),
        authorization: req.headers.authorization,
        events: [],
        closed: false,
      };
      sessions.push(session);
      ws.on("close", () => {
        session.closed = true;
      });
      ws.on("message", (data) => {
        const event = JSON.parse(data.toString());
        if (event.type === "input_audio_buffer.append") return;
        session.events.push(event);
        if (event.type === "session.update") {
          ws.send(JSON.stringify({ type: "session.updated", event_id: eventId(), session: event.session }));
        }
      });
      ws.send(JSON.stringify({ type: "session.created", event_id: eventId(), session: { type: "realtime" } }));
    });
  });
  const port = await listen(server);
  // The newest session still open (an operator's transcriber comes and goes).
  const latest = () => sessions.findLast((s) => !s.closed) ?? sessions.at(-1);
  return {
    url: `ws://127.0.0.1:${port}/v1/realtime`,
    sessions,
    latest,
    /** The instructions of every `session.update` the latest session sent, in order. */
    instructions: () =>
      (latest()?.events ?? []).filter((e) => e.type === "session.update").map((e) => e.session.instructions),
    push(event) {
      latest().ws.send(JSON.stringify({ event_id: eventId(), ...event }));
    },
    /** `push` to session `index` (0: the first opened), not the latest. */
    pushTo(index, event) {
      sessions[index].ws.send(JSON.stringify({ event_id: eventId(), ...event }));
    },
    /** Makes the caller say `text` (input transcription). */
    callerSays(text, itemId = `item_${next}`) {
      this.push({
        type: "conversation.item.input_audio_transcription.completed",
        item_id: itemId,
        content_index: 0,
        transcript: text,
      });
    },
    /** Session `index` transcribes `text` (an operator's transcriber is a second session). */
    transcribesOn(index, text) {
      this.pushTo(index, {
        type: "conversation.item.input_audio_transcription.completed",
        item_id: `item_${next}`,
        content_index: 0,
        transcript: text,
      });
    },
    /** Makes the agent say `text` (output audio transcript). */
    agentSays(text, itemId = `item_${next}`) {
      this.push({
        type: "response.output_audio_transcript.done",
        response_id: `resp_${next}`,
        item_id: itemId,
        output_index: 0,
        content_index: 0,
        transcript: text,
      });
    },
    /** Makes the model call function `name` with `args` (JSON text) in a response that
     * completes; returns the call's id. */
    agentCalls(name, args) {
      const n = next;
      const item = { type: "function_call", id: `item_fc_${n}`, call_id: `call_${n}`, name, arguments: args };
      this.push({ type: "response.created", response: { id: `resp_fc_${n}`, status: "in_progress", output: [] } });
      this.push({
        type: "response.done",
        response: { id: `resp_fc_${n}`, status: "completed", output: [{ ...item, status: "completed" }] },
      });
      return item.call_id;
    },
    async close() {
      for (const s of sessions) s.ws.terminate();
      wss.close();
      await new Promise((ok) => server.close(ok));
    },
  };
}

/**
 * Twilio's REST API, as far as hanging up and transfers go: `POST …/Accounts/{sid}/Calls/{sid}.json`
 * answers 200, `POST …/Accounts/{sid}/Calls.json` (a warm transfer's call to a person) 201 with a
 * new sid, or what `failNext` queued.
 */
export async function startTwilioApi() {
  const requests = [];
  const failures = [];
  const server = createServer((req, res) => {
    let body = "";
    req.on("data", (d) => {
      body += d;
    });
    req.on("end", () => {
      requests.push({ method: req.method, path: req.url, form: Object.fromEntries(new URLSearchParams(body)) });
      const call = req.url.match(/^\/2010-04-01\/Accounts\/(AC\w+)\/Calls\/(CA\w+)\.json$/);
      const create = /^\/2010-04-01\/Accounts\/AC\w+\/Calls\.json$/.test(req.url);
      if (req.method !== "POST" || !(call || create)) return res.writeHead(404).end();
      const answer = create
        ? [201, { sid: callSid(), status: "queued" }]
        : [200, { sid: call[2], status: "completed" }];
      const [status, json] = failures.shift() ?? answer;
      requests.at(-1).reply = json;
      res.writeHead(status, { "content-type": "application/json" });
      res.end(JSON.stringify(json));
    });
  });
  const port = await listen(server);
  return {
    url: `http://127.0.0.1:${port}/2010-04-01`,
    requests,
    /** The next request gets `status` with a Twilio error body. */
    failNext(status, code, message) {
      failures.push([status, { code, message, more_info: `https://www.twilio.com/docs/errors/${code}`, status }]);
    },
    close: () => new Promise((ok) => server.close(ok)),
  };
}

/** Posts a Twilio status callback (form-encoded, unsigned) for a call. */
export async function twilioStatus(engine, params) {
  const res = await fetch(`${engine.public}/webhooks/twilio/status`, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({ AccountSid: ACCOUNT_SID, ...params }).toString(),
  });
  if (!res.ok) throw new Error(`the status callback was refused (HTTP ${res.status}): ${await res.text()}`);
}

/**
 * Posts Twilio's voice webhook for a new inbound call; resolves to the ids in the TwiML.
 * Unsigned, for an engine that skips signature checks, unless `signed` gives the auth token
 * and the public URL the engine knows (Twilio signs the URL it called plus the sorted form).
 */
export async function twilioInboundCall(engine, { callSid, from, to, signed }) {
  const params = {
    AccountSid: ACCOUNT_SID,
    CallSid: callSid,
    CallStatus: "ringing",
    Direction: "inbound",
    From: from,
    To: to,
  };
  const headers = { "content-type": "application/x-www-form-urlencoded" };
  if (signed) {
    const data = Object.keys(params)
      .sort()
      .reduce((acc, k) => acc + k + params[k], `${signed.publicUrl}/webhooks/twilio/voice`);
    headers["x-twilio-signature"] = createHmac("sha1", signed.authToken).update(data).digest("base64");
  }
  const res = await fetch(`${engine.public}/webhooks/twilio/voice`, {
    method: "POST",
    headers,
    body: new URLSearchParams(params).toString(),
  });
  const twiml = await res.text();
  const param = (name) => twiml.match(new RegExp(`<Parameter name="${name}" value="([^"]+)"\\s*/>`))?.[1];
  const callId = param("call_id");
  const agentId = param("agent_id");
  if (res.status !== 200 || !callId || !agentId) {
    throw new Error(`the call was not answered with a media stream (HTTP ${res.status}): ${twiml}`);
  }
  return { callId, agentId, twiml };
}

/**
 * Twilio's side of a media stream for a call: `connected`, `start` (naming the call and its
 * agent), then silence on request, `stop` on request. `closed` resolves when the socket
 * closes, with who closed it and the code.
 */
export async function twilioMediaStream(engine, { callSid, callId, agentId }) {
  const ws = new WebSocket(`${engine.public.replace(/^http/, "ws")}/media/twilio`);
  await new Promise((ok, fail) => {
    ws.once("open", ok);
    ws.once("error", fail);
  });
  const streamSid = `MZ${randomBytes(16).toString("hex")}`;
  let seq = 0;
  const send = (frame) => ws.send(JSON.stringify({ sequenceNumber: String(++seq), ...frame }));
  let stoppedByUs = false;
  const closed = new Promise((ok) =>
    ws.once("close", (code, reason) => ok({ code, reason: reason.toString(), byEngine: !stoppedByUs })),
  );
  ws.send(JSON.stringify({ event: "connected", protocol: "Call", version: "1.0.0" }));
  send({
    event: "start",
    streamSid,
    start: {
      accountSid: ACCOUNT_SID,
      streamSid,
      callSid,
      tracks: ["inbound"],
      customParameters: { call_id: callId, agent_id: agentId },
      mediaFormat: { encoding: "audio/x-mulaw", sampleRate: 8000, channels: 1 },
    },
  });
  let chunk = 0;
  return {
    streamSid,
    closed,
    get open() {
      return ws.readyState === WebSocket.OPEN;
    },
    /** `frames` × 20 ms of μ-law silence (0xFF), as Twilio sends the caller's audio. */
    silence(frames = 5) {
      const payload = Buffer.alloc(160, 0xff).toString("base64");
      for (let i = 0; i < frames; i++) {
        chunk += 1;
        send({
          event: "media",
          streamSid,
          media: { track: "inbound", chunk: String(chunk), timestamp: String((chunk - 1) * 20), payload },
        });
      }
    },
    /** `frames` × 20 ms of a sine at `hz`, -6 dBFS peak, μ-law: the caller speaking. */
    tone(frames, hz) {
      for (let i = 0; i < frames; i++) {
        const bytes = Buffer.alloc(160);
        for (let n = 0; n < 160; n++) {
          const t = ((chunk * 160 + n) / 8000) * 2 * Math.PI * hz;
          bytes[n] = mulaw(Math.round(16384 * Math.sin(t)));
        }
        chunk += 1;
        send({
          event: "media",
          streamSid,
          media: {
            track: "inbound",
            chunk: String(chunk),
            timestamp: String((chunk - 1) * 20),
            payload: bytes.toString("base64"),
          },
        });
      }
    },
    /** The caller hangs up: `stop`, then the socket closes. */
    stop() {
      stoppedByUs = true;
      if (ws.readyState !== WebSocket.OPEN) return;
      send({ event: "stop", streamSid, stop: { accountSid: ACCOUNT_SID, callSid } });
      ws.close();
    },
  };
}

/** G.711 μ-law of one 16-bit sample (the standard's segment encoding). */
function mulaw(sample) {
  const BIAS = 0x84;
  const sign = sample < 0 ? 0x80 : 0;
  let x = Math.min(Math.abs(sample), 32635) + BIAS;
  let exponent = 7;
  for (let mask = 0x4000; (x & mask) === 0 && exponent > 0; mask >>= 1) exponent--;
  const mantissa = (x >> (exponent + 3)) & 0x0f;
  return ~(sign | (exponent << 4) | mantissa) & 0xff;
}

/** A Twilio CallSid: CA and 32 hex digits. */
export const callSid = () => `CA${randomBytes(16).toString("hex")}`;
