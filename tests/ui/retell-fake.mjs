// A small loopback Retell (protocols/retell.md: bearer key, create/update/delete of LLMs and
// agents) for the browser tests, holding what it was given.
import { createServer } from "node:http";

export const KEY = "key_retell_ui_test";

/** Retell's LLM and agent endpoints, holding what they were given; `failNext` answers the next
 * create-agent with that status instead, `failNextUpdate` the next update-agent with a 401. */
export function fakeRetell() {
  const held = { llms: [], agents: [], refused: [], failNext: null, failNextUpdate: false };
  let n = 0;
  const server = createServer((req, res) => {
    let body = "";
    req.on("data", (d) => (body += d));
    req.on("end", () => {
      const reply = (status, value) => {
        res.writeHead(status, { "content-type": "application/json" });
        res.end(value === undefined ? "" : JSON.stringify(value));
      };
      if (req.headers.authorization !== `Bearer ${KEY}`) {
        held.refused.push(`${req.method} ${req.url}`);
        return reply(401, { message: "Invalid API Key" });
      }
      const json = body ? JSON.parse(body) : {};
      const [, endpoint, id] = req.url.split("/");
      if (req.method === "POST" && endpoint === "create-retell-llm") {
        if (!["agent", "user"].includes(json.start_speaker)) return reply(400, { message: "start_speaker" });
        const llm = { ...json, llm_id: `llm_${++n}` };
        held.llms.push(llm);
        return reply(201, llm);
      }
      if (req.method === "POST" && endpoint === "create-agent") {
        if (held.failNext) {
          const status = held.failNext;
          held.failNext = null;
          return reply(status, { message: "refused" });
        }
        if (!json.voice_id || !held.llms.some((l) => l.llm_id === json.response_engine?.llm_id))
          return reply(400, { message: "response_engine and voice_id are required" });
        const agent = { ...json, agent_id: `agent_${++n}` };
        held.agents.push(agent);
        return reply(201, agent);
      }
      const list = endpoint.includes("llm") ? held.llms : held.agents;
      const key = endpoint.includes("llm") ? "llm_id" : "agent_id";
      const found = list.findIndex((o) => o[key] === id);
      if (found < 0) return reply(404, { message: "not found" });
      if (req.method === "PATCH" && held.failNextUpdate && endpoint === "update-agent") {
        held.failNextUpdate = false;
        return reply(401, { message: "refused" });
      }
      if (req.method === "PATCH") {
        Object.assign(list[found], json);
        return reply(200, list[found]);
      }
      if (req.method === "DELETE") {
        list.splice(found, 1);
        return reply(204);
      }
      reply(404, { message: "not found" });
    });
  });
  return new Promise((ok) =>
    server.listen(0, "127.0.0.1", () => ok({ held, server, base: `http://127.0.0.1:${server.address().port}` })),
  );
}
