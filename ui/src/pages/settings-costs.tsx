//! Settings → Call costs: the rates each call's estimated cost is worked out at, per carrier,
//! country and direction, and the AI backend's per minute. A change applies to calls that end
//! after it; past calls keep their estimates.
import { useEffect, useState } from "preact/hooks";
import { isApiError, type ApiError } from "../api/client";
import type { CostRates, CostRatesView } from "../api/types";
import { Banner } from "../components/ui";
import { useApi } from "../store";
import { showToast } from "../toast";

const CARRIER_LABELS: Record<string, string> = { twilio: "Twilio", telnyx: "Telnyx", livekit: "LiveKit SIP" };
const BACKEND_LABELS: Record<string, string> = { openai_realtime: "OpenAI Realtime", retell: "Retell" };

/** Rows: countries by code, `other` last. */
function regionsOf(regions: CostRates["carriers"][string]["regions"]): string[] {
  return Object.keys(regions)
    .filter((r) => r !== "other")
    .sort()
    .concat("other");
}

function RateInput(props: { label: string; value: number; onChange: (v: number) => void }) {
  const [text, setText] = useState(String(props.value));
  useEffect(() => setText(String(props.value)), [props.value]);
  return (
    <input
      class="input-rate"
      inputMode="decimal"
      aria-label={props.label}
      value={text}
      onInput={(e) => {
        const t = e.currentTarget.value;
        setText(t);
        const n = Number(t);
        if (t.trim() !== "" && Number.isFinite(n)) props.onChange(n);
        else props.onChange(Number.NaN);
      }}
    />
  );
}

export function CostRatesCard() {
  const api = useApi();
  const [view, setView] = useState<CostRatesView | null>(null);
  const [rates, setRates] = useState<CostRates | null>(null);
  const [error, setError] = useState<ApiError | null>(null);
  const [busy, setBusy] = useState(false);
  const [newRegion, setNewRegion] = useState<Record<string, string>>({});

  const take = (v: CostRatesView) => {
    setView(v);
    setRates(structuredClone(v.rates));
  };
  useEffect(() => {
    api.getCostRates().then(take, (e: unknown) => {
      if (isApiError(e)) setError(e);
    });
  }, [api]);

  const edit = (change: (r: CostRates) => void) => {
    setRates((r) => {
      if (!r) return r;
      const next = structuredClone(r);
      change(next);
      return next;
    });
    setError(null);
  };
  const dirty = view !== null && rates !== null && JSON.stringify(view.rates) !== JSON.stringify(rates);
  const run = async (what: () => Promise<CostRatesView>, done: string) => {
    setBusy(true);
    setError(null);
    try {
      take(await what());
      showToast(done);
    } catch (e) {
      if (isApiError(e)) setError(e);
      else throw e;
    } finally {
      setBusy(false);
    }
  };

  return (
    <section class="card" aria-labelledby="settings-costs">
      <h2 id="settings-costs">Call costs</h2>
      <p class="muted">
        Each call’s cost is estimated when it ends: the carrier’s minutes (rounded as the carrier bills them) at the
        rate for the far end’s country, plus the AI’s minutes. USD per minute. A change applies to calls that end after
        it.
      </p>
      {error && (
        <Banner tone="bad" role="alert">
          {error.message}
        </Banner>
      )}
      {rates && view && (
        <form
          onSubmit={(e) => {
            e.preventDefault();
            void run(() => api.putCostRates(rates), "Call cost rates saved");
          }}
          noValidate
        >
          {Object.entries(rates.carriers).map(([carrier, c]) => (
            <fieldset class="cost-carrier" key={carrier}>
              <legend>{CARRIER_LABELS[carrier] ?? carrier}</legend>
              <label class="cost-increment">
                Billed
                <select
                  aria-label={`${CARRIER_LABELS[carrier] ?? carrier} billing`}
                  value={String(c.billing_increment_secs)}
                  onChange={(e) =>
                    edit((r) => {
                      r.carriers[carrier].billing_increment_secs = Number(e.currentTarget.value);
                    })
                  }
                >
                  {[1, 6, 30, 60]
                    .concat([1, 6, 30, 60].includes(c.billing_increment_secs) ? [] : [c.billing_increment_secs])
                    .map((s) => (
                      <option key={s} value={String(s)}>
                        {s === 60 ? "per started minute" : s === 1 ? "per second" : `in ${s} s steps`}
                      </option>
                    ))}
                </select>
              </label>
              <table class="table cost-table" aria-label={`${CARRIER_LABELS[carrier] ?? carrier} rates`}>
                <thead>
                  <tr>
                    <th scope="col">Country</th>
                    <th scope="col" class="num">
                      Inbound
                    </th>
                    <th scope="col" class="num">
                      Outbound
                    </th>
                    <th scope="col">
                      <span class="visually-hidden">Remove</span>
                    </th>
                  </tr>
                </thead>
                <tbody>
                  {regionsOf(c.regions).map((region) => (
                    <tr key={region}>
                      <th scope="row">{region === "other" ? "Any other" : region}</th>
                      {(["inbound", "outbound"] as const).map((dir) => (
                        <td class="num" key={dir}>
                          <RateInput
                            label={`${CARRIER_LABELS[carrier] ?? carrier} ${region} ${dir}`}
                            value={c.regions[region][dir]}
                            onChange={(v) =>
                              edit((r) => {
                                r.carriers[carrier].regions[region][dir] = v;
                              })
                            }
                          />
                        </td>
                      ))}
                      <td>
                        {region !== "other" && (
                          <button
                            type="button"
                            class="btn btn-ghost btn-small"
                            aria-label={`Remove ${region} from ${CARRIER_LABELS[carrier] ?? carrier}`}
                            onClick={() =>
                              edit((r) => {
                                const c = r.carriers[carrier];
                                c.regions = Object.fromEntries(Object.entries(c.regions).filter(([k]) => k !== region));
                              })
                            }
                          >
                            Remove
                          </button>
                        )}
                      </td>
                    </tr>
                  ))}
                </tbody>
              </table>
              <div class="cost-add">
                <input
                  class="input-short"
                  aria-label={`Country code to add to ${CARRIER_LABELS[carrier] ?? carrier}`}
                  placeholder="e.g. NL"
                  maxLength={2}
                  value={newRegion[carrier] ?? ""}
                  onInput={(e) => setNewRegion({ ...newRegion, [carrier]: e.currentTarget.value.toUpperCase() })}
                />
                <button
                  type="button"
                  class="btn btn-small"
                  disabled={!/^[A-Z]{2}$/.test(newRegion[carrier] ?? "") || (newRegion[carrier] ?? "") in c.regions}
                  onClick={() => {
                    const code = newRegion[carrier];
                    edit((r) => {
                      r.carriers[carrier].regions[code] = { ...r.carriers[carrier].regions.other };
                    });
                    setNewRegion({ ...newRegion, [carrier]: "" });
                  }}
                >
                  Add country
                </button>
              </div>
            </fieldset>
          ))}
          <fieldset class="cost-carrier">
            <legend>AI voice, per minute</legend>
            <table class="table cost-table" aria-label="AI rates">
              <tbody>
                {Object.entries(rates.ai_per_minute).map(([backend, v]) => (
                  <tr key={backend}>
                    <th scope="row">{BACKEND_LABELS[backend] ?? backend}</th>
                    <td class="num">
                      <RateInput
                        label={`${BACKEND_LABELS[backend] ?? backend} per minute`}
                        value={v}
                        onChange={(n) =>
                          edit((r) => {
                            r.ai_per_minute[backend] = n;
                          })
                        }
                      />
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </fieldset>
          <details class="cost-sources">
            <summary>Where the defaults come from (read {view.defaults_as_of})</summary>
            <ul>
              {view.default_sources.map((s) => (
                <li key={s}>{s}</li>
              ))}
            </ul>
          </details>
          <div class="form-actions">
            <button type="submit" class="btn btn-primary" disabled={!dirty || busy}>
              {busy ? "Saving…" : "Save rates"}
            </button>
            <button
              type="button"
              class="btn"
              disabled={busy || (!view.customized && !dirty)}
              onClick={() => void run(() => api.resetCostRates(), "Call cost rates back to the defaults")}
            >
              Reset to defaults
            </button>
          </div>
        </form>
      )}
    </section>
  );
}
