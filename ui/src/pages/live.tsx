//! Live: the calls under way now and, for the one selected, its transcript as it is spoken,
//! its context (edited mid-call, confirmed when the voice session has it) and End call.
//! Everything arrives through the event stream. A call that ends while shown stays on screen,
//! marked ended, with its transcript, until the operator moves on.
import type { ComponentChildren, JSX } from "preact";
import { useEffect, useLayoutEffect, useRef, useState } from "preact/hooks";
import { ApiError, isApiError } from "../api/client";
import {
  LIVE_STATUSES,
  type Agent,
  type Call,
  type CallDetail,
  type CallTransfer,
  type ContextUpdated,
  type Listening,
  type Speaker,
} from "../api/types";
import { playCallAudio, type CallAudio } from "../call-audio";
import { ContextEditor, contextEdited, formatContext } from "../components/context-editor";
import { Icon } from "../components/icons";
import { OutboundCallDialog } from "../components/outbound-call";
import { mergeLines, speakerNames, Transcript } from "../components/transcript";
import { TransferUnderWay, useTransfers } from "../components/transfers";
import {
  Banner,
  Dialog,
  EmptyState,
  ErrorState,
  Loading,
  PageHeader,
  RemoteView,
  SubmitForm,
  dateTime,
} from "../components/ui";
import { same } from "../forms";
import { href, navigate } from "../router";
import { onEvent, onTranscriptLine, reload, useApi, useAppState } from "../store";
import { checkContext, formatNumber } from "../validate";
import { DIRECTION_NAMES, StatusBadge } from "./calls";
import { CARRIER_NAMES } from "./numbers";

/** How long to wait for the voice session to confirm new instructions before saying so. */
const CONFIRM_TIMEOUT_MS = 10_000;

export const isLive = (call: Call) => LIVE_STATUSES.includes(call.status);

export function LivePage(props: { selected: string | null }) {
  const { live } = useAppState();
  const calls = live.data;
  const first = calls?.[0]?.id ?? null;

  // Nothing chosen: show the longest-running call. The URL names it (so a reload keeps it),
  // replacing this entry so that Back does not return to a page that would choose again.
  useEffect(() => {
    if (props.selected === null && first !== null) navigate("live", first, { replace: true });
  }, [props.selected, first]);

  const count = calls?.length ?? 0;
  const [calling, setCalling] = useState(false);
  return (
    <div class="page">
      <PageHeader
        title="Live"
        summary={
          calls === null
            ? "Calls under way, as they happen"
            : count === 0
              ? "No calls right now"
              : `${count} live ${count === 1 ? "call" : "calls"}`
        }
        actions={
          <button
            type="button"
            class="btn"
            onClick={() => {
              setCalling(true);
            }}
          >
            <Icon name="outgoing" /> Call a number
          </button>
        }
      />
      {calling && (
        <OutboundCallDialog
          onClose={() => {
            setCalling(false);
          }}
        />
      )}
      <div class="page-content">
        <RemoteView remote={live} what="live calls" onRetry={() => void reload.live()}>
          {(list) =>
            list.length === 0 && props.selected === null ? (
              <div class="table-area">
                <NoLiveCalls />
              </div>
            ) : (
              <div class="live">
                <LiveList calls={list} selected={props.selected} />
                {props.selected !== null && <LiveCallView key={props.selected} id={props.selected} />}
              </div>
            )
          }
        </RemoteView>
      </div>
    </div>
  );
}

/** The empty state, with what it takes for calls to arrive and whether each is in place. */
function NoLiveCalls() {
  const { settings, numbers, credentials } = useAppState();
  const publicUrl = settings.data?.public_base_url ?? null;
  const answering = numbers.data?.filter((n) => n.inbound_agent_id && n.status === "active").length ?? null;
  const openai = credentials.data?.providers.find((p) => p.provider === "openai")?.set ?? null;
  return (
    <EmptyState
      icon="live"
      title="No live calls"
      action={
        <ul class="checklist" aria-label="What calls need">
          {answering !== null && (
            <Check ok={answering > 0}>
              {answering > 0 ? (
                <>
                  {answering} {answering === 1 ? "number answers" : "numbers answer"} with an agent ·{" "}
                  <a href={href("numbers")}>Phone Numbers</a>
                </>
              ) : (
                <>
                  No number has an inbound agent yet: assign one on <a href={href("numbers")}>Phone Numbers</a>
                </>
              )}
            </Check>
          )}
          {settings.data !== null && (
            <Check ok={publicUrl !== null}>
              {publicUrl !== null ? (
                <>
                  Carriers reach Switchboard at <code>{publicUrl}</code>
                </>
              ) : (
                <>
                  The public URL is not set, so carriers cannot reach Switchboard: set it in{" "}
                  <a href={href("settings")}>Settings</a>
                </>
              )}
            </Check>
          )}
          {openai !== null && (
            <Check ok={openai}>
              {openai ? (
                "The OpenAI API key is set for the voice agents"
              ) : (
                <>
                  No OpenAI API key: calls would be answered but the agent could not speak. Add it in{" "}
                  <a href={href("settings")}>Settings</a>
                </>
              )}
            </Check>
          )}
        </ul>
      }
    >
      Calls show up here the moment they start. Inbound calls reach Switchboard on phone numbers that have an inbound
      agent, through the public URL set in Settings.
    </EmptyState>
  );
}

function Check(props: { ok: boolean; children: ComponentChildren }) {
  return (
    <li class={props.ok ? "ok" : "todo"}>
      <Icon name={props.ok ? "check" : "alert"} size={14} />
      <span class="visually-hidden">{props.ok ? "Done: " : "To do: "}</span>
      <span>{props.children}</span>
    </li>
  );
}

function LiveList(props: { calls: Call[]; selected: string | null }) {
  return (
    <section class="live-list" aria-labelledby="live-list-title">
      <h2 id="live-list-title" class="visually-hidden">
        Live calls
      </h2>
      {props.calls.length === 0 ? (
        <p class="muted live-list-empty">No live calls right now.</p>
      ) : (
        <ul class="plain-list live-items" aria-label="Live calls">
          {props.calls.map((c) => (
            <li key={c.id}>
              <LiveItem call={c} selected={props.selected === c.id} />
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}

function LiveItem(props: { call: Call; selected: boolean }) {
  const c = props.call;
  const inbound = c.direction === "inbound";
  return (
    <a
      class={`live-item ${props.selected ? "selected" : ""}`}
      href={href("live", c.id)}
      aria-current={props.selected ? "true" : undefined}
      data-call-id={c.id}
    >
      <span class="live-item-top">
        <strong class="truncate">{agentName(c)}</strong>
        <Elapsed call={c} />
      </span>
      {c.direction === "test" ? (
        <>
          <span class="truncate">
            <span class="sub">With</span> you
          </span>
          <span class="sub truncate">Through this computer’s microphone and speakers</span>
        </>
      ) : (
        <>
          <span class="truncate">
            <span class="sub">{inbound ? "From" : "To"}</span> {formatNumber(inbound ? c.from_number : c.to_number)}
          </span>
          <span class="sub truncate">
            {inbound ? "On" : "From"} {formatNumber(inbound ? c.to_number : c.from_number)}
          </span>
        </>
      )}
      <span class="live-item-meta sub">
        <StatusBadge status={c.status} />
        <span>{CARRIER_NAMES[c.carrier]}</span>
        <span>{DIRECTION_NAMES[c.direction]}</span>
      </span>
    </a>
  );
}

function agentName(c: Call): string {
  return c.agent_name ?? (c.agent_id ? "Deleted agent" : "No agent");
}

/** Seconds since `iso` on this machine's clock (never negative, whatever the clocks say). */
function secondsSince(iso: string, now: number): number {
  const t = Date.parse(iso);
  return Number.isNaN(t) ? 0 : Math.max(0, Math.floor((now - t) / 1000));
}

/** A running clock: 0:07, 12:34, 1:02:03. */
function clock(secs: number): string {
  const h = Math.floor(secs / 3600);
  const m = Math.floor((secs % 3600) / 60);
  const s = String(secs % 60).padStart(2, "0");
  return h > 0 ? `${h}:${String(m).padStart(2, "0")}:${s}` : `${m}:${s}`;
}

/** One ticking clock for every running timer on the page, so they all show the same second. */
const tickers = new Set<(now: number) => void>();
let tickTimer: number | undefined;
let lastTick = Date.now();

function useNow(ticking: boolean): number {
  const [now, setNow] = useState(() => (tickers.size > 0 ? lastTick : Date.now()));
  useEffect(() => {
    if (!ticking) return;
    if (tickers.size === 0) {
      lastTick = Date.now();
      tickTimer = window.setInterval(() => {
        lastTick = Date.now();
        for (const t of tickers) t(lastTick);
      }, 1000);
    }
    setNow(lastTick);
    tickers.add(setNow);
    return () => {
      tickers.delete(setNow);
      if (tickers.size === 0) window.clearInterval(tickTimer);
    };
  }, [ticking]);
  return now;
}

/** How long the call has been talking (from its answer), ringing, or lasted once it ended. */
export function Elapsed(props: { call: Call; large?: boolean }) {
  const c = props.call;
  const live = isLive(c);
  const now = useNow(live);
  let label: string;
  let value: string;
  if (!live) {
    label = "Lasted";
    const secs =
      c.duration_secs ?? (c.answered_at && c.ended_at ? secondsSince(c.answered_at, Date.parse(c.ended_at)) : null);
    value = secs === null ? "—" : clock(secs);
  } else if (c.answered_at) {
    label = "Talking for";
    value = clock(secondsSince(c.answered_at, now));
  } else {
    label = c.status === "queued" ? "Queued for" : "Ringing for";
    value = clock(secondsSince(c.started_at, now));
  }
  return (
    <span class={`elapsed ${props.large ? "elapsed-large" : ""} ${live && !c.answered_at ? "waiting" : ""}`}>
      <span class="visually-hidden">{label} </span>
      <span data-testid="elapsed">{value}</span>
    </span>
  );
}

/** A call as it goes on: its record and transcript, loaded and then kept current by the
 * event stream (`retry` loads again after an error). Shared with the Test Call page. */
export function useCallView(id: string): {
  call: Call | null;
  lines: CallDetail["transcript"];
  transfers: CallTransfer[];
  error: ApiError | null;
  retry: () => void;
} {
  const api = useApi();
  const { callsRevision } = useAppState();
  const [call, setCall] = useState<Call | null>(null);
  const [lines, setLines] = useState<CallDetail["transcript"]>([]);
  const [loadedTransfers, setLoadedTransfers] = useState<CallTransfer[] | undefined>(undefined);
  const transfers = useTransfers(id, loadedTransfers);
  const [error, setError] = useState<ApiError | null>(null);
  const [attempt, setAttempt] = useState(0);

  // The record with its transcript; again after call events (coalesced), which also covers a
  // reconnected or lagged event stream, so nothing said meanwhile is missing.
  const loaded = call !== null;
  useEffect(() => {
    let current = true;
    const t = window.setTimeout(
      () => {
        api.getCall(id).then(
          (d) => {
            if (!current) return;
            const { transcript, transfers: loadedNow, ...record } = d;
            setCall(record);
            setLines((l) => mergeLines(transcript, l));
            setLoadedTransfers(loadedNow);
            setError(null);
          },
          (e: unknown) => {
            if (current) setError(isApiError(e) ? e : new ApiError(0, "internal", String(e)));
          },
        );
      },
      loaded ? 150 : 0,
    );
    return () => {
      current = false;
      window.clearTimeout(t);
    };
  }, [api, id, callsRevision, attempt]);

  useEffect(() => {
    const update = (c: Call) => {
      if (c.id === id) setCall(c);
    };
    const offCreated = onEvent("call_created", (e) => {
      update(e.call);
    });
    const offUpdated = onEvent("call_updated", (e) => {
      update(e.call);
    });
    const offLines = onTranscriptLine((line) => {
      if (line.call_id === id) setLines((l) => mergeLines(l, [line]));
    });
    return () => {
      offCreated();
      offUpdated();
      offLines();
    };
  }, [id]);

  return {
    call,
    lines,
    transfers,
    error,
    retry: () => {
      setAttempt((n) => n + 1);
    },
  };
}

/** What stands in a call's place until it is loaded: loading, not found (with `children`, a
 * way back), or the error with a retry. */
export function CallPlaceholder(props: {
  label: string;
  error: ApiError | null;
  onRetry: () => void;
  children: ComponentChildren;
}) {
  const { error } = props;
  return (
    <section class="live-call live-call-placeholder" aria-label={props.label}>
      {error?.code === "not_found" ? (
        <EmptyState icon="alert" title="Call not found">
          There is no call with this id. {props.children}
        </EmptyState>
      ) : error ? (
        <ErrorState error={error} what="this call" onRetry={props.onRetry} />
      ) : (
        <Loading label="Loading the call…" />
      )}
    </section>
  );
}

/** The selected call: live, or ended while the operator was watching it. */
function LiveCallView(props: { id: string }) {
  const { agents } = useAppState();
  const { call, lines, transfers, error, retry } = useCallView(props.id);

  if (call === null) {
    return (
      <CallPlaceholder label="Selected call" error={error} onRetry={retry}>
        <a href={href("live")}>Back to live calls</a>
      </CallPlaceholder>
    );
  }

  const live = isLive(call);
  const inbound = call.direction === "inbound";
  const agent = agents.data?.find((a) => a.id === call.agent_id) ?? null;
  return (
    <section class="live-call" aria-labelledby="live-call-title">
      <header class="live-call-header">
        <div class="live-call-heading">
          <div class="live-call-title">
            <h2 id="live-call-title">
              {call.agent_id && call.agent_name ? (
                <a href={href("agents", call.agent_id)} class="row-link" title="Open the agent">
                  {call.agent_name}
                </a>
              ) : (
                agentName(call)
              )}
            </h2>
            <StatusBadge status={call.status} />
          </div>
          <p class="muted live-call-meta">
            {call.direction === "test" ? (
              <>
                Test call on <strong class="nowrap">this computer</strong>
                {" · "}
                <a href={href("test-call")}>Test Call page</a>
                {" · "}
              </>
            ) : (
              <>
                {inbound ? "Inbound call from " : "Outbound call to "}
                <strong class="nowrap">{formatNumber(inbound ? call.from_number : call.to_number)}</strong>
                {inbound ? " on " : " from "}
                <span class="nowrap">{formatNumber(inbound ? call.to_number : call.from_number)}</span>
                {` · ${CARRIER_NAMES[call.carrier]} · `}
              </>
            )}
            <span class="nowrap" title={dateTime(call.started_at)}>
              started {new Date(call.started_at).toLocaleTimeString(undefined, { hour: "numeric", minute: "2-digit" })}
            </span>
          </p>
        </div>
        <Elapsed call={call} large />
        {live && <EndCallButton call={call} />}
      </header>
      {live && call.direction !== "test" && <ListenControl call={call} />}
      {live && <TransferUnderWay transfers={transfers} />}
      {!live && <EndedBanner call={call} />}
      <div class="live-call-body">
        <div class="live-talk">
          <LiveTranscript lines={lines} started={Date.parse(call.started_at)} live={live} names={speakerNames(call)} />
          {live && <WhisperForm call={call} />}
        </div>
        <LiveContext call={call} agent={agent} />
      </div>
    </section>
  );
}

function EndedBanner(props: { call: Call }) {
  const { call } = props;
  const why = call.hangup_cause ? ` — ${call.hangup_cause}` : "";
  return (
    <div class="live-ended" role="status">
      <Icon name="check" />
      <span>
        This call is over{why}. Its transcript stays in the <a href={href("calls", call.id)}>call log</a>.
      </span>
      <span class="spacer" />
      <a class="btn btn-sm" href={href("live")}>
        Close
      </a>
    </div>
  );
}

/** The transcript, kept scrolled to the newest line unless the operator scrolled up to read. */
export function LiveTranscript(props: {
  lines: CallDetail["transcript"];
  started: number;
  live: boolean;
  names?: Partial<Record<Speaker, string>>;
}) {
  const scroller = useRef<HTMLDivElement>(null);
  const following = useRef(true);
  // Starts at none seen, so the lines already said when the call opens scroll into view.
  const seen = useRef(0);
  const [unseen, setUnseen] = useState(0);

  useLayoutEffect(() => {
    const el = scroller.current;
    const added = props.lines.length - seen.current;
    seen.current = props.lines.length;
    if (!el || added <= 0) return;
    if (following.current) el.scrollTop = el.scrollHeight;
    else setUnseen((n) => n + added);
  }, [props.lines.length]);

  const onScroll = () => {
    const el = scroller.current;
    if (!el) return;
    following.current = el.scrollHeight - el.scrollTop - el.clientHeight < 24;
    if (following.current) setUnseen(0);
  };
  const toLatest = () => {
    const el = scroller.current;
    if (!el) return;
    following.current = true;
    el.scrollTop = el.scrollHeight;
    setUnseen(0);
  };

  return (
    <section class="live-transcript" aria-labelledby="live-transcript-title">
      <header class="live-section-head">
        <h3 id="live-transcript-title">Transcript</h3>
        {props.live && (
          <span class="live-flag">
            <span class="live-dot on" aria-hidden="true" /> Live
          </span>
        )}
      </header>
      <div
        class="live-transcript-scroll"
        ref={scroller}
        onScroll={onScroll}
        tabIndex={0}
        role="log"
        aria-live="polite"
        aria-label="Transcript"
      >
        {props.lines.length === 0 ? (
          <p class="muted">{props.live ? "Waiting for the first words…" : "Nothing was said on this call."}</p>
        ) : (
          <Transcript lines={props.lines} started={props.started} names={props.names} />
        )}
      </div>
      {unseen > 0 && (
        <button type="button" class="btn btn-sm live-newer" onClick={toLatest}>
          {unseen} new {unseen === 1 ? "line" : "lines"} ↓
        </button>
      )}
    </section>
  );
}

/**
 * Listen in through this computer's speakers: caller and agent mixed, the agent as the caller
 * heard it. One call at a time (the engine switches at once); volume while listening.
 */
function ListenControl(props: { call: Call }) {
  const api = useApi();
  const { desktop } = useAppState();
  const [listening, setListening] = useState<Listening | null>(null);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<ApiError | null>(null);
  const { call } = props;
  useEffect(() => {
    let live = true;
    api.getListening().then(
      (l) => {
        if (live) setListening(l);
      },
      // Not knowing shows the button off; pressing it then says what is wrong.
      () => undefined,
    );
    return () => {
      live = false;
    };
  }, [api, call.id]);
  const on = listening?.call_id === call.id;
  const holding = on && listening.taken_over;
  const run = async (request: () => Promise<Listening>) => {
    setBusy(true);
    setError(null);
    try {
      setListening(await request());
    } catch (e) {
      setError(isApiError(e) ? e : new ApiError(0, "internal", String(e)));
    } finally {
      setBusy(false);
    }
  };
  const send = (callId: string | null, volume?: number) => run(() => api.putListening(callId, volume));
  return (
    <div class="listen-control">
      <button
        type="button"
        class="btn"
        aria-pressed={on}
        disabled={busy}
        title={
          holding
            ? "Stop listening: the call goes back to the agent"
            : `Hear the call through ${desktop ? "this computer's" : "the engine computer's"} speakers`
        }
        onClick={() => void send(on ? null : call.id)}
      >
        <Icon name={on ? "stop" : "volume"} /> {on ? "Stop listening" : "Listen"}
      </button>
      {on && !holding && (
        <button
          type="button"
          class="btn"
          disabled={busy}
          title="Speak to the caller through this computer's microphone; the agent goes quiet until you hand back"
          onClick={() => void run(() => api.takeOver(call.id))}
        >
          <Icon name="mic" /> Take over
        </button>
      )}
      {holding && (
        <>
          <span
            class="takeover-flag"
            role="status"
            title="The caller hears you; the agent is silent until you hand back"
          >
            <span class="live-dot on" aria-hidden="true" /> You have the call
          </span>
          <button
            type="button"
            class="btn btn-primary"
            disabled={busy}
            title="The agent takes the call back, told what was said meanwhile"
            onClick={() => void run(() => api.handBack(call.id))}
          >
            Hand back to agent
          </button>
        </>
      )}
      {on && (
        <label class="listen-volume">
          <input
            type="range"
            min={0}
            max={100}
            value={Math.round(listening.volume * 100)}
            aria-label="Volume"
            onChange={(e) => void send(call.id, Number(e.currentTarget.value) / 100)}
          />
        </label>
      )}
      {!desktop && <BrowserListen call={call} />}
      {error && (
        <span class="listen-error" role="alert">
          {error.message}
        </span>
      )}
    </div>
  );
}

/** Listening in this browser (the UI served by `switchboard serve`, maybe on another machine
 * than the engine's speakers): the call's audio stream played with Web Audio, with a meter. */
function BrowserListen(props: { call: Call }) {
  const api = useApi();
  const player = useRef<CallAudio | null>(null);
  const [on, setOn] = useState(false);
  const [level, setLevel] = useState(0);
  const [problem, setProblem] = useState<string | null>(null);
  const { call } = props;
  useEffect(
    () => () => {
      player.current?.stop();
    },
    [call.id],
  );
  useEffect(() => {
    if (!on) return;
    const timer = window.setInterval(() => {
      setLevel(player.current?.level() ?? 0);
    }, 100);
    return () => {
      window.clearInterval(timer);
    };
  }, [on]);
  const toggle = () => {
    if (player.current) {
      player.current.stop();
      return;
    }
    setProblem(null);
    try {
      player.current = playCallAudio(api.callAudioUrl(call.id), 1, (why) => {
        player.current = null;
        setOn(false);
        setLevel(0);
        setProblem(why);
      });
      setOn(true);
    } catch (e) {
      setProblem(`this browser cannot play it: ${String(e)}`);
    }
  };
  // Percent of the meter: -60 dBFS at its left end, full scale at its right.
  const pct = level > 0 ? Math.max(0, Math.min(100, ((20 * Math.log10(level) + 60) / 60) * 100)) : 0;
  return (
    <>
      <button type="button" class="btn" aria-pressed={on} title="Hear the call in this browser tab" onClick={toggle}>
        <Icon name={on ? "stop" : "volume"} /> {on ? "Stop in browser" : "Listen in browser"}
      </button>
      {on && (
        <div
          class="level-bar browser-level"
          role="meter"
          aria-label="Call audio level"
          aria-valuemin={0}
          aria-valuemax={100}
          aria-valuenow={Math.round(pct)}
        >
          <span class="level-fill" style={{ width: `${String(pct)}%` }} />
        </div>
      )}
      {problem && (
        <span class="listen-error" role="alert">
          Listening in the browser stopped: {problem}
        </span>
      )}
    </>
  );
}

/** A note to the agent the caller does not hear: it joins the call's context. */
function WhisperForm(props: { call: Call }) {
  const api = useApi();
  const [text, setText] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<ApiError | null>(null);
  const [sent, setSent] = useState(false);
  const submit = async (e: Event) => {
    e.preventDefault();
    if (text.trim() === "") return;
    setBusy(true);
    setError(null);
    setSent(false);
    try {
      await api.whisper(props.call.id, text.trim());
      setText("");
      setSent(true);
    } catch (err) {
      setError(isApiError(err) ? err : new ApiError(0, "internal", String(err)));
    } finally {
      setBusy(false);
    }
  };
  return (
    <form class="whisper-form" onSubmit={(e) => void submit(e)}>
      <input
        type="text"
        value={text}
        maxLength={500}
        placeholder="Whisper to the agent…"
        title="A note for the agent only: the caller does not hear it"
        aria-label="Note to the agent"
        onInput={(e) => {
          setText(e.currentTarget.value);
          setSent(false);
        }}
      />
      <button type="submit" class="btn" disabled={busy || text.trim() === ""}>
        Send note
      </button>
      {sent && (
        <span class="muted small" role="status">
          The agent has it.
        </span>
      )}
      {error && (
        <span class="listen-error" role="alert">
          {error.message}
        </span>
      )}
    </form>
  );
}

function EndCallButton(props: { call: Call }) {
  const api = useApi();
  const [confirming, setConfirming] = useState(false);
  const [busy, setBusy] = useState(false);
  const [ending, setEnding] = useState(false);
  const [error, setError] = useState<ApiError | null>(null);
  const { call } = props;
  const party =
    call.direction === "test"
      ? "you, on this computer"
      : formatNumber(call.direction === "inbound" ? call.from_number : call.to_number);

  const end = async () => {
    setBusy(true);
    setError(null);
    try {
      await api.hangUpCall(call.id);
      // Accepted: the call's end arrives as an event and takes it off the list.
      setEnding(true);
      setConfirming(false);
    } catch (e) {
      setError(isApiError(e) ? e : new ApiError(0, "internal", String(e)));
    } finally {
      setBusy(false);
    }
  };

  return (
    <>
      <button
        type="button"
        class="btn btn-danger"
        disabled={ending}
        onClick={() => {
          setError(null);
          setConfirming(true);
        }}
      >
        {ending ? "Ending…" : "End call"}
      </button>
      {confirming && (
        <Dialog
          title="End this call?"
          tone="danger"
          onClose={() => {
            setConfirming(false);
          }}
          actions={
            <>
              <button
                type="button"
                class="btn"
                autoFocus
                onClick={() => {
                  setConfirming(false);
                }}
              >
                {error?.status === 409 ? "Close" : "Cancel"}
              </button>
              {error?.status !== 409 && (
                <button type="button" class="btn btn-danger" disabled={busy} onClick={() => void end()}>
                  {busy ? "Ending…" : error ? "Try again" : "End call"}
                </button>
              )}
            </>
          }
        >
          {call.answered_at ? (
            <p>
              {agentName(call)} is on the line with <strong>{party}</strong>. Ending the call disconnects the caller at
              once; the transcript stays in the call log.
            </p>
          ) : (
            <p>
              The call {call.direction === "inbound" ? "from" : "to"} <strong>{party}</strong> has not been answered
              yet. Ending it hangs up before {agentName(call)} takes it.
            </p>
          )}
          {error && (
            <Banner tone="bad" role="alert">
              {hangUpError(error)}
            </Banner>
          )}
        </Dialog>
      )}
    </>
  );
}

function hangUpError(e: ApiError): JSX.Element | string {
  switch (e.status) {
    case 409:
      return "This call has already ended.";
    case 502:
      return (
        <>
          <strong>The carrier could not be told to hang up</strong>, so the call may still be up. {e.message}
        </>
      );
    case 404:
      return "This call no longer exists.";
    default:
      return e.code === "invalid" ? (
        <>
          {e.message} <a href={href("settings")}>Open Settings</a>
        </>
      ) : (
        e.message
      );
  }
}

/** The call's own context, or its agent's, edited while the call runs. */
export function LiveContext(props: { call: Call; agent: Agent | null }) {
  const [target, setTarget] = useState<"call" | "agent">("call");
  // Narrow windows fold the editor away under the transcript until asked for (CSS shows it
  // always where there is room beside the transcript).
  const [open, setOpen] = useState(false);
  const api = useApi();
  const { call, agent } = props;
  const showAgent = target === "agent" && agent !== null;
  if (!isLive(call)) {
    return (
      <section class="live-context open" aria-labelledby="live-context-title">
        <header class="live-section-head">
          <h3 id="live-context-title">Context</h3>
        </header>
        {Object.keys(call.context).length === 0 ? (
          <p class="muted">No context was set for this call.</p>
        ) : (
          <pre class="context-view" aria-label="Call context">
            {formatContext(call.context)}
          </pre>
        )}
        <p class="muted small live-context-ended">The call has ended: its context can no longer change.</p>
      </section>
    );
  }
  return (
    <section class={`live-context ${open ? "open" : ""}`} aria-labelledby="live-context-title">
      <header class="live-section-head">
        <h3 id="live-context-title">Context</h3>
        <span class="muted small live-context-summary">{keyCount(call.context)}</span>
        <span class="spacer" />
        <button
          type="button"
          class="btn btn-sm live-context-toggle"
          aria-expanded={open}
          aria-controls="live-context-body"
          onClick={() => {
            setOpen(!open);
          }}
        >
          {open ? "Hide" : "Edit context"}
        </button>
        {agent && (
          <div class="segmented" role="group" aria-label="Whose context">
            <button
              type="button"
              aria-pressed={!showAgent}
              onClick={() => {
                setTarget("call");
              }}
            >
              This call
            </button>
            <button
              type="button"
              aria-pressed={showAgent}
              onClick={() => {
                setTarget("agent");
              }}
            >
              Agent
            </button>
          </div>
        )}
      </header>
      <div class="live-context-body" id="live-context-body">
        {showAgent ? (
          <ContextForm
            key={`agent-${agent.id}`}
            id="live-agent-context"
            label={`${agent.name}’s context`}
            help={
              <>
                Facts the agent uses on every call, as a JSON object; its live calls get them at once. Same as on the{" "}
                <a href={href("agents", agent.id)}>Agents</a> page.
              </>
            }
            callId={call.id}
            stored={agent.context}
            target="agent"
            save={(ctx) => api.putAgentContext(agent.id, ctx)}
          />
        ) : (
          <ContextForm
            key="call"
            id="live-call-context"
            label="Call context"
            help={
              <>
                Facts for this call only, as a JSON object; <code>name</code>, <code>email</code> and <code>phone</code>{" "}
                fill the prompt’s placeholders. The agent gets new instructions at once.
              </>
            }
            callId={call.id}
            stored={call.context}
            target="call"
            save={(ctx) => api.putCallContext(call.id, ctx)}
          />
        )}
      </div>
    </section>
  );
}

function keyCount(context: Record<string, unknown>): string {
  const n = Object.keys(context).length;
  return n === 0 ? "none for this call" : `${n} ${n === 1 ? "key" : "keys"} for this call`;
}

/** What became of the last change sent from this form. */
type Outcome =
  | { kind: "none" }
  | { kind: "sending"; calls: number }
  | { kind: "applied"; calls: number }
  | { kind: "unconfirmed" }
  | { kind: "saved" };

function ContextForm(props: {
  id: string;
  label: string;
  help: JSX.Element;
  callId: string;
  stored: Record<string, unknown>;
  target: "call" | "agent";
  save: (context: Record<string, unknown>) => Promise<ContextUpdated>;
}) {
  const [text, setText] = useState(() => formatContext(props.stored));
  // The stored context the text started from: edits are what differ from it.
  const [base, setBase] = useState(props.stored);
  const [saving, setSaving] = useState(false);
  const [error, setError] = useState<ApiError | null>(null);
  const [outcome, setOutcome] = useState<Outcome>({ kind: "none" });
  // True from sending until this call confirms: the confirmation can beat the response.
  const awaiting = useRef(false);
  const timer = useRef<number | undefined>(undefined);

  const check = checkContext(text);
  const dirty = contextEdited(text, base);

  // Changed elsewhere (another window, a script, the other tab here): follow it unless the
  // operator is editing.
  const storedKey = JSON.stringify(props.stored);
  useEffect(() => {
    if (same(props.stored, base)) return;
    if (!dirty) setText(formatContext(props.stored));
    setBase(props.stored);
  }, [storedKey]);

  useEffect(() => {
    const off = onEvent("call_context_applied", (e) => {
      if (e.call_id !== props.callId || !awaiting.current) return;
      awaiting.current = false;
      window.clearTimeout(timer.current);
      setOutcome((o) => ({ kind: "applied", calls: o.kind === "sending" ? o.calls : 1 }));
    });
    return () => {
      off();
      window.clearTimeout(timer.current);
    };
  }, [props.callId]);

  // Read through a call: the event handler may have cleared it while the request was out.
  const stillAwaiting = () => awaiting.current;

  const submit = async () => {
    if (!check.ok || saving) return;
    setSaving(true);
    setError(null);
    setOutcome({ kind: "none" });
    window.clearTimeout(timer.current);
    awaiting.current = true;
    try {
      const res = await props.save(check.value);
      setBase(res.context);
      setText(formatContext(res.context));
      const calls = res.live_calls_updated;
      if (calls === 0) {
        // Not bridged yet (still ringing): the agent starts with this context when it is.
        awaiting.current = false;
        setOutcome({ kind: "saved" });
      } else if (stillAwaiting()) {
        setOutcome({ kind: "sending", calls });
        timer.current = window.setTimeout(() => {
          if (!awaiting.current) return;
          awaiting.current = false;
          setOutcome({ kind: "unconfirmed" });
        }, CONFIRM_TIMEOUT_MS);
      } else {
        setOutcome({ kind: "applied", calls });
      }
    } catch (e) {
      awaiting.current = false;
      setError(isApiError(e) ? e : new ApiError(0, "internal", String(e)));
    } finally {
      setSaving(false);
    }
  };

  const fieldError = error?.status === 400 || error?.field === "context" ? error.message : null;
  const generalError = error && fieldError === null ? contextError(error, props.target) : null;
  return (
    <SubmitForm onSubmit={() => void submit()}>
      {generalError !== null && (
        <Banner tone="bad" role="alert">
          {generalError}
        </Banner>
      )}
      <ContextEditor
        id={props.id}
        label={props.label}
        help={props.help}
        rows={7}
        value={text}
        onChange={(v) => {
          setText(v);
          setOutcome({ kind: "none" });
          if (error) setError(null);
        }}
        serverError={fieldError}
      />
      <div class="live-context-actions">
        <div class="live-context-note" role="status" aria-live="polite">
          <OutcomeNote outcome={outcome} target={props.target} dirty={dirty} />
        </div>
        {dirty && (
          <button
            type="button"
            class="btn btn-ghost btn-sm"
            onClick={() => {
              setText(formatContext(base));
              setError(null);
            }}
          >
            Revert
          </button>
        )}
        <button type="submit" class="btn btn-primary" disabled={!check.ok || !dirty || saving}>
          {saving ? "Sending…" : props.target === "call" ? "Apply to call" : "Apply to agent"}
        </button>
      </div>
    </SubmitForm>
  );
}

function OutcomeNote(props: { outcome: Outcome; target: "call" | "agent"; dirty: boolean }) {
  const o = props.outcome;
  if (props.dirty && o.kind === "none") return <span class="muted small">Not applied yet</span>;
  switch (o.kind) {
    case "none":
      return null;
    case "sending":
      return (
        <span class="muted small sending">
          <span class="spinner" aria-hidden="true" /> Sending to the live call…
        </span>
      );
    case "applied":
      return (
        <span class="save-note">
          <Icon name="check" size={14} /> Applied to the live call
          {props.target === "agent" && o.calls > 1 ? ` (and ${o.calls - 1} more)` : ""}
        </span>
      );
    case "unconfirmed":
      return (
        <span class="warn-text small">
          Saved, but the voice session has not confirmed it yet. The agent may still be on the old context.
        </span>
      );
    case "saved":
      return (
        <span class="save-note">
          <Icon name="check" size={14} />
          {props.target === "call" ? "Saved: the agent starts with it when the call connects" : "Saved"}
        </span>
      );
  }
}

function contextError(e: ApiError, target: "call" | "agent"): string {
  if (e.status === 409) return "This call has ended, so its context can no longer change.";
  if (e.status === 404) return target === "call" ? "This call no longer exists." : "This agent no longer exists.";
  return e.message;
}
