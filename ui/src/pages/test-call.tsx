//! Test Call: an agent tried through this computer's microphone and speakers. Start one
//! (`#/test-call`), then follow it (`#/test-call/<id>`): its status and clock, Mute, End, the
//! live transcript and the context editor of the Live page. Once over it stays on screen,
//! with why it ended and a link to it in Calls. The call itself is an ordinary call: it comes
//! and goes through the event stream like any other.
import type { JSX } from "preact";
import { useEffect, useState } from "preact/hooks";
import { ApiError, isApiError } from "../api/client";
import { sentence } from "../forms";
import type { Agent, AudioDevices, Call } from "../api/types";
import { Icon } from "../components/icons";
import { speakerNames } from "../components/transcript";
import { Banner, EmptyState, Field, FieldSet, Loading, PageHeader, SubmitForm } from "../components/ui";
import { href, navigate } from "../router";
import { useApi, useAppState } from "../store";
import { CallPlaceholder, Elapsed, isLive, LiveContext, LiveTranscript, useCallView } from "./live";
import { ECHO_MODES } from "./settings-audio";

export function TestCallPage(props: { selected: string | null }) {
  const { live } = useAppState();
  const running = live.data?.find((c) => c.direction === "test") ?? null;

  // A test call under way and none chosen (back from another page): show it.
  useEffect(() => {
    if (props.selected === null && running !== null) navigate("test-call", running.id, { replace: true });
  }, [props.selected, running?.id]);

  return (
    <div class="page">
      <PageHeader title="Test Call" summary="Talk to an agent through this computer’s microphone and speakers" />
      <div class="page-content">
        {props.selected !== null ? (
          <TestCallView key={props.selected} id={props.selected} />
        ) : (
          <div class="table-area">
            <StartForm />
          </div>
        )}
      </div>
    </div>
  );
}

interface StartFields {
  agent: string;
  name: string;
  email: string;
  phone: string;
  agentFirst: boolean;
}

function StartForm() {
  const api = useApi();
  const { agents, settings } = useAppState();
  const active = agents.data?.filter((a) => a.active) ?? null;
  const [form, setForm] = useState<StartFields>({ agent: "", name: "", email: "", phone: "", agentFirst: true });
  const [starting, setStarting] = useState(false);
  const [error, setError] = useState<ApiError | null>(null);
  const [audio, setAudio] = useState<AudioDevices | null>(null);

  useEffect(() => {
    let current = true;
    api.audioDevices().then(
      (d) => {
        if (current) setAudio(d);
      },
      () => {
        // The start itself says what is wrong with the audio, if anything.
      },
    );
    return () => {
      current = false;
    };
  }, [api]);

  // The first active agent, until the operator picks one (or the picked one goes away).
  const agentId = active?.some((a) => a.id === form.agent) ? form.agent : (active?.[0]?.id ?? "");
  const update = <K extends keyof StartFields>(key: K, value: StartFields[K]) => {
    setForm((f) => ({ ...f, [key]: value }));
    if (error) setError(null);
  };

  const start = async () => {
    if (agentId === "" || starting) return;
    setStarting(true);
    setError(null);
    const context: Record<string, string> = {};
    for (const key of ["name", "email", "phone"] as const) {
      const value = form[key].trim();
      if (value !== "") context[key] = value;
    }
    try {
      const call = await api.startTestCall({
        agent_id: agentId,
        agent_speaks_first: form.agentFirst,
        ...(Object.keys(context).length > 0 ? { context } : {}),
      });
      navigate("test-call", call.id);
    } catch (e) {
      setError(isApiError(e) ? e : new ApiError(0, "internal", String(e)));
    } finally {
      setStarting(false);
    }
  };

  if (active === null) return <Loading label="Loading the agents…" />;
  if (active.length === 0) {
    return (
      <EmptyState icon="agents" title="No agent to try">
        A test call needs an active agent. Create one, or switch one on, on the <a href={href("agents")}>Agents</a>{" "}
        page.
      </EmptyState>
    );
  }
  const echo = ECHO_MODES.find((m) => m.mode === settings.data?.echo_mode);
  return (
    <section class="card test-start" aria-labelledby="test-start-title">
      <h2 id="test-start-title">Start a test call</h2>
      <p class="muted">
        You speak as the caller; the agent answers as it would on the phone. The call is recorded in Calls like any
        other, marked as a test.
      </p>
      {audio && !audio.available && (
        <Banner tone="warn" role="status">
          <strong>No audio on this computer</strong>
          {audio.problem ? `: ${audio.problem.replace(/\.$/, "")}.` : "."} See{" "}
          <a href={href("settings", "audio")}>Settings → Audio</a>.
        </Banner>
      )}
      <SubmitForm onSubmit={() => void start()}>
        {error && (
          <Banner tone="bad" role="alert">
            {startError(error, active)}
          </Banner>
        )}
        <Field id="test-agent" label="Agent">
          <select
            id="test-agent"
            name="agent"
            value={agentId}
            onChange={(e) => {
              update("agent", e.currentTarget.value);
            }}
          >
            {active.map((a) => (
              <option key={a.id} value={a.id}>
                {a.name}
              </option>
            ))}
          </select>
        </Field>
        <FieldSet
          id="test-opening"
          legend="Who speaks first"
          hint="An inbound call starts with the agent’s greeting; on an outbound call the agent waits for the person who answers."
        >
          <label class="check">
            <input
              type="radio"
              name="opening"
              checked={form.agentFirst}
              onChange={() => {
                update("agentFirst", true);
              }}
            />
            <span>The agent greets first (as on an inbound call)</span>
          </label>
          <label class="check">
            <input
              type="radio"
              name="opening"
              checked={!form.agentFirst}
              onChange={() => {
                update("agentFirst", false);
              }}
            />
            <span>The agent waits for me (as on an outbound call)</span>
          </label>
        </FieldSet>
        <fieldset class="fieldset test-context">
          <legend>
            Call context <span class="optional">(optional)</span>
          </legend>
          <p class="field-help muted">
            Who the agent thinks it is talking to: these fill the prompt’s <code>{"{{name}}"}</code>,{" "}
            <code>{"{{email}}"}</code> and <code>{"{{phone}}"}</code> placeholders.
          </p>
          <div class="field-row field-row-3">
            <ContextInput id="test-name" label="Name" value={form.name} onInput={(v) => update("name", v)} />
            <ContextInput
              id="test-email"
              label="Email"
              inputMode="email"
              value={form.email}
              onInput={(v) => update("email", v)}
            />
            <ContextInput
              id="test-phone"
              label="Phone"
              inputMode="tel"
              value={form.phone}
              onInput={(v) => update("phone", v)}
            />
          </div>
        </fieldset>
        <div class="form-actions test-start-actions">
          <p class="muted small test-audio-note">
            <Icon name="mic" size={14} />{" "}
            {audio ? (
              <>
                {deviceName(audio, "input")} · {deviceName(audio, "output")}
                {echo ? ` · ${echo.label.replace(/ \(recommended\)$/, "")}` : ""} ·{" "}
              </>
            ) : null}
            <a href={href("settings", "audio")}>Audio settings</a>
          </p>
          <button type="submit" class="btn btn-primary" disabled={starting}>
            <Icon name="mic" /> {starting ? "Starting…" : "Start test call"}
          </button>
        </div>
      </SubmitForm>
    </section>
  );
}

function ContextInput(props: {
  id: string;
  label: string;
  inputMode?: "text" | "email" | "tel";
  value: string;
  onInput: (v: string) => void;
}) {
  return (
    <Field id={props.id} label={props.label}>
      <input
        id={props.id}
        name={props.id}
        type="text"
        inputMode={props.inputMode ?? "text"}
        autoComplete="off"
        value={props.value}
        onInput={(e) => {
          props.onInput(e.currentTarget.value);
        }}
      />
    </Field>
  );
}

/** The chosen device's name, "default microphone" when none is chosen. */
function deviceName(audio: AudioDevices, which: "input" | "output"): string {
  const id = audio[which] ?? null;
  const what = which === "input" ? "microphone" : "speaker";
  if (id === null) return `Default ${what}`;
  const found = (which === "input" ? audio.inputs : audio.outputs).find((d) => d.id === id);
  return found ? found.name : `${id} (not connected)`;
}

function startError(e: ApiError, agents: Agent[]): JSX.Element | string {
  if (e.code === "audio_unavailable") {
    return (
      <>
        <strong>The microphone or speaker cannot be used.</strong> {sentence(e.message)}{" "}
        <a href={href("settings", "audio")}>Open Settings → Audio</a>
      </>
    );
  }
  switch (e.status) {
    case 409:
      return (
        <>
          <strong>Another test call has the microphone.</strong> {sentence(e.message)} End it first.
        </>
      );
    case 422:
      return (
        <>
          <strong>This agent is switched off.</strong> {sentence(e.message)} Switch it on on the{" "}
          <a href={href("agents")}>Agents</a> page.
        </>
      );
    case 404:
      return agents.length > 0 ? "This agent no longer exists; choose another." : e.message;
    default:
      return e.message;
  }
}

/** A test call, running or over. */
function TestCallView(props: { id: string }) {
  const { agents } = useAppState();
  const { call, lines, error, retry } = useCallView(props.id);

  if (call === null) {
    return (
      <CallPlaceholder label="Test call" error={error} onRetry={retry}>
        <a href={href("test-call")}>Start a test call</a>
      </CallPlaceholder>
    );
  }

  const live = isLive(call);
  const agent = agents.data?.find((a) => a.id === call.agent_id) ?? null;
  const agentName = call.agent_name ?? "Deleted agent";
  return (
    <section class="live-call test-call" aria-labelledby="test-call-title">
      <header class="live-call-header">
        <div class="live-call-heading">
          <div class="live-call-title">
            <h2 id="test-call-title">
              {call.agent_id && call.agent_name ? (
                <a href={href("agents", call.agent_id)} class="row-link" title="Open the agent">
                  {agentName}
                </a>
              ) : (
                agentName
              )}
            </h2>
            <CallState call={call} />
          </div>
          <p class="muted live-call-meta">Test call through this computer’s microphone and speakers</p>
        </div>
        <Elapsed call={call} large />
        {live && <CallControls call={call} />}
      </header>
      {!live && <EndedBanner call={call} />}
      <div class="live-call-body">
        <LiveTranscript lines={lines} started={Date.parse(call.started_at)} live={live} names={speakerNames(call)} />
        <LiveContext call={call} agent={agent} />
      </div>
    </section>
  );
}

/** Connecting (the agent is being reached), Live, or Ended. */
function CallState(props: { call: Call }) {
  const c = props.call;
  if (!isLive(c)) return <span class="badge badge-neutral">Ended</span>;
  if (!c.answered_at)
    return (
      <span class="badge badge-warn" role="status">
        Connecting…
      </span>
    );
  return (
    <span class="badge badge-bad test-live" role="status">
      <span class="live-dot on" aria-hidden="true" /> Live
    </span>
  );
}

/** Whether this window muted each test call: the API has no way to ask, and the page may be
 * left and come back to while the call runs. */
const mutedCalls = new Map<string, boolean>();

function CallControls(props: { call: Call }) {
  const api = useApi();
  const { call } = props;
  const [muted, setMutedState] = useState(() => mutedCalls.get(call.id) ?? false);
  const setMuted = (m: boolean) => {
    mutedCalls.set(call.id, m);
    setMutedState(m);
  };
  const [muting, setMuting] = useState(false);
  const [ending, setEnding] = useState(false);
  const [error, setError] = useState<string | null>(null);

  const toggleMute = async () => {
    setMuting(true);
    setError(null);
    try {
      setMuted(await api.muteTestCall(call.id, !muted));
    } catch (e) {
      setError(isApiError(e) ? e.message : String(e));
    } finally {
      setMuting(false);
    }
  };
  const end = async () => {
    setEnding(true);
    setError(null);
    try {
      // Accepted: the call's end arrives as an event.
      await api.hangUpCall(call.id);
    } catch (e) {
      setEnding(false);
      setError(isApiError(e) ? e.message : String(e));
    }
  };

  return (
    <div class="test-controls">
      <div class="test-buttons">
        <button
          type="button"
          class={`btn ${muted ? "btn-warn-on" : ""}`}
          aria-pressed={muted}
          disabled={muting || ending}
          onClick={() => void toggleMute()}
          title={muted ? "The agent hears silence: click to let it hear you again" : "Stop the agent hearing you"}
        >
          <Icon name="mic" /> {muted ? "Unmute" : "Mute"}
        </button>
        <button type="button" class="btn btn-danger" disabled={ending} onClick={() => void end()}>
          {ending ? "Ending…" : "End test call"}
        </button>
      </div>
      <span class="small test-mute-state" role="status" aria-live="polite">
        {error !== null ? (
          <span class="bad-text">{error}</span>
        ) : muted ? (
          <span class="warn-text">Muted: the agent hears silence</span>
        ) : (
          <span class="muted">Microphone on</span>
        )}
      </span>
    </div>
  );
}

function EndedBanner(props: { call: Call }) {
  const { call } = props;
  return (
    <div class="live-ended test-ended" role="status">
      <Icon name="check" />
      <span>
        The test call is over{call.hangup_cause ? ` — ${call.hangup_cause}` : ""}. It is in{" "}
        <a href={href("calls", call.id)}>Calls</a> with its transcript.
      </span>
      <span class="spacer" />
      <a class="btn btn-sm btn-primary" href={href("test-call")}>
        Start another
      </a>
    </div>
  );
}
