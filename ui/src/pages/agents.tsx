//! Agents: the list, the create/edit side panel (with the context editor), and delete with
//! the `agent_in_use` conflict offered as "Delete anyway".
import { useEffect, useState } from "preact/hooks";
import { isApiError, type ApiError } from "../api/client";
import { limits } from "../api/limits";
import type { Agent, AgentInput, AgentLoad, AgentStats, PhoneNumber } from "../api/types";
import { ContextEditor, contextEdited, formatContext } from "../components/context-editor";
import { AnalysisEditor, analysisDraftOf, analysisOf, type AnalysisDraft } from "../components/analysis-editor";
import { McpEditor, mcpDraftsOf, mcpServersOf, type McpDraft } from "../components/mcp-editor";
import { draftsOf, ToolsEditor, toolsOf, type ToolDraft } from "../components/tools-editor";
import { Icon } from "../components/icons";
import {
  Badge,
  Banner,
  Dialog,
  EmptyState,
  Field,
  FieldSet,
  ItemRow,
  messageId,
  NewButton,
  PageHeader,
  RemoteView,
  RowLink,
  PanelFooter,
  SidePanel,
  dateTime,
  duration,
  relativeTime,
  usd,
} from "../components/ui";
import { href, navigate } from "../router";
import { reload, useApi, useAppState } from "../store";
import { showToast } from "../toast";
import { rebase, same } from "../forms";
import { checkContext, checkWhole, formatNumber } from "../validate";

const VOICES = ["marin", "cedar", "alloy", "ash", "ballad", "coral", "echo", "sage", "shimmer", "verse"];
/** Retell's example voice (the engine's default); any id from Retell's voice list goes. */
const RETELL_VOICES = ["retell-Cimo"];
const MODELS = ["gpt-realtime", "gpt-realtime-mini", "gpt-4o-realtime-preview", "gpt-4o-mini-realtime-preview"];
/** The engine's bounds, as its OpenAPI document states them. */
const NAME_MAX = limits.AgentInput.name.maxLength;
const MAX_CALLS = limits.AgentInput.max_concurrent_calls;

const checkMaxCalls = (text: string) => checkWhole(text, MAX_CALLS.minimum, MAX_CALLS.maximum);

/** Where an agent is assigned: the numbers that route to it, and in which direction. */
interface Usage {
  number: PhoneNumber;
  directions: ("inbound" | "outbound")[];
}

function usageOf(agentId: string, numbers: PhoneNumber[] | null): Usage[] {
  return (numbers ?? [])
    .map((number) => ({
      number,
      directions: [
        ...(number.inbound_agent_id === agentId ? (["inbound"] as const) : []),
        ...(number.outbound_agent_id === agentId ? (["outbound"] as const) : []),
      ],
    }))
    .filter((u) => u.directions.length > 0);
}

export function AgentsPage(props: { selected: string | null }) {
  const { agents, numbers } = useAppState();
  const list = agents.data;
  const selectedAgent =
    props.selected && props.selected !== "new" ? (list?.find((a) => a.id === props.selected) ?? null) : null;
  const creating = props.selected === "new";
  const active = list?.filter((a) => a.active).length ?? 0;
  const close = () => {
    navigate("agents");
  };

  return (
    <div class="page">
      <PageHeader
        title="Agents"
        summary={
          list
            ? `${list.length} ${list.length === 1 ? "agent" : "agents"} · ${active} active`
            : "Who answers and places calls"
        }
        actions={<NewButton page="agents" label="New agent" />}
      />
      <div class="page-content">
        <div class="table-area">
          <RemoteView remote={agents} what="agents" onRetry={() => void reload.agents()}>
            {(data) =>
              data.length === 0 ? (
                <EmptyState
                  icon="agents"
                  title="No agents yet"
                  action={
                    <a class="btn btn-primary" href={href("agents", "new")}>
                      <Icon name="plus" /> Create an agent
                    </a>
                  }
                >
                  An agent is a prompt, a voice and a greeting. Create one, then assign it to a phone number.
                </EmptyState>
              ) : (
                <>
                  <AgentLoadPanel />
                  <AgentsTable agents={data} numbers={numbers.data} selected={props.selected} />
                </>
              )
            }
          </RemoteView>
        </div>
        {creating && <AgentPanel key="new" agent={null} numbers={numbers.data} onClose={close} />}
        {selectedAgent && (
          <AgentPanel key={selectedAgent.id} agent={selectedAgent} numbers={numbers.data} onClose={close} />
        )}
        {props.selected && !creating && !selectedAgent && list && (
          <SidePanel title="Agent not found" onClose={close}>
            <p class="muted">This agent no longer exists. It may have been deleted elsewhere.</p>
          </SidePanel>
        )}
      </div>
    </div>
  );
}

/** Live calls per agent against its maximum, refetched as calls start and end. */
function AgentLoadPanel() {
  const api = useApi();
  const { callsRevision, agents, engine } = useAppState();
  const [loads, setLoads] = useState<AgentLoad[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    let live = true;
    // A burst of call events (ringing, answered, ended) is one refetch.
    const t = window.setTimeout(() => {
      api.agentLoadStats().then(
        (l) => {
          if (!live) return;
          setLoads(l);
          setError(null);
        },
        (e: unknown) => {
          if (live) setError(isApiError(e) ? e.message : String(e));
        },
      );
    }, 250);
    return () => {
      live = false;
      window.clearTimeout(t);
    };
  }, [api, callsRevision, agents.data, engine === "online"]);

  if (loads === null) return error === null ? null : <p class="muted small load-error">Live load: {error}</p>;
  if (loads.length === 0) return null;
  const total = loads.reduce((n, l) => n + l.live_calls, 0);
  return (
    <section class="load" aria-labelledby="load-title" data-testid="agent-load">
      <div class="load-head">
        <h2 id="load-title">Live load</h2>
        <span class="muted small">
          {total} live {total === 1 ? "call" : "calls"}
          {error !== null ? ` · could not refresh: ${error}` : ""}
        </span>
      </div>
      <ul class="plain-list load-list">
        {loads.map((l) => {
          const max = Math.max(1, l.max_concurrent_calls);
          const full = l.active && !l.available;
          return (
            <li key={l.agent_id} class={`load-item ${l.active ? "" : "inactive"}`}>
              <span class="truncate" title={l.name}>
                {l.name}
              </span>
              <span class="load-count">{l.active ? `${l.live_calls} / ${l.max_concurrent_calls}` : "inactive"}</span>
              <div
                class="progress"
                role="progressbar"
                aria-label={`${l.name}: live calls`}
                aria-valuemin={0}
                aria-valuemax={l.max_concurrent_calls}
                aria-valuenow={l.live_calls}
                aria-valuetext={`${l.live_calls} of ${l.max_concurrent_calls} calls${full ? ", at its limit" : ""}${l.active ? "" : ", inactive"}`}
              >
                <span
                  class={`load-bar ${full ? "full" : ""}`}
                  style={{ width: `${Math.min(100, (l.live_calls / max) * 100).toFixed(1)}%` }}
                />
              </div>
            </li>
          );
        })}
      </ul>
    </section>
  );
}

function AgentsTable(props: { agents: Agent[]; numbers: PhoneNumber[] | null; selected: string | null }) {
  return (
    <table class="table" aria-label="Agents">
      <thead>
        <tr>
          <th scope="col">Name</th>
          <th scope="col">Status</th>
          <th scope="col">Voice · model</th>
          <th scope="col" class="num" title="Max concurrent calls">
            Max calls
          </th>
          <th scope="col">Numbers</th>
          <th scope="col" class="hide-narrow">
            Updated
          </th>
        </tr>
      </thead>
      <tbody>
        {props.agents.map((a) => {
          const usage = usageOf(a.id, props.numbers);
          return (
            <ItemRow key={a.id} page="agents" id={a.id} selected={props.selected}>
              <td class="cell-main">
                <RowLink page="agents" id={a.id}>
                  {a.name}
                </RowLink>
                {a.notes.trim() !== "" && <div class="sub truncate">{a.notes.split("\n")[0]}</div>}
              </td>
              <td>{a.active ? <Badge tone="good">Active</Badge> : <Badge tone="neutral">Inactive</Badge>}</td>
              <td>
                {a.backend === "retell" ? (
                  <>
                    <div>{a.retell_voice_id}</div>
                    <div class="sub">
                      Retell · <RetellSync agent={a} />
                    </div>
                  </>
                ) : (
                  <>
                    <div>{a.voice}</div>
                    <div class="sub">{a.model}</div>
                  </>
                )}
              </td>
              <td class="num">{a.max_concurrent_calls}</td>
              <td>
                {usage.length === 0 ? (
                  <span class="muted">—</span>
                ) : (
                  <ul class="plain-list">
                    {usage.map((u) => (
                      <li key={u.number.id} class="nowrap">
                        {formatNumber(u.number.number)} <span class="sub">{u.directions.join(" + ")}</span>
                      </li>
                    ))}
                  </ul>
                )}
              </td>
              <td class="nowrap hide-narrow" title={dateTime(a.updated_at)}>
                {relativeTime(a.updated_at)}
              </td>
            </ItemRow>
          );
        })}
      </tbody>
    </table>
  );
}

/** Where an agent on Retell stands: Retell holds its LLM and agent (the engine sets both ids or
 * neither), and its Retell agent reports to this engine's public URL. */
function retellState(agent: Agent, publicBase: string | null | undefined): "synced" | "missing" | "old-url" {
  if (!agent.retell_agent_id) return "missing";
  if (publicBase && agent.retell_webhook_url !== `${publicBase}/webhooks/retell`) return "old-url";
  return "synced";
}

function RetellSync(props: { agent: Agent }) {
  const { settings } = useAppState();
  switch (retellState(props.agent, settings.data?.public_base_url)) {
    case "missing":
      return <Badge tone="warn">Not on Retell</Badge>;
    case "old-url":
      return <Badge tone="warn">Old webhook URL</Badge>;
    case "synced":
      return <Badge tone="good">Synced</Badge>;
  }
}

type Backend = NonNullable<AgentInput["backend"]>;

interface FormState {
  name: string;
  active: boolean;
  backend: Backend;
  retell_voice_id: string;
  system_prompt: string;
  greeting: string;
  voice: string;
  model: string;
  max_concurrent_calls: string;
  notes: string;
  context: string;
  /** The HTTP tools' drafts, as JSON text (so an edit is a changed string). */
  tools: string;
  /** The MCP servers' drafts, as JSON text. */
  mcp_servers: string;
  /** The post-call analysis draft, as JSON text. */
  analysis: string;
  end_call: boolean;
  send_dtmf: boolean;
  transfer: boolean;
  /** One target a line: `name | number or sip:URI | when to use`. */
  targets: string;
  /** Off, or who records: Switchboard itself or the carrier. */
  recording: "off" | RecordingSource;
  recording_disclosure: string;
}

function formOf(a: Agent | null): FormState {
  return {
    name: a?.name ?? "",
    active: a?.active ?? true,
    backend: a?.backend ?? "openai_realtime",
    retell_voice_id: a?.retell_voice_id ?? "retell-Cimo",
    system_prompt: a?.system_prompt ?? "",
    greeting: a?.greeting ?? "",
    voice: a?.voice ?? "marin",
    model: a?.model ?? "gpt-realtime",
    max_concurrent_calls: String(a?.max_concurrent_calls ?? 5),
    notes: a?.notes ?? "",
    context: formatContext(a?.context ?? {}),
    tools: JSON.stringify(draftsOf(a?.tools ?? [])),
    mcp_servers: JSON.stringify(mcpDraftsOf(a?.mcp_servers ?? [])),
    analysis: JSON.stringify(analysisDraftOf(a?.analysis)),
    end_call: a?.builtin_tools.includes("end_call") ?? false,
    send_dtmf: a?.builtin_tools.includes("send_dtmf") ?? false,
    transfer: a?.builtin_tools.includes("transfer_call") ?? false,
    targets: (a?.transfer_targets ?? [])
      .map((t) => [t.name, t.to, t.description, ...(t.warm ? [`warm ${t.ring_secs ?? 25}s`] : [])].join(" | "))
      .join("\n"),
    recording: a?.record_calls ? a.recording_source : "off",
    recording_disclosure: a?.recording_disclosure ?? "",
  };
}

type TargetInput = NonNullable<AgentInput["transfer_targets"]>[number];

type RecordingSource = Agent["recording_source"];

const RECORDING_CHOICES: ["off" | RecordingSource, string][] = [
  ["off", "Not recorded"],
  ["switchboard", "Switchboard records the call"],
  ["carrier", "The carrier records the call (Twilio, Telnyx; not test calls)"],
];

/** A line's last part when it says how to transfer: “cold”, or “warm” with the ring time. */
const MODE = /^(cold|warm)(?:\s+(\d+)\s*s?)?$/i;

/** The transfer targets' lines as the API takes them, or what is wrong with one. A line is
 * `name | number or sip:URI | when to use`, and optionally `| warm 25s` (the person is called
 * and told who is calling first, ringing that long) or `| cold` (the default). */
function targetsOf(text: string): { ok: true; value: TargetInput[] } | { ok: false; message: string } {
  const value: TargetInput[] = [];
  for (const [i, line] of text.split("\n").entries()) {
    if (line.trim() === "") continue;
    const [name = "", to = "", ...rest] = line.split("|").map((p) => p.trim());
    if (name === "" || to === "") {
      return { ok: false, message: `Line ${i + 1}: write “name | number or sip:URI | when to use”.` };
    }
    const mode = rest.length > 0 ? MODE.exec(rest[rest.length - 1] ?? "") : null;
    if (mode) rest.pop();
    const warm = mode?.[1]?.toLowerCase() === "warm";
    const ring = mode?.[2] === undefined ? 25 : Number(mode[2]);
    value.push({ name, to, description: rest.join(" | "), warm, ring_secs: ring });
  }
  return { ok: true, value };
}

function builtinsOf(form: FormState): NonNullable<AgentInput["builtin_tools"]> {
  return [
    ...(form.end_call ? ["end_call" as const] : []),
    ...(form.transfer ? ["transfer_call" as const] : []),
    ...(form.send_dtmf ? ["send_dtmf" as const] : []),
  ];
}

function draftsIn(form: FormState): ToolDraft[] {
  return JSON.parse(form.tools) as ToolDraft[];
}

function mcpDraftsIn(form: FormState): McpDraft[] {
  return JSON.parse(form.mcp_servers) as McpDraft[];
}

function analysisDraftIn(form: FormState): AnalysisDraft {
  return JSON.parse(form.analysis) as AnalysisDraft;
}

/** The fields that differ from the stored agent (all of them when creating). */
function changes(form: FormState, agent: Agent | null): AgentInput | null {
  const ctx = checkContext(form.context);
  const max = checkMaxCalls(form.max_concurrent_calls);
  const tools = toolsOf(draftsIn(form));
  const targets = targetsOf(form.targets);
  const mcp = mcpServersOf(mcpDraftsIn(form));
  const analysis = analysisOf(analysisDraftIn(form));
  if (
    !analysis.ok ||
    !ctx.ok ||
    !max.ok ||
    !tools.ok ||
    !targets.ok ||
    !mcp.ok ||
    form.name.trim() === "" ||
    form.retell_voice_id.trim() === ""
  )
    return null;
  const next: AgentInput = {
    name: form.name.trim(),
    active: form.active,
    backend: form.backend,
    retell_voice_id: form.retell_voice_id.trim(),
    system_prompt: form.system_prompt,
    greeting: form.greeting,
    voice: form.voice.trim(),
    model: form.model.trim(),
    max_concurrent_calls: max.value,
    notes: form.notes,
    context: ctx.value,
    tools: tools.value,
    builtin_tools: builtinsOf(form),
    transfer_targets: targets.value,
    mcp_servers: mcp.value,
    analysis: analysis.value,
    record_calls: form.recording !== "off",
    // Off keeps the source chosen last, for when recording is switched on again.
    recording_source: form.recording === "off" ? (agent?.recording_source ?? "switchboard") : form.recording,
    recording_disclosure: form.recording_disclosure.trim(),
  };
  if (!agent) return next;
  const diff: AgentInput = {};
  if (next.name !== agent.name) diff.name = next.name;
  if (next.active !== agent.active) diff.active = next.active;
  if (next.backend !== agent.backend) diff.backend = next.backend;
  if (next.retell_voice_id !== agent.retell_voice_id) diff.retell_voice_id = next.retell_voice_id;
  if (next.system_prompt !== agent.system_prompt) diff.system_prompt = next.system_prompt;
  if (next.greeting !== agent.greeting) diff.greeting = next.greeting;
  if (next.voice !== agent.voice) diff.voice = next.voice;
  if (next.model !== agent.model) diff.model = next.model;
  if (next.max_concurrent_calls !== agent.max_concurrent_calls) diff.max_concurrent_calls = next.max_concurrent_calls;
  if (next.notes !== agent.notes) diff.notes = next.notes;
  if (!same(next.context, agent.context)) diff.context = next.context;
  const stored = formOf(agent);
  if (form.tools !== stored.tools) diff.tools = next.tools;
  if (form.end_call !== stored.end_call || form.transfer !== stored.transfer || form.send_dtmf !== stored.send_dtmf)
    diff.builtin_tools = next.builtin_tools;
  if (form.targets !== stored.targets) diff.transfer_targets = next.transfer_targets;
  if (form.mcp_servers !== stored.mcp_servers) diff.mcp_servers = next.mcp_servers;
  if (form.analysis !== stored.analysis) diff.analysis = next.analysis;
  if (next.record_calls !== agent.record_calls) diff.record_calls = next.record_calls;
  if (next.recording_source !== agent.recording_source) diff.recording_source = next.recording_source;
  if (next.recording_disclosure !== agent.recording_disclosure) diff.recording_disclosure = next.recording_disclosure;
  return diff;
}

function isDirty(form: FormState, agent: Agent | null): boolean {
  const base = formOf(agent);
  return (
    contextEdited(form.context, agent?.context ?? {}) ||
    (Object.keys(base) as (keyof FormState)[]).some((k) => k !== "context" && form[k] !== base[k])
  );
}

function AgentPanel(props: { agent: Agent | null; numbers: PhoneNumber[] | null; onClose: () => void }) {
  const api = useApi();
  const { agent } = props;
  // `base` is the stored agent the form started from; edits are what differ from it.
  const [base, setBase] = useState(agent);
  const [form, setForm] = useState(() => formOf(agent));
  const [saving, setSaving] = useState(false);
  const [error, setError] = useState<ApiError | null>(null);
  const [saved, setSaved] = useState(false);
  const [deleting, setDeleting] = useState(false);

  const dirty = isDirty(form, base);
  // Someone else (another window, a script) changed the agent: take their values for every
  // field the operator has not touched here, keep the operator's edits.
  useEffect(() => {
    if (agent === base) return;
    setForm((f) => rebase(f, formOf(base), formOf(agent)));
    setBase(agent);
  }, [agent]);

  const contextCheck = checkContext(form.context);
  const maxCheck = checkMaxCalls(form.max_concurrent_calls);
  const nameError = form.name.trim() === "" ? "Give the agent a name." : null;
  const retellVoiceError = form.retell_voice_id.trim() === "" ? "Give a Retell voice id." : null;
  const toolsCheck = toolsOf(draftsIn(form));
  const targetsCheck = targetsOf(form.targets);
  const mcpCheck = mcpServersOf(mcpDraftsIn(form));
  const analysisCheck = analysisOf(analysisDraftIn(form));
  const valid =
    analysisCheck.ok &&
    contextCheck.ok &&
    maxCheck.ok &&
    toolsCheck.ok &&
    targetsCheck.ok &&
    mcpCheck.ok &&
    nameError === null &&
    retellVoiceError === null;
  const fieldError = (field: string) => (error?.field === field ? error.message : null);

  const update = <K extends keyof FormState>(key: K, value: FormState[K]) => {
    setForm((f) => ({ ...f, [key]: value }));
    setSaved(false);
    if (error?.field === key) setError(null);
  };

  const save = async () => {
    // Only what the operator changed is sent, so edits made elsewhere meanwhile are kept.
    const body = changes(form, base);
    if (!body || saving) return;
    setSaving(true);
    setError(null);
    try {
      if (agent) {
        const updated = await api.updateAgent(agent.id, body);
        setBase(updated);
        setForm(formOf(updated));
        setSaved(true);
      } else {
        const created = await api.createAgent(body);
        showToast(`Agent “${created.name}” created`);
        navigate("agents", created.id);
      }
    } catch (e) {
      if (isApiError(e)) setError(e);
      else throw e;
    } finally {
      setSaving(false);
    }
  };

  const usage = agent ? usageOf(agent.id, props.numbers) : [];
  // A nested field ("analysis.fields") belongs to its group's editor.
  const generalError = error && (error.field === null || !(error.field.split(".")[0] in form)) ? error : null;

  return (
    <SidePanel
      title={agent ? agent.name : "New agent"}
      subtitle={
        agent ? `Updated ${relativeTime(agent.updated_at)}` : "Only the name is required; the rest can change any time."
      }
      onClose={props.onClose}
      focusFirstField={!agent}
      onSubmit={() => void save()}
      footer={
        <PanelFooter
          onDelete={
            agent
              ? () => {
                  setDeleting(true);
                }
              : undefined
          }
          saved={saved && !dirty}
          onClose={props.onClose}
          closeLabel={agent ? "Close" : "Cancel"}
          submitLabel={saving ? "Saving…" : agent ? "Save changes" : "Create agent"}
          submitDisabled={!valid || saving || (agent !== null && !dirty)}
        />
      }
    >
      {generalError && (
        <Banner tone="bad" role="alert">
          {generalError.message}
        </Banner>
      )}
      <Field id="agent-name" label="Name" error={fieldError("name") ?? (form.name !== "" || agent ? nameError : null)}>
        <input
          id="agent-name"
          name="name"
          value={form.name}
          onInput={(e) => {
            update("name", e.currentTarget.value);
          }}
          aria-invalid={fieldError("name") !== null || (form.name !== "" && nameError !== null)}
          aria-describedby={messageId("agent-name")}
          maxLength={NAME_MAX}
          required
        />
      </Field>
      <label class="check">
        <input
          type="checkbox"
          name="active"
          checked={form.active}
          onChange={(e) => {
            update("active", e.currentTarget.checked);
          }}
        />
        <span>
          Active <span class="muted">— inactive agents take no calls</span>
        </span>
      </label>
      <Field
        id="agent-prompt"
        label="System prompt"
        hint="How the agent behaves: role, tone, what it may and may not do."
        error={fieldError("system_prompt")}
      >
        <textarea
          id="agent-prompt"
          name="system_prompt"
          rows={7}
          value={form.system_prompt}
          onInput={(e) => {
            update("system_prompt", e.currentTarget.value);
          }}
          aria-describedby={messageId("agent-prompt")}
        />
      </Field>
      <Field
        id="agent-greeting"
        label="Greeting"
        hint="Spoken first on inbound calls. Leave empty to let the caller speak first."
        error={fieldError("greeting")}
      >
        <textarea
          id="agent-greeting"
          name="greeting"
          rows={2}
          value={form.greeting}
          onInput={(e) => {
            update("greeting", e.currentTarget.value);
          }}
          aria-describedby={messageId("agent-greeting")}
        />
      </Field>
      <FieldSet
        id="agent-backend"
        legend="Voice backend"
        hint="Who speaks for the agent on a call."
        error={fieldError("backend")}
      >
        <label class="check">
          <input
            type="radio"
            name="backend"
            value="openai_realtime"
            checked={form.backend === "openai_realtime"}
            onChange={() => {
              update("backend", "openai_realtime");
            }}
          />
          <span>
            OpenAI Realtime <span class="muted">— the call’s audio runs through Switchboard</span>
          </span>
        </label>
        <label class="check">
          <input
            type="radio"
            name="backend"
            value="retell"
            checked={form.backend === "retell"}
            onChange={() => {
              update("backend", "retell");
            }}
          />
          <span>
            Retell <span class="muted">— calls are handed to a Retell agent made from this one</span>
          </span>
        </label>
      </FieldSet>
      {form.backend === "retell" ? (
        <RetellFields
          agent={base}
          voice={form.retell_voice_id}
          onVoice={(v) => {
            update("retell_voice_id", v);
          }}
          error={fieldError("retell_voice_id") ?? retellVoiceError}
        />
      ) : (
        <div class="field-row">
          <SuggestField
            id="agent-voice"
            label="Voice"
            name="voice"
            listId="agent-voices"
            suggestions={VOICES}
            value={form.voice}
            onInput={(v) => {
              update("voice", v);
            }}
            error={fieldError("voice")}
          />
          <SuggestField
            id="agent-model"
            label="Model"
            name="model"
            listId="agent-models"
            suggestions={MODELS}
            value={form.model}
            onInput={(v) => {
              update("model", v);
            }}
            error={fieldError("model")}
          />
        </div>
      )}
      {form.backend === "openai_realtime" && (
        <FieldSet
          id="agent-tools"
          legend="Tools"
          hint="What the agent can do during a call besides talk. Each call and its answer appear in the call's transcript."
          error={fieldError("builtin_tools")}
        >
          <label class="check">
            <input
              type="checkbox"
              name="end_call"
              checked={form.end_call}
              onChange={(e) => {
                update("end_call", e.currentTarget.checked);
              }}
            />
            <span>
              Can end the call <span class="muted">— says goodbye, then hangs up once the goodbye has been heard</span>
            </span>
          </label>
          <label class="check">
            <input
              type="checkbox"
              name="transfer"
              checked={form.transfer}
              onChange={(e) => {
                update("transfer", e.currentTarget.checked);
              }}
            />
            <span>
              Can transfer the call <span class="muted">— to one of the targets below, after telling the caller</span>
            </span>
          </label>
          {form.transfer && (
            <Field
              id="agent-targets"
              label="Transfer targets"
              hint="One a line: name | number or sip:URI | when to use, and “| warm 25s” to call the person first and tell them who is calling (the caller stays with the agent if nobody answers). The agent may transfer to these only."
              error={fieldError("transfer_targets") ?? (targetsCheck.ok ? null : targetsCheck.message)}
            >
              <textarea
                id="agent-targets"
                class="code"
                rows={Math.min(8, Math.max(3, form.targets.split("\n").length + 1))}
                value={form.targets}
                placeholder={
                  "front_desk | +1 415 555 0100 | a person at reception\nmanager | +1 415 555 0177 | complaints | warm 25s"
                }
                onInput={(e) => {
                  update("targets", e.currentTarget.value);
                }}
                aria-describedby={messageId("agent-targets")}
              />
            </Field>
          )}
          <label class="check">
            <input
              type="checkbox"
              name="send_dtmf"
              checked={form.send_dtmf}
              onChange={(e) => {
                update("send_dtmf", e.currentTarget.checked);
              }}
            />
            <span>
              Can press phone keys <span class="muted">— to get through a phone menu on a call it places</span>
            </span>
          </label>
          <ToolsEditor
            drafts={draftsIn(form)}
            error={fieldError("tools") ?? (toolsCheck.ok ? null : toolsCheck.message)}
            refused={fieldError("tools") !== null}
            onChange={(drafts) => {
              update("tools", JSON.stringify(drafts));
            }}
          />
          <McpEditor
            drafts={mcpDraftsIn(form)}
            error={fieldError("mcp_servers") ?? (mcpCheck.ok ? null : mcpCheck.message)}
            onChange={(drafts) => {
              update("mcp_servers", JSON.stringify(drafts));
            }}
          />
        </FieldSet>
      )}
      {form.backend === "openai_realtime" && (
        <FieldSet
          id="agent-recording"
          legend="Recording"
          hint="Switchboard records the call itself: the caller and the agent on two channels, as the caller heard it. Or the carrier (Twilio, Telnyx) records it, and Switchboard fetches the file once the call is over. Either way recordings stay on this computer (Settings sets how long)."
          error={fieldError("record_calls") ?? fieldError("recording_source") ?? fieldError("recording_disclosure")}
        >
          {RECORDING_CHOICES.map(([value, label]) => (
            <label class="check" key={value}>
              <input
                type="radio"
                name="recording"
                value={value}
                checked={form.recording === value}
                onChange={() => {
                  update("recording", value);
                }}
              />
              <span>{label}</span>
            </label>
          ))}
          {form.recording !== "off" && (
            <Field
              id="agent-disclosure"
              label="Said first"
              hint="Many places require telling callers a call is recorded. Leave empty to say nothing."
              error={fieldError("recording_disclosure")}
            >
              <input
                id="agent-disclosure"
                name="recording_disclosure"
                maxLength={500}
                placeholder="This call is recorded."
                value={form.recording_disclosure}
                onInput={(e) => {
                  update("recording_disclosure", e.currentTarget.value);
                }}
                aria-describedby={messageId("agent-disclosure")}
              />
            </Field>
          )}
        </FieldSet>
      )}
      <Field
        id="agent-max"
        label="Max concurrent calls"
        hint={`${MAX_CALLS.minimum} to ${MAX_CALLS.maximum}. Calls past this limit are refused.`}
        error={fieldError("max_concurrent_calls") ?? (maxCheck.ok ? null : maxCheck.message)}
      >
        <input
          id="agent-max"
          name="max_concurrent_calls"
          class="input-short"
          inputMode="numeric"
          value={form.max_concurrent_calls}
          onInput={(e) => {
            update("max_concurrent_calls", e.currentTarget.value);
          }}
          aria-invalid={!maxCheck.ok}
          aria-describedby={messageId("agent-max")}
        />
      </Field>
      <ContextEditor
        id="agent-context"
        label="Context"
        help="Facts the agent can use (opening hours, prices, the caller's account…), as a JSON object. Edits reach live calls."
        value={form.context}
        onChange={(v) => {
          update("context", v);
        }}
        serverError={fieldError("context")}
      />
      <Field
        id="agent-notes"
        label="Notes"
        optional
        hint="For your team; the agent never sees these."
        error={fieldError("notes")}
      >
        <textarea
          id="agent-notes"
          name="notes"
          rows={3}
          value={form.notes}
          onInput={(e) => {
            update("notes", e.currentTarget.value);
          }}
          aria-describedby={messageId("agent-notes")}
        />
      </Field>
      <AnalysisEditor
        draft={analysisDraftIn(form)}
        error={
          (error?.field?.startsWith("analysis") ? error.message : null) ??
          (analysisCheck.ok ? null : analysisCheck.message)
        }
        onChange={(draft) => {
          update("analysis", JSON.stringify(draft));
        }}
      />
      {agent && <AgentUsage usage={usage} />}
      {agent && <AgentStatsView agentId={agent.id} />}
      {agent && deleting && (
        <DeleteAgentDialog
          agent={agent}
          usage={usage}
          onClose={() => {
            setDeleting(false);
          }}
        />
      )}
    </SidePanel>
  );
}

/**
 * The Retell voice, and where the agent stands at Retell: saving makes (or updates) its Retell
 * LLM and agent, which needs the Retell API key and the public URL in Settings.
 */
function RetellFields(props: {
  agent: Agent | null;
  voice: string;
  onVoice: (v: string) => void;
  error: string | null;
}) {
  const { agent } = props;
  const publicBase = useAppState().settings.data?.public_base_url;
  return (
    <>
      <SuggestField
        id="agent-retell-voice"
        label="Retell voice"
        name="retell_voice_id"
        listId="agent-retell-voices"
        suggestions={RETELL_VOICES}
        value={props.voice}
        onInput={props.onVoice}
        error={props.error}
      />
      <p class="muted small retell-sync" data-testid="retell-sync">
        {agent?.backend === "retell" && agent.retell_agent_id ? (
          <>
            <RetellSync agent={agent} /> Retell agent <code>{agent.retell_agent_id}</code>, LLM{" "}
            <code>{agent.retell_llm_id}</code>. Edits here update them; deleting the agent deletes them.
            {retellState(agent, publicBase) === "old-url" &&
              " Retell still reports this agent’s calls to an old public URL: save the agent to move it."}
          </>
        ) : (
          <>
            Saving makes a Retell LLM (the prompt, context and greeting) and a Retell agent (this voice). It needs the
            Retell API key and the public URL in Settings.
          </>
        )}
      </p>
    </>
  );
}

/** A text field with suggestions (a `<datalist>`): the list offers values, any value goes. */
function SuggestField(props: {
  id: string;
  label: string;
  name: string;
  listId: string;
  suggestions: readonly string[];
  value: string;
  onInput: (value: string) => void;
  error: string | null;
}) {
  return (
    <Field id={props.id} label={props.label} error={props.error}>
      <input
        id={props.id}
        name={props.name}
        list={props.listId}
        value={props.value}
        onInput={(e) => {
          props.onInput(e.currentTarget.value);
        }}
        aria-describedby={messageId(props.id)}
      />
      <datalist id={props.listId}>
        {props.suggestions.map((v) => (
          <option key={v} value={v} />
        ))}
      </datalist>
    </Field>
  );
}

function AgentUsage(props: { usage: Usage[] }) {
  return (
    <section class="panel-section" aria-labelledby="agent-usage">
      <h3 id="agent-usage">Phone numbers</h3>
      {props.usage.length === 0 ? (
        <p class="muted">
          Not assigned to any number. Assign it on the <a href={href("numbers")}>Phone Numbers</a> page.
        </p>
      ) : (
        <ul class="plain-list spaced">
          {props.usage.map((u) => (
            <li key={u.number.id}>
              <a href={href("numbers", u.number.id)}>{formatNumber(u.number.number)}</a>
              {u.number.label !== "" && <span class="muted"> · {u.number.label}</span>}{" "}
              {u.directions.map((d) => (
                <Badge key={d} tone="info">
                  {d}
                </Badge>
              ))}
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}

function AgentStatsView(props: { agentId: string }) {
  const api = useApi();
  const { callsRevision } = useAppState();
  const [stats, setStats] = useState<AgentStats | null>(null);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    let live = true;
    api.agentStats(props.agentId).then(
      (s) => {
        if (live) {
          setStats(s);
          setError(null);
        }
      },
      (e: unknown) => {
        if (live) setError(isApiError(e) ? e.message : String(e));
      },
    );
    return () => {
      live = false;
    };
  }, [api, props.agentId, callsRevision]);
  return (
    <section class="panel-section" aria-labelledby="agent-stats">
      <h3 id="agent-stats">Calls handled</h3>
      {error !== null ? (
        <p class="muted">Could not load the numbers: {error}</p>
      ) : stats === null ? (
        <p class="muted">Loading…</p>
      ) : (
        <dl class="stats">
          <div>
            <dt>Inbound</dt>
            <dd>{stats.inbound.calls}</dd>
          </div>
          <div>
            <dt>Outbound</dt>
            <dd>{stats.outbound.calls}</dd>
          </div>
          <div>
            <dt>Answered</dt>
            <dd>{stats.total.answered}</dd>
          </div>
          <div>
            <dt>Cost (est.)</dt>
            <dd>{usd(stats.total.cost_usd)}</dd>
          </div>
          <div>
            <dt>Avg. duration</dt>
            <dd>
              {duration(
                stats.total.average_duration_secs == null ? null : Math.round(stats.total.average_duration_secs),
              )}
            </dd>
          </div>
        </dl>
      )}
      {stats !== null && error === null && stats.tests.calls > 0 && (
        <p class="muted small agent-tests">
          Plus {stats.tests.calls} test {stats.tests.calls === 1 ? "call" : "calls"} from this computer, not counted
          above.
        </p>
      )}
      {stats !== null && error === null && stats.tools.length > 0 && (
        <table class="table" aria-label="Tool calls">
          <thead>
            <tr>
              <th scope="col">Tool</th>
              <th scope="col" class="num">
                Calls
              </th>
              <th scope="col" class="num">
                Failed
              </th>
              <th scope="col" class="num">
                Average
              </th>
            </tr>
          </thead>
          <tbody>
            {stats.tools.map((t) => (
              <tr key={t.tool}>
                <td>
                  <code>{t.tool}</code>
                </td>
                <td class="num">{t.calls}</td>
                <td class="num">{t.failures}</td>
                <td class="num">{Math.round(t.average_ms)} ms</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}

function DeleteAgentDialog(props: { agent: Agent; usage: Usage[]; onClose: () => void }) {
  const api = useApi();
  const [busy, setBusy] = useState(false);
  const [conflict, setConflict] = useState<ApiError | null>(null);
  const [error, setError] = useState<string | null>(null);
  // The engine's message names the numbers; the local list adds their labels and directions.
  const named = props.usage;

  const remove = async (force: boolean) => {
    setBusy(true);
    setError(null);
    try {
      await api.deleteAgent(props.agent.id, force);
      showToast(`Agent “${props.agent.name}” deleted`);
      props.onClose();
      navigate("agents");
    } catch (e) {
      if (isApiError(e) && e.code === "agent_in_use") setConflict(e);
      else setError(isApiError(e) ? e.message : String(e));
    } finally {
      setBusy(false);
    }
  };

  return (
    <Dialog
      title={conflict ? `“${props.agent.name}” is still in use` : `Delete “${props.agent.name}”?`}
      onClose={props.onClose}
      tone="danger"
      actions={
        <>
          <button type="button" class="btn" onClick={props.onClose} autoFocus>
            Cancel
          </button>
          {conflict ? (
            <button type="button" class="btn btn-danger" disabled={busy} onClick={() => void remove(true)}>
              {busy ? "Deleting…" : "Delete anyway"}
            </button>
          ) : (
            <button type="button" class="btn btn-danger" disabled={busy} onClick={() => void remove(false)}>
              {busy ? "Deleting…" : "Delete agent"}
            </button>
          )}
        </>
      }
    >
      {conflict ? (
        <>
          <Banner tone="warn" role="alert">
            {conflict.message}
          </Banner>
          {named.length > 0 && (
            <ul class="plain-list spaced">
              {named.map((u) => (
                <li key={u.number.id}>
                  <strong>{formatNumber(u.number.number)}</strong>
                  {u.number.label !== "" && <span class="muted"> · {u.number.label}</span>} —{" "}
                  {u.directions.join(" and ")}
                </li>
              ))}
            </ul>
          )}
          <p>
            <strong>Delete anyway</strong> removes the agent and clears it from these numbers: they will have no agent
            until you assign another.
          </p>
        </>
      ) : (
        <p>The agent’s prompt, greeting and context are deleted for good. Its past calls stay in the call log.</p>
      )}
      {error !== null && (
        <Banner tone="bad" role="alert">
          {error}
        </Banner>
      )}
    </Dialog>
  );
}
