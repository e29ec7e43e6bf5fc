//! Overview: the numbers at a glance over a range of days in this computer's time zone: totals,
//! calls per day by direction, answer rate, duration and cost as charts (Chart.js, each with
//! its numbers in a table for screen readers and for reading exactly), outcomes, and per-agent
//! and per-campaign tables. Filtered by agent and campaign; refreshed as calls change.
import { useEffect, useRef, useState } from "preact/hooks";
import {
  BarController,
  BarElement,
  CategoryScale,
  Chart,
  Legend,
  LinearScale,
  LineController,
  LineElement,
  PointElement,
  Tooltip,
  type ChartConfiguration,
} from "chart.js";
import { ApiError, isApiError } from "../api/client";
import type { Overview, OverviewTotals } from "../api/types";
import { EmptyState, ErrorState, Loading, PageHeader } from "../components/ui";
import { useApi, useAppState } from "../store";

Chart.register(
  BarController,
  BarElement,
  CategoryScale,
  LinearScale,
  LineController,
  LineElement,
  PointElement,
  Tooltip,
  Legend,
);

const COLORS = { inbound: "#2f5bea", outbound: "#177245", test: "#9a5b00", line: "#2f5bea" };
const PRESETS = [7, 30, 90] as const;
type RangeChoice = "7" | "30" | "90" | "custom";

/** Today in this computer's time zone, as `YYYY-MM-DD`. */
function today(): string {
  const d = new Date();
  return `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, "0")}-${String(d.getDate()).padStart(2, "0")}`;
}

/** `date` moved by `days` (calendar arithmetic, no time zone involved). */
function addDays(date: string, days: number): string {
  const d = new Date(`${date}T00:00:00Z`);
  d.setUTCDate(d.getUTCDate() + days);
  return d.toISOString().slice(0, 10);
}

function timeZone(): string {
  return Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";
}

const int = new Intl.NumberFormat();
const usd = new Intl.NumberFormat(undefined, { style: "currency", currency: "USD", maximumFractionDigits: 2 });
const pct = (r: number | null | undefined) => (r === null || r === undefined ? "—" : `${Math.round(r * 100)}%`);
const minutes = (secs: number) => `${int.format(Math.round(secs / 60))} min`;
const avg = (secs: number | null | undefined) =>
  secs === null || secs === undefined
    ? "—"
    : secs >= 60
      ? `${Math.floor(secs / 60)}:${String(Math.round(secs % 60)).padStart(2, "0")}`
      : `${Math.round(secs)}s`;
/** "Mar 28" for a `YYYY-MM-DD` day. */
const dayLabel = (date: string) =>
  new Date(`${date}T12:00:00Z`).toLocaleDateString(undefined, { month: "short", day: "numeric", timeZone: "UTC" });

export function OverviewPage() {
  const api = useApi();
  const { agents, campaigns, callsRevision, engine } = useAppState();
  const [choice, setChoice] = useState<RangeChoice>("30");
  const [custom, setCustom] = useState(() => ({ from: addDays(today(), -29), to: today() }));
  const [agent, setAgent] = useState("");
  const [campaign, setCampaign] = useState("");
  const [data, setData] = useState<Overview | null>(null);
  const [error, setError] = useState<ApiError | null>(null);
  const [attempt, setAttempt] = useState(0);

  const range = choice === "custom" ? custom : { from: addDays(today(), 1 - Number(choice)), to: today() };
  const customBad = choice === "custom" && (!custom.from || !custom.to || custom.from > custom.to);
  const key = JSON.stringify([range, agent, campaign]);

  useEffect(() => {
    if (customBad) return;
    let live = true;
    // Bursts of call events coalesce into one refetch.
    const t = window.setTimeout(() => {
      api
        .overview({
          from: range.from,
          to: range.to,
          tz: timeZone(),
          ...(agent ? { agent_id: agent } : {}),
          ...(campaign ? { campaign_id: campaign } : {}),
        })
        .then(
          (o) => {
            if (!live) return;
            setData(o);
            setError(null);
          },
          (e: unknown) => {
            if (!live) return;
            setError(isApiError(e) ? e : new ApiError(0, "internal", String(e)));
          },
        );
    }, 150);
    return () => {
      live = false;
      window.clearTimeout(t);
    };
  }, [api, key, callsRevision, attempt, engine === "online"]);

  const filtered = agent !== "" || campaign !== "";
  const summary = data
    ? `${int.format(data.totals.calls)} ${data.totals.calls === 1 ? "call" : "calls"}, ${dayLabel(data.from)} to ${dayLabel(data.to)}`
    : "How your calls went";

  return (
    <div class="page">
      <PageHeader title="Overview" summary={summary} />
      <div class="page-content">
        <div class="table-area overview">
          <form
            class="filters"
            aria-label="Overview range and filters"
            onSubmit={(e) => {
              e.preventDefault();
            }}
          >
            <label>
              <span>Range</span>
              <select
                class="filter-range"
                value={choice}
                onChange={(e) => {
                  const v = e.currentTarget.value;
                  setChoice(v === "7" || v === "30" || v === "90" ? v : "custom");
                }}
              >
                {PRESETS.map((n) => (
                  <option key={n} value={String(n)}>
                    Last {n} days
                  </option>
                ))}
                <option value="custom">Custom…</option>
              </select>
            </label>
            {choice === "custom" && (
              <>
                <label>
                  <span>From</span>
                  <input
                    type="date"
                    value={custom.from}
                    min="2000-01-01"
                    max={custom.to || undefined}
                    onInput={(e) => {
                      const from = e.currentTarget.value;
                      setCustom((c) => ({ ...c, from }));
                    }}
                  />
                </label>
                <label>
                  <span>To</span>
                  <input
                    type="date"
                    value={custom.to}
                    min={custom.from || undefined}
                    max="2100-12-31"
                    onInput={(e) => {
                      const to = e.currentTarget.value;
                      setCustom((c) => ({ ...c, to }));
                    }}
                  />
                </label>
              </>
            )}
            <label>
              <span>Agent</span>
              <select
                class="filter-agent"
                value={agent}
                onChange={(e) => {
                  setAgent(e.currentTarget.value);
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
              <span>Campaign</span>
              <select
                class="filter-campaign"
                value={campaign}
                onChange={(e) => {
                  setCampaign(e.currentTarget.value);
                }}
              >
                <option value="">All calls</option>
                {(campaigns.data ?? []).map((c) => (
                  <option key={c.id} value={c.id}>
                    {c.name}
                  </option>
                ))}
              </select>
            </label>
          </form>
          {customBad ? (
            <p class="field-error" role="alert">
              Choose a first day on or before the last day.
            </p>
          ) : error && (!data || error.code === "offline") ? (
            <ErrorState
              error={error}
              what="the overview"
              onRetry={() => {
                setAttempt((n) => n + 1);
              }}
            />
          ) : data === null ? (
            <Loading label="Loading the overview…" />
          ) : data.totals.calls === 0 && !filtered && choice !== "custom" && Number(choice) >= 30 ? (
            <EmptyState icon="overview" title="No calls yet">
              Calls your agents take or make, and test calls, are counted here by day.
            </EmptyState>
          ) : (
            <OverviewBody data={data} error={error} />
          )}
        </div>
      </div>
    </div>
  );
}

function OverviewBody(props: { data: Overview; error: ApiError | null }) {
  const { data } = props;
  const t = data.totals;
  const labels = data.days.map((d) => dayLabel(d.date));
  return (
    <>
      {props.error && (
        <div class="banner banner-warn" role="status">
          <span>Showing the last numbers loaded: {props.error.message}</span>
        </div>
      )}
      <dl class="stats overview-tiles" aria-label="Totals">
        <Tile label="Calls" value={int.format(t.calls)} />
        <Tile label="Answer rate" value={pct(t.answer_rate)} />
        <Tile label="Average duration" value={avg(t.average_duration_secs)} />
        <Tile label="Total duration" value={minutes(t.total_duration_secs)} />
        <Tile label="Cost" value={t.costed_calls > 0 ? usd.format(t.cost_usd) : "—"} />
        <Tile
          label="Goal met"
          value={
            data.analysis.analyzed > 0
              ? `${int.format(data.analysis.goal_met)} of ${int.format(data.analysis.analyzed)}`
              : "—"
          }
        />
      </dl>
      {t.calls === 0 && <p class="muted overview-none">No calls in these days.</p>}
      <div class="overview-charts">
        <ChartFigure
          title="Calls per day"
          labels={labels}
          dates={data.days.map((d) => d.date)}
          series={[
            { name: "Inbound", color: COLORS.inbound, values: data.days.map((d) => d.totals.inbound) },
            { name: "Outbound", color: COLORS.outbound, values: data.days.map((d) => d.totals.outbound) },
            { name: "Test", color: COLORS.test, values: data.days.map((d) => d.totals.test) },
          ]}
          kind="stacked"
          format={(v) => int.format(v)}
        />
        <ChartFigure
          title="Answer rate"
          labels={labels}
          dates={data.days.map((d) => d.date)}
          series={[
            {
              name: "Answered",
              color: COLORS.line,
              values: data.days.map((d) =>
                d.totals.answer_rate === null || d.totals.answer_rate === undefined
                  ? null
                  : Math.round(d.totals.answer_rate * 100),
              ),
            },
          ]}
          kind="line"
          max={100}
          format={(v) => `${v}%`}
        />
        <ChartFigure
          title="Talk time per day (minutes)"
          labels={labels}
          dates={data.days.map((d) => d.date)}
          series={[
            {
              name: "Minutes",
              color: COLORS.inbound,
              values: data.days.map((d) => Math.round(d.totals.total_duration_secs / 6) / 10),
            },
          ]}
          kind="bar"
          format={(v) => `${v} min`}
        />
        <ChartFigure
          title="Cost per day (USD)"
          labels={labels}
          dates={data.days.map((d) => d.date)}
          series={[
            {
              name: "Cost",
              color: COLORS.outbound,
              values: data.days.map((d) => Math.round(d.totals.cost_usd * 100) / 100),
            },
          ]}
          kind="bar"
          format={(v) => usd.format(v)}
        />
      </div>
      <div class="overview-tables">
        <section aria-labelledby="overview-outcomes">
          <h2 id="overview-outcomes" class="overview-h2">
            Outcomes
          </h2>
          {data.outcomes.length === 0 ? (
            <p class="muted">No calls.</p>
          ) : (
            <table class="table overview-table" aria-label="Outcomes">
              <thead>
                <tr>
                  <th scope="col">Outcome</th>
                  <th scope="col">Calls</th>
                  <th scope="col">Share</th>
                </tr>
              </thead>
              <tbody>
                {data.outcomes.map((o) => (
                  <tr key={o.status}>
                    <td>{o.status.replace("_", " ")}</td>
                    <td class="num">{int.format(o.calls)}</td>
                    <td class="num">{pct(t.calls > 0 ? o.calls / t.calls : null)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
          {data.analysis.analyzed > 0 && (
            <p class="muted overview-sentiment">
              Caller sentiment over {int.format(data.analysis.analyzed)} analysed calls:{" "}
              {int.format(data.analysis.positive)} positive, {int.format(data.analysis.neutral)} neutral,{" "}
              {int.format(data.analysis.negative)} negative.
            </p>
          )}
        </section>
        <GroupTable
          title="Per agent"
          rows={data.agents.map((a) => ({
            key: a.agent_id ?? "",
            name: a.name ?? (a.agent_id ? "Deleted agent" : "No agent"),
            totals: a.totals,
            goal: a.analysis.analyzed > 0 ? `${a.analysis.goal_met} of ${a.analysis.analyzed}` : "—",
          }))}
        />
        <GroupTable
          title="Per campaign"
          rows={data.campaigns.map((c) => ({
            key: c.campaign_id ?? "",
            name: c.name ?? (c.campaign_id ? "Deleted campaign" : "No campaign"),
            totals: c.totals,
            goal: c.analysis.analyzed > 0 ? `${c.analysis.goal_met} of ${c.analysis.analyzed}` : "—",
          }))}
        />
      </div>
    </>
  );
}

function Tile(props: { label: string; value: string }) {
  return (
    <div>
      <dt>{props.label}</dt>
      <dd>{props.value}</dd>
    </div>
  );
}

interface Series {
  name: string;
  color: string;
  values: (number | null)[];
}

/** One chart with a title, drawn by Chart.js on a canvas, and its numbers in a table (for
 * screen readers, and for anyone who wants them exactly) under a disclosure. */
function ChartFigure(props: {
  title: string;
  labels: string[];
  dates: string[];
  series: Series[];
  kind: "stacked" | "bar" | "line";
  max?: number;
  format: (v: number) => string;
}) {
  const canvas = useRef<HTMLCanvasElement>(null);
  const chart = useRef<Chart | null>(null);
  const config = JSON.stringify([props.labels, props.series, props.kind, props.max]);
  useEffect(() => {
    const el = canvas.current;
    if (!el) return;
    const stacked = props.kind === "stacked";
    const cfg: ChartConfiguration<"bar" | "line", (number | null)[], string> = {
      type: props.kind === "line" ? "line" : "bar",
      data: {
        labels: props.labels,
        datasets: props.series.map((s) => ({
          label: s.name,
          data: s.values,
          backgroundColor: s.color,
          borderColor: s.color,
          borderWidth: props.kind === "line" ? 2 : 0,
          pointRadius: props.labels.length > 45 ? 0 : 2,
          spanGaps: true,
        })),
      },
      options: {
        responsive: true,
        maintainAspectRatio: false,
        animation: false,
        plugins: {
          legend: { display: props.series.length > 1, position: "bottom", labels: { boxWidth: 12 } },
          tooltip: { callbacks: { label: (c) => `${c.dataset.label ?? ""}: ${props.format(Number(c.parsed.y))}` } },
        },
        scales: {
          x: { stacked, grid: { display: false }, ticks: { maxRotation: 0, autoSkipPadding: 12 } },
          y: {
            stacked,
            beginAtZero: true,
            ...(props.max !== undefined ? { max: props.max } : {}),
            ticks: { precision: 0 },
          },
        },
      },
    };
    chart.current?.destroy();
    chart.current = new Chart(el, cfg);
    return () => {
      chart.current?.destroy();
      chart.current = null;
    };
  }, [config]);
  const described = props.series
    .map((s) => {
      const sum = s.values.reduce<number>((a, v) => a + (v ?? 0), 0);
      return props.kind === "line" ? s.name : `${s.name}: ${props.format(Math.round(sum * 100) / 100)} in all`;
    })
    .join("; ");
  return (
    <figure class="overview-chart">
      <figcaption>{props.title}</figcaption>
      <div class="overview-canvas">
        <canvas
          ref={canvas}
          role="img"
          aria-label={`${props.title}, per day. ${described}. The numbers follow in a table.`}
        />
      </div>
      <details>
        <summary>Numbers</summary>
        <table class="table overview-table" aria-label={props.title}>
          <thead>
            <tr>
              <th scope="col">Day</th>
              {props.series.map((s) => (
                <th key={s.name} scope="col">
                  {s.name}
                </th>
              ))}
            </tr>
          </thead>
          <tbody>
            {props.dates.map((date, i) => (
              <tr key={date}>
                <th scope="row">{date}</th>
                {props.series.map((s) => {
                  const v = s.values.at(i) ?? null;
                  return (
                    <td key={s.name} class="num">
                      {v === null ? "—" : props.format(v)}
                    </td>
                  );
                })}
              </tr>
            ))}
          </tbody>
        </table>
      </details>
    </figure>
  );
}

function GroupTable(props: {
  title: string;
  rows: { key: string; name: string; totals: OverviewTotals; goal: string }[];
}) {
  const id = `overview-${props.title.toLowerCase().replace(/\s+/g, "-")}`;
  return (
    <section aria-labelledby={id}>
      <h2 id={id} class="overview-h2">
        {props.title}
      </h2>
      {props.rows.length === 0 ? (
        <p class="muted">No calls.</p>
      ) : (
        <table class="table overview-table" aria-labelledby={id}>
          <thead>
            <tr>
              <th scope="col">Name</th>
              <th scope="col">Calls</th>
              <th scope="col">Answered</th>
              <th scope="col">Avg duration</th>
              <th scope="col">Cost</th>
              <th scope="col">Goal met</th>
            </tr>
          </thead>
          <tbody>
            {props.rows.map((r) => (
              <tr key={r.key}>
                <td>{r.name}</td>
                <td class="num">{int.format(r.totals.calls)}</td>
                <td class="num">{pct(r.totals.answer_rate)}</td>
                <td class="num">{avg(r.totals.average_duration_secs)}</td>
                <td class="num">{r.totals.costed_calls > 0 ? usd.format(r.totals.cost_usd) : "—"}</td>
                <td class="num">{r.goal}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}
