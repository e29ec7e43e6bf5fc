//! A call's post-call analysis in its detail: the summary, whether the goal was met, the
//! caller's sentiment and the agent's custom fields; or where it stands (queued, running,
//! skipped), or why it failed, with Retry (`POST /api/calls/{id}/analysis`).
import { useState } from "preact/hooks";
import { isApiError } from "../api/client";
import type { AnalysisStatus, CallAnalysis, Sentiment } from "../api/types";
import { useApi } from "../store";
import { Badge, Banner, relativeTime } from "./ui";

export const SENTIMENT_NAMES: Record<Sentiment, string> = {
  positive: "Positive",
  neutral: "Neutral",
  negative: "Negative",
};

const STATUS_NAMES: Record<AnalysisStatus, string> = {
  pending: "Queued",
  running: "Analysing…",
  done: "Done",
  failed: "Failed",
  skipped: "Skipped",
};

function sentimentTone(s: Sentiment): "good" | "neutral" | "bad" {
  return s === "positive" ? "good" : s === "negative" ? "bad" : "neutral";
}

/** A custom field's value as read: yes/no for booleans, "—" where the call did not say. */
function fieldValue(v: unknown): string {
  if (v === null || v === undefined) return "—";
  if (typeof v === "boolean") return v ? "Yes" : "No";
  if (typeof v === "string" || typeof v === "number") return String(v);
  return JSON.stringify(v);
}

export function CallSummary(props: { callId: string; analysis: CallAnalysis | null | undefined }) {
  const api = useApi();
  const [busy, setBusy] = useState(false);
  const [failed, setFailed] = useState<string | null>(null);
  const a = props.analysis;
  if (!a) return null;

  const retry = () => {
    setBusy(true);
    setFailed(null);
    // The new state arrives as a `call_analysis` event, which reloads the call.
    api.analyzeCall(props.callId).then(
      () => {
        setBusy(false);
      },
      (e: unknown) => {
        setFailed(isApiError(e) ? e.message : String(e));
        setBusy(false);
      },
    );
  };
  const retryButton = (
    <button type="button" class="btn btn-sm" disabled={busy} onClick={retry}>
      {busy ? "Queuing…" : a.status === "failed" ? "Retry" : "Analyse again"}
    </button>
  );
  const fields = Object.entries(a.fields);

  return (
    <section class="panel-section call-summary" aria-labelledby="call-summary">
      <h3 id="call-summary">Summary</h3>
      {a.status === "done" ? (
        <>
          <p class="summary-text">{a.summary}</p>
          <dl class="details">
            <div>
              <dt>Goal met</dt>
              <dd>
                {a.goal_met === null || a.goal_met === undefined ? (
                  <span class="muted">Cannot tell</span>
                ) : a.goal_met ? (
                  <Badge tone="good">Yes</Badge>
                ) : (
                  <Badge tone="bad">No</Badge>
                )}
              </dd>
            </div>
            <div>
              <dt>Sentiment</dt>
              <dd>
                {a.sentiment ? <Badge tone={sentimentTone(a.sentiment)}>{SENTIMENT_NAMES[a.sentiment]}</Badge> : "—"}
              </dd>
            </div>
            {fields.map(([name, value]) => (
              <div key={name}>
                <dt>{name.replace(/_/g, " ")}</dt>
                <dd>{fieldValue(value)}</dd>
              </div>
            ))}
          </dl>
          <p class="muted small">
            {a.model ? `By ${a.model}` : "Analysed"}
            {a.analyzed_at ? `, ${relativeTime(a.analyzed_at)}` : ""} · {retryButton}
          </p>
        </>
      ) : a.status === "failed" ? (
        <>
          <Banner tone="bad" role="alert">
            The analysis failed after {a.attempts} {a.attempts === 1 ? "attempt" : "attempts"}: {a.error}
          </Banner>
          <div>{retryButton}</div>
        </>
      ) : a.status === "skipped" ? (
        <p class="muted">
          Not analysed: {a.error} {retryButton}
        </p>
      ) : (
        <p class="muted">
          <Badge tone="info">{STATUS_NAMES[a.status]}</Badge>
          {a.error ? ` Last attempt: ${a.error}` : ""}
        </p>
      )}
      {failed && (
        <p class="field-message error" role="alert">
          {failed}
        </p>
      )}
    </section>
  );
}
