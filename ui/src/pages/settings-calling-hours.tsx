//! Settings → Calling hours: the floor no campaign window may widen. Campaign calls start only
//! inside it, in each lead's own local time; the law's 08:00–21:00 is the widest it may be.
import { useEffect, useState } from "preact/hooks";
import { isApiError, type ApiError } from "../api/client";
import type { Settings } from "../api/types";
import { Banner, Field, messageId } from "../components/ui";
import { reload, useApi } from "../store";
import { showToast } from "../toast";
import { LEGAL_FLOOR } from "./campaign-form";

export function CallingHoursCard(props: { settings: Settings }) {
  const api = useApi();
  const saved = props.settings.calling_hours;
  const [start, setStart] = useState(saved.start);
  const [end, setEnd] = useState(saved.end);
  const [saving, setSaving] = useState(false);
  const [error, setError] = useState<ApiError | null>(null);
  useEffect(() => {
    setStart(saved.start);
    setEnd(saved.end);
  }, [saved.start, saved.end]);

  const startError =
    error?.field === "calling_hours.start"
      ? error.message
      : start < LEGAL_FLOOR.start
        ? `Not before ${LEGAL_FLOOR.start}, the legal limit.`
        : null;
  const endError =
    error?.field === "calling_hours.end"
      ? error.message
      : end > LEGAL_FLOOR.end
        ? `Not after ${LEGAL_FLOOR.end}, the legal limit.`
        : end <= start
          ? "Must be after the start."
          : null;
  const dirty = start !== saved.start || end !== saved.end;
  const save = async () => {
    if (startError !== null || endError !== null || saving) return;
    setSaving(true);
    setError(null);
    try {
      const legal = start === LEGAL_FLOOR.start && end === LEGAL_FLOOR.end;
      await api.updateSettings({ calling_hours: legal ? null : { start, end } });
      showToast(`Campaign calls start between ${start} and ${end} local time`);
      void reload.settings();
    } catch (e) {
      if (isApiError(e)) setError(e);
      else throw e;
    } finally {
      setSaving(false);
    }
  };
  return (
    <section class="card" aria-labelledby="settings-calling-hours">
      <h2 id="settings-calling-hours">Calling hours</h2>
      <p class="muted">
        Campaign calls start only inside these hours in each lead’s own local time, whatever a campaign’s window says.
        They may be narrowed, not widened past the legal {LEGAL_FLOOR.start}–{LEGAL_FLOOR.end}.
      </p>
      <form
        onSubmit={(e) => {
          e.preventDefault();
          void save();
        }}
        noValidate
      >
        {error && !error.field?.startsWith("calling_hours") && (
          <Banner tone="bad" role="alert">
            {error.message}
          </Banner>
        )}
        <div class="field-row">
          <Field id="settings-floor-start" label="From" error={startError}>
            <input
              id="settings-floor-start"
              name="calling_hours_start"
              type="time"
              min={LEGAL_FLOOR.start}
              max={LEGAL_FLOOR.end}
              value={start}
              onInput={(e) => {
                setStart(e.currentTarget.value);
                setError(null);
              }}
              aria-invalid={startError !== null}
              aria-describedby={messageId("settings-floor-start")}
            />
          </Field>
          <Field id="settings-floor-end" label="Until" error={endError}>
            <input
              id="settings-floor-end"
              name="calling_hours_end"
              type="time"
              min={LEGAL_FLOOR.start}
              max={LEGAL_FLOOR.end}
              value={end}
              onInput={(e) => {
                setEnd(e.currentTarget.value);
                setError(null);
              }}
              aria-invalid={endError !== null}
              aria-describedby={messageId("settings-floor-end")}
            />
          </Field>
        </div>
        <div class="form-actions">
          <button
            type="submit"
            class="btn btn-primary"
            disabled={!dirty || startError !== null || endError !== null || saving}
          >
            {saving ? "Saving…" : "Save"}
          </button>
        </div>
      </form>
    </section>
  );
}
