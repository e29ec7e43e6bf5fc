//! The call log: filters (and a search of the transcripts, its words marked in each found
//! call's best line), paging, the export as CSV, and a call's detail with its transcript
//! (live lines arrive through the event stream).
import { useEffect, useRef, useState } from "preact/hooks";
import { ApiError, isApiError, type CallQuery } from "../api/client";
import {
  CALL_STATUSES,
  LIVE_STATUSES,
  type Call,
  type CallDirection,
  type CallDetail,
  type CallPage,
  type CallStatus,
  type RejectReason,
  type SummaryMatch,
  type TranscriptLine,
  type TranscriptMatch,
} from "../api/types";
import { CallSummary, SENTIMENT_NAMES } from "../components/call-summary";
import { Icon } from "../components/icons";
import { RecordingPlayer, type Seek } from "../components/recording";
import { mergeLines, speakerNames, Transcript } from "../components/transcript";
import { TransferList, useTransfers } from "../components/transfers";
import {
  Badge,
  Banner,
  ConfirmDialog,
  dateTime,
  duration,
  EmptyState,
  ErrorState,
  ItemRow,
  Loading,
  PageHeader,
  Pager,
  PanelFooter,
  RefreshError,
  RowLink,
  SidePanel,
  relativeTime,
  usd,
} from "../components/ui";
import { href, navigate } from "../router";
import { onTranscriptLine, useApi, useAppState } from "../store";
import { showToast } from "../toast";
import { formatNumber } from "../validate";
import { CARRIER_NAMES } from "./numbers";

const PAGE_SIZE = 25;
/** A call's direction as the pages say it. */
export const DIRECTION_NAMES: Record<CallDirection, string> = {
  inbound: "Inbound",
  outbound: "Outbound",
  test: "Test call",
};
const STATUS_LABELS: Record<CallStatus, string> = {
  queued: "Queued",
  ringing: "Ringing",
  in_progress: "In progress",
  completed: "Completed",
  busy: "Busy",
  no_answer: "No answer",
  failed: "Failed",
  rejected: "Rejected",
  canceled: "Canceled",
};

/** Why Switchboard refused a call, in an operator's words. */
const REJECT_REASONS: Record<RejectReason, string> = {
  unknown_number: "Number not managed",
  number_disabled: "Number disabled",
  no_inbound_agent: "No inbound agent",
  agent_inactive: "Agent inactive",
  agent_busy: "Agent at its call limit",
};

/** What became of a call: why it was refused, or how it ended. */
function outcome(call: Call): string | null {
  if (call.reject_reason) return REJECT_REASONS[call.reject_reason];
  return call.hangup_cause ?? null;
}

export function StatusBadge(props: { status: CallStatus }) {
  const tone = LIVE_STATUSES.includes(props.status)
    ? "info"
    : props.status === "completed"
      ? "good"
      : props.status === "failed" || props.status === "rejected"
        ? "bad"
        : "neutral";
  return <Badge tone={tone}>{STATUS_LABELS[props.status]}</Badge>;
}

interface Filters {
  /** Words the transcript must hold. */
  text: string;
  direction: "" | CallDirection;
  agent: string;
  number: string;
  status: string;
  from: string;
  to: string;
  /** "", "true" or "false": what the post-call analysis says of the agent's goal. */
  goal: string;
  /** "" or a sentiment the post-call analysis found. */
  sentiment: string;
}

const NO_FILTERS: Filters = {
  text: "",
  direction: "",
  agent: "",
  number: "",
  status: "",
  from: "",
  to: "",
  goal: "",
  sentiment: "",
};

/** Local calendar days to the API's RFC 3339 instants: `to` includes the whole day. */
function toQuery(f: Filters, offset: number): CallQuery | string {
  const q: CallQuery = { limit: PAGE_SIZE, offset };
  if (f.text.trim()) q.q = f.text.trim();
  if (f.direction) q.direction = f.direction;
  if (f.agent) q.agent_id = f.agent;
  if (f.number) q.number_id = f.number;
  if (f.status) q.status = f.status;
  if (f.goal) q.goal_met = f.goal === "true";
  if (f.sentiment === "positive" || f.sentiment === "neutral" || f.sentiment === "negative") q.sentiment = f.sentiment;
  if (f.from) q.since = new Date(`${f.from}T00:00:00`).toISOString();
  if (f.to) {
    const end = new Date(`${f.to}T00:00:00`);
    end.setDate(end.getDate() + 1);
    q.until = end.toISOString();
  }
  if (f.from && f.to && f.from > f.to) return "The start date is after the end date.";
  return q;
}

export function CallsPage(props: { selected: string | null }) {
  const api = useApi();
  const { agents, numbers, callsRevision, engine } = useAppState();
  const [filters, setFilters] = useState<Filters>(NO_FILTERS);
  const [offset, setOffset] = useState(0);
  const [page, setPage] = useState<CallPage | null>(null);
  const [error, setError] = useState<ApiError | null>(null);
  const [loading, setLoading] = useState(true);
  const [attempt, setAttempt] = useState(0);

  const query = toQuery(filters, offset);
  const queryKey = JSON.stringify(query);

  useEffect(() => {
    if (typeof query === "string") return;
    let live = true;
    setLoading(true);
    // Event bursts (a call's status changes) coalesce into one refetch.
    const t = window.setTimeout(() => {
      api.listCalls(query).then(
        (p) => {
          if (!live) return;
          setPage(p);
          setError(null);
          setLoading(false);
        },
        (e: unknown) => {
          if (!live) return;
          setError(isApiError(e) ? e : new ApiError(0, "internal", String(e)));
          setLoading(false);
        },
      );
    }, 120);
    return () => {
      live = false;
      window.clearTimeout(t);
    };
  }, [api, queryKey, callsRevision, attempt, engine === "online"]);

  const setFilter = (key: Exclude<keyof Filters, "direction">, value: string) => {
    setFilters((f) => ({ ...f, [key]: value }));
    setOffset(0);
  };
  const filtered = JSON.stringify(filters) !== JSON.stringify(NO_FILTERS);
  const total = page?.total ?? 0;

  return (
    <div class="page">
      <PageHeader
        title="Calls"
        summary={
          page
            ? `${total.toLocaleString()}${page.capped ? "+" : ""} ${total === 1 ? "call" : "calls"}${filtered ? " match" : " in the log"}${page.capped && filters.text.trim() !== "" ? " (the newest are shown; add words to narrow it)" : ""}`
            : "Every call, newest first"
        }
      />
      <div class="page-content">
        <div class="table-area">
          {(filtered || (page !== null && page.total > 0)) && (
            <form
              class="filters"
              aria-label="Filter calls"
              onSubmit={(e) => {
                e.preventDefault();
              }}
            >
              <label class="filter-search">
                <span>Search transcripts and summaries</span>
                <input
                  type="search"
                  value={filters.text}
                  maxLength={200}
                  placeholder="refund, order 1182…"
                  onInput={(e) => {
                    setFilter("text", e.currentTarget.value);
                  }}
                />
              </label>
              <label>
                <span>Direction</span>
                <select
                  class="filter-direction"
                  value={filters.direction}
                  onChange={(e) => {
                    const v = e.currentTarget.value;
                    setFilters((f) => ({
                      ...f,
                      direction: v === "inbound" || v === "outbound" || v === "test" ? v : "",
                    }));
                    setOffset(0);
                  }}
                >
                  <option value="">All</option>
                  <option value="inbound">Inbound</option>
                  <option value="outbound">Outbound</option>
                  <option value="test">Test calls</option>
                </select>
              </label>
              <label>
                <span>Agent</span>
                <select
                  class="filter-agent"
                  value={filters.agent}
                  onChange={(e) => {
                    setFilter("agent", e.currentTarget.value);
                  }}
                >
                  <option value="">All agents</option>
                  {(agents.data ?? []).map((a) => (
                    <option key={a.id} value={a.id}>
                      {a.name}
                    </option>
                  ))}
                </select>
              </label>
              <label>
                <span>Number</span>
                <select
                  class="filter-number"
                  value={filters.number}
                  onChange={(e) => {
                    setFilter("number", e.currentTarget.value);
                  }}
                >
                  <option value="">All numbers</option>
                  {(numbers.data ?? []).map((n) => (
                    <option key={n.id} value={n.id}>
                      {formatNumber(n.number)}
                      {n.label ? ` · ${n.label}` : ""}
                    </option>
                  ))}
                </select>
              </label>
              <label>
                <span>Status</span>
                <select
                  class="filter-status"
                  value={filters.status}
                  onChange={(e) => {
                    setFilter("status", e.currentTarget.value);
                  }}
                >
                  <option value="">Any status</option>
                  <option value="live">Live now</option>
                  {CALL_STATUSES.map((s) => (
                    <option key={s} value={s}>
                      {STATUS_LABELS[s]}
                    </option>
                  ))}
                </select>
              </label>
              <label>
                <span>Goal</span>
                <select
                  class="filter-goal"
                  value={filters.goal}
                  onChange={(e) => {
                    setFilter("goal", e.currentTarget.value);
                  }}
                >
                  <option value="">Any</option>
                  <option value="true">Goal met</option>
                  <option value="false">Goal not met</option>
                </select>
              </label>
              <label>
                <span>Sentiment</span>
                <select
                  class="filter-sentiment"
                  value={filters.sentiment}
                  onChange={(e) => {
                    setFilter("sentiment", e.currentTarget.value);
                  }}
                >
                  <option value="">Any</option>
                  {(["positive", "neutral", "negative"] as const).map((s) => (
                    <option key={s} value={s}>
                      {SENTIMENT_NAMES[s]}
                    </option>
                  ))}
                </select>
              </label>
              <label>
                <span>From</span>
                <input
                  type="date"
                  value={filters.from}
                  max={filters.to || undefined}
                  onChange={(e) => {
                    setFilter("from", e.currentTarget.value);
                  }}
                />
              </label>
              <label>
                <span>To</span>
                <input
                  type="date"
                  value={filters.to}
                  min={filters.from || undefined}
                  onChange={(e) => {
                    setFilter("to", e.currentTarget.value);
                  }}
                />
              </label>
              <ExportButton query={query} disabled={total === 0} />
              {filtered && (
                <button
                  type="button"
                  class="btn btn-ghost btn-sm filters-clear"
                  onClick={() => {
                    setFilters(NO_FILTERS);
                    setOffset(0);
                  }}
                >
                  Clear filters
                </button>
              )}
            </form>
          )}
          {typeof query === "string" ? (
            <p class="field-message error" role="alert">
              <Icon name="alert" size={14} /> <span>{query}</span>
            </p>
          ) : error && !page ? (
            <ErrorState
              error={error}
              what="calls"
              onRetry={() => {
                setAttempt((n) => n + 1);
              }}
            />
          ) : !page ? (
            <Loading label="Loading calls…" />
          ) : page.items.length === 0 ? (
            filtered ? (
              <EmptyState
                icon="calls"
                title="No calls match these filters"
                action={
                  <button
                    type="button"
                    class="btn"
                    onClick={() => {
                      setFilters(NO_FILTERS);
                      setOffset(0);
                    }}
                  >
                    Clear filters
                  </button>
                }
              />
            ) : (
              <EmptyState icon="inbox" title="No calls yet">
                Calls appear here as soon as a number with an agent receives or places one.
              </EmptyState>
            )
          ) : (
            <>
              <RefreshError error={error} />
              <CallsTable
                calls={page.items}
                matches={page.matches}
                summaryMatches={page.summary_matches}
                selected={props.selected}
                busy={loading}
              />
              <Pager
                label="Pages"
                offset={page.offset}
                shown={page.items.length}
                total={page.total}
                pageSize={PAGE_SIZE}
                onOffset={setOffset}
                previous="Newer"
                next="Older"
              />
            </>
          )}
        </div>
        {props.selected && (
          <CallPanel
            key={props.selected}
            id={props.selected}
            onClose={() => {
              navigate("calls");
            }}
          />
        )}
      </div>
    </div>
  );
}

/** Downloads the filtered log as CSV (the engine streams it; a big log takes a moment). */
function ExportButton(props: { query: CallQuery | string; disabled: boolean }) {
  const api = useApi();
  const [busy, setBusy] = useState(false);
  const [failed, setFailed] = useState<string | null>(null);
  return (
    <>
      <button
        type="button"
        class="btn btn-sm"
        disabled={props.disabled || busy || typeof props.query === "string"}
        onClick={() => {
          if (typeof props.query === "string") return;
          // The export holds every matching call: no page of them.
          const query = { ...props.query };
          delete query.limit;
          delete query.offset;
          setBusy(true);
          setFailed(null);
          api.exportCalls(query).then(
            ({ blob, name }) => {
              const url = URL.createObjectURL(blob);
              const a = document.createElement("a");
              a.href = url;
              a.download = name;
              a.click();
              window.setTimeout(() => {
                URL.revokeObjectURL(url);
              }, 1000);
              setBusy(false);
            },
            (e: unknown) => {
              setFailed(`The export failed: ${isApiError(e) ? e.message : String(e)}`);
              setBusy(false);
            },
          );
        }}
      >
        {busy ? "Exporting…" : "Export CSV"}
      </button>
      {failed && (
        <span class="field-message error" role="alert">
          {failed}
        </span>
      )}
    </>
  );
}

const SPEAKERS: Record<TranscriptMatch["speaker"], string> = {
  caller: "Caller",
  agent: "Agent",
  operator: "Operator",
  system: "System",
  tool: "Tool",
};

/** A transcript match's words, the found ones marked. */
function Snippet(props: { match: TranscriptMatch }) {
  return (
    <div class="snippet muted small">
      <span class="snippet-speaker">{SPEAKERS[props.match.speaker]}:</span>{" "}
      {props.match.parts.map((p, i) => (p.hit ? <mark key={i}>{p.text}</mark> : <span key={i}>{p.text}</span>))}
    </div>
  );
}

function CallsTable(props: {
  calls: Call[];
  matches: TranscriptMatch[];
  summaryMatches: SummaryMatch[];
  selected: string | null;
  busy: boolean;
}) {
  return (
    <table class="table" aria-label="Calls" aria-busy={props.busy}>
      <thead>
        <tr>
          <th scope="col">Started</th>
          <th scope="col">Direction</th>
          <th scope="col">From</th>
          <th scope="col">To</th>
          <th scope="col">Agent</th>
          <th scope="col">Status</th>
          <th scope="col" class="num">
            Duration
          </th>
        </tr>
      </thead>
      <tbody>
        {props.calls.map((c) => (
          <ItemRow key={c.id} page="calls" id={c.id} selected={props.selected}>
            <td class="nowrap">
              <RowLink page="calls" id={c.id} class="row-link-plain" title={dateTime(c.started_at)}>
                {callTime(c.started_at)}
              </RowLink>
            </td>
            <td>{DIRECTION_NAMES[c.direction]}</td>
            <td class="nowrap">{formatNumber(c.from_number)}</td>
            <td class="nowrap">{formatNumber(c.to_number)}</td>
            <td>
              {c.agent_name ?? <span class="muted">{c.agent_id ? "Deleted agent" : "None"}</span>}
              {props.matches
                .filter((m) => m.call_id === c.id)
                .map((m) => (
                  <Snippet key={m.line_id} match={m} />
                ))}
              {props.summaryMatches
                .filter((m) => m.call_id === c.id)
                .map((m) => (
                  <div key="summary" class="snippet muted small">
                    <span class="snippet-speaker">Summary:</span>{" "}
                    {m.parts.map((p, i) => (p.hit ? <mark key={i}>{p.text}</mark> : <span key={i}>{p.text}</span>))}
                  </div>
                ))}
            </td>
            <td>
              <StatusBadge status={c.status} />
              {c.reject_reason ? <div class="muted small">{REJECT_REASONS[c.reject_reason]}</div> : null}
            </td>
            <td class="num">{duration(c.duration_secs)}</td>
          </ItemRow>
        ))}
      </tbody>
    </table>
  );
}

function CallPanel(props: { id: string; onClose: () => void }) {
  const api = useApi();
  const { callsRevision } = useAppState();
  const [call, setCall] = useState<CallDetail | null>(null);
  const [error, setError] = useState<ApiError | null>(null);
  const [lines, setLines] = useState<TranscriptLine[]>([]);
  const [attempt, setAttempt] = useState(0);
  const transfers = useTransfers(props.id, call?.transfers);
  const bottom = useRef<HTMLDivElement>(null);
  const [position, setPosition] = useState<number | null>(null);
  const [seek, setSeek] = useState<Seek | null>(null);
  const [deleting, setDeleting] = useState(false);

  useEffect(() => {
    let live = true;
    api.getCall(props.id).then(
      (c) => {
        if (!live) return;
        setCall(c);
        setError(null);
        setLines((current) => mergeLines(c.transcript, current));
      },
      (e: unknown) => {
        if (live) setError(isApiError(e) ? e : new ApiError(0, "internal", String(e)));
      },
    );
    return () => {
      live = false;
    };
  }, [api, props.id, callsRevision, attempt]);

  useEffect(
    () =>
      onTranscriptLine((line) => {
        if (line.call_id === props.id) setLines((current) => mergeLines(current, [line]));
      }),
    [props.id],
  );

  useEffect(() => {
    if (call && LIVE_STATUSES.includes(call.status)) bottom.current?.scrollIntoView({ block: "end" });
  }, [lines.length]);

  if (!call) {
    return (
      <SidePanel title="Call" onClose={props.onClose}>
        {error ? (
          <ErrorState
            error={error}
            what="this call"
            onRetry={() => {
              setError(null);
              setAttempt((n) => n + 1);
            }}
          />
        ) : (
          <Loading label="Loading the call…" />
        )}
      </SidePanel>
    );
  }

  const started = Date.parse(call.started_at);
  const live = LIVE_STATUSES.includes(call.status);
  const recording = call.recording;
  return (
    <SidePanel
      title={call.direction === "test" ? "Test call" : `${DIRECTION_NAMES[call.direction]} call`}
      subtitle={dateTime(call.started_at)}
      onClose={props.onClose}
      footer={
        live ? undefined : (
          <PanelFooter
            onDelete={() => {
              setDeleting(true);
            }}
            onClose={props.onClose}
            closeLabel="Close"
          />
        )
      }
    >
      <dl class="details">
        <div>
          <dt>Status</dt>
          <dd>
            <StatusBadge status={call.status} />
            {outcome(call) !== null ? <span class="muted"> · {outcome(call)}</span> : null}
          </dd>
        </div>
        {call.answered_by ? (
          <div>
            <dt>Answered by</dt>
            <dd>{call.answered_by}</dd>
          </div>
        ) : null}
        {call.recording_url ? (
          <div>
            <dt>Carrier's recording</dt>
            <dd>
              <a href={call.recording_url} target="_blank" rel="noreferrer">
                Open recording
              </a>
            </dd>
          </div>
        ) : null}
        <div>
          <dt>From</dt>
          <dd>{formatNumber(call.from_number)}</dd>
        </div>
        <div>
          <dt>To</dt>
          <dd>{formatNumber(call.to_number)}</dd>
        </div>
        <div>
          <dt>Agent</dt>
          <dd>
            {call.agent_id && call.agent_name ? (
              <a href={href("agents", call.agent_id)}>{call.agent_name}</a>
            ) : (
              <span class="muted">{call.agent_id ? "Deleted agent" : "None"}</span>
            )}
          </dd>
        </div>
        <div>
          <dt>Carrier</dt>
          <dd>{CARRIER_NAMES[call.carrier]}</dd>
        </div>
        <div>
          <dt>Duration</dt>
          <dd>{duration(call.duration_secs)}</dd>
        </div>
        {call.answered_at && (
          <div>
            <dt>Answered</dt>
            <dd>{dateTime(call.answered_at)}</dd>
          </div>
        )}
        {call.ended_at && (
          <div>
            <dt>Ended</dt>
            <dd>{dateTime(call.ended_at)}</dd>
          </div>
        )}
        {call.cost_estimate_usd != null && (
          <div>
            <dt>Cost (est.)</dt>
            <dd>
              {usd(call.cost_estimate_usd)}
              {call.cost && (
                <span class="muted small cost-breakdown">
                  {" "}
                  {call.cost.carrier
                    ? `carrier ${usd(call.cost.carrier_usd)} (${call.cost.carrier_billed_secs / 60} min billed at ${usd(call.cost.carrier_rate_per_min)}/min, ${call.cost.region === "other" ? "other countries" : call.cost.region}) + `
                    : "no carrier + "}
                  AI {usd(call.cost.ai_usd)} ({call.cost.answered_secs} s at {usd(call.cost.ai_rate_per_min)}/min)
                </span>
              )}
            </dd>
          </div>
        )}
      </dl>
      <CallSummary callId={call.id} analysis={call.analysis} />
      {transfers.length > 0 && (
        <section class="panel-section" aria-labelledby="call-transfers">
          <h3 id="call-transfers">Transfers</h3>
          <TransferList transfers={transfers} />
        </section>
      )}
      {recording && !live && (
        <section class="panel-section" aria-labelledby="call-recording">
          <h3 id="call-recording">Recording</h3>
          <RecordingPlayer
            callId={call.id}
            durationMs={recording.duration_ms ?? null}
            onPosition={setPosition}
            seek={seek}
          />
        </section>
      )}
      {recording && live && (
        <p class="muted" role="status">
          This call is being recorded; the recording plays here once it ends.
        </p>
      )}
      <section class="panel-section" aria-labelledby="call-transcript">
        <h3 id="call-transcript">Transcript</h3>
        {lines.length === 0 ? (
          <p class="muted">
            {LIVE_STATUSES.includes(call.status) ? "Waiting for the first words…" : "No transcript for this call."}
          </p>
        ) : (
          <Transcript
            lines={lines}
            started={started}
            names={speakerNames(call)}
            recording={
              recording && !live
                ? {
                    started: Date.parse(recording.started_at),
                    position,
                    playFrom: (ms) => {
                      setSeek((s) => ({ ms, n: (s?.n ?? 0) + 1 }));
                    },
                  }
                : undefined
            }
          />
        )}
        <div ref={bottom} />
      </section>
      {deleting && (
        <DeleteCallDialog
          call={call}
          onClose={() => {
            setDeleting(false);
          }}
          onDeleted={props.onClose}
        />
      )}
    </SidePanel>
  );
}

function DeleteCallDialog(props: { call: CallDetail; onClose: () => void; onDeleted: () => void }) {
  const api = useApi();
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const remove = async () => {
    setBusy(true);
    setError(null);
    try {
      await api.deleteCall(props.call.id);
      showToast("Call deleted");
      props.onDeleted();
    } catch (e) {
      setError(isApiError(e) ? e.message : String(e));
      setBusy(false);
    }
  };
  return (
    <ConfirmDialog
      title="Delete this call?"
      confirmLabel={busy ? "Deleting…" : "Delete call"}
      busy={busy}
      onCancel={props.onClose}
      onConfirm={() => void remove()}
    >
      <p>
        The call with {formatNumber(props.call.direction === "inbound" ? props.call.from_number : props.call.to_number)}
        , its transcript{props.call.recording ? " and its recording are" : " is"} deleted for good.
      </p>
      {error !== null && (
        <Banner tone="bad" role="alert">
          {error}
        </Banner>
      )}
    </ConfirmDialog>
  );
}

/** When a call started, for the log: "12 min ago" within the hour, else the day and time. */
function callTime(iso: string): string {
  const t = Date.parse(iso);
  if (Number.isNaN(t)) return iso;
  if (Date.now() - t < 3_600_000) return relativeTime(iso);
  const d = new Date(t);
  const today = new Date();
  if (d.toDateString() === today.toDateString()) {
    return `Today, ${d.toLocaleTimeString(undefined, { hour: "numeric", minute: "2-digit" })}`;
  }
  return d.toLocaleString(undefined, {
    month: "short",
    day: "numeric",
    year: d.getFullYear() === today.getFullYear() ? undefined : "numeric",
    hour: "numeric",
    minute: "2-digit",
  });
}
