//! A campaign's funnel: its calls from dialed to answered, voicemail, completed and goal met,
//! over its whole life, as bars against the calls dialed (the counts written beside them).
import { useEffect, useState } from "preact/hooks";
import { isApiError } from "../api/client";
import type { Funnel } from "../api/types";
import { useApi, useAppState } from "../store";

export function CampaignFunnel(props: { campaignId: string }) {
  const api = useApi();
  const { callsRevision } = useAppState();
  const [funnel, setFunnel] = useState<Funnel | null>(null);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    let live = true;
    // Calls change in bursts while a campaign runs; one refetch per burst.
    const t = window.setTimeout(() => {
      api.campaignFunnel(props.campaignId).then(
        (f) => {
          if (!live) return;
          setFunnel(f);
          setError(null);
        },
        (e: unknown) => {
          if (live) setError(isApiError(e) ? e.message : String(e));
        },
      );
    }, 300);
    return () => {
      live = false;
      window.clearTimeout(t);
    };
  }, [api, props.campaignId, callsRevision]);

  const steps: [string, keyof Funnel][] = [
    ["Dialed", "dialed"],
    ["Answered", "answered"],
    ["Voicemail", "voicemail"],
    ["Completed", "completed"],
    ["Goal met", "goal_met"],
  ];
  return (
    <section class="panel-section" aria-labelledby="campaign-funnel" data-testid="campaign-funnel">
      <h3 id="campaign-funnel">Funnel</h3>
      {error !== null && funnel === null ? (
        <p class="muted">Could not load the funnel: {error}</p>
      ) : funnel === null ? (
        <p class="muted">Loading…</p>
      ) : funnel.dialed === 0 ? (
        <p class="muted">No calls dialed yet.</p>
      ) : (
        <dl class="funnel">
          {steps.map(([label, key]) => {
            const n = funnel[key];
            const share = funnel.dialed > 0 ? n / funnel.dialed : 0;
            return (
              <div key={key} data-step={key}>
                <dt>{label}</dt>
                <dd aria-hidden="true">
                  <div class="funnel-bar" style={{ width: `${Math.round(share * 100)}%` }} />
                </dd>
                <dd class="funnel-count">
                  {n.toLocaleString()}
                  {key !== "dialed" && <span class="visually-hidden"> ({Math.round(share * 100)}% of dialed)</span>}
                </dd>
              </div>
            );
          })}
        </dl>
      )}
      {funnel !== null && funnel.analyzed === 0 && funnel.dialed > 0 && (
        <p class="muted small">Goal met counts calls with a post-call analysis; none has one yet.</p>
      )}
    </section>
  );
}
