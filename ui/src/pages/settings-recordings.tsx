//! Settings → Recordings: how long the recordings agents make are kept.
import { useEffect, useState } from "preact/hooks";
import { isApiError, type ApiError } from "../api/client";
import type { Settings } from "../api/types";
import { Banner, Field, messageId } from "../components/ui";
import { reload, useApi } from "../store";
import { showToast } from "../toast";

const MAX_DAYS = 3650;

/** What was typed, as the API takes it: a whole number of days, or null to keep recordings. */
function daysOf(text: string): { ok: true; value: number | null } | { ok: false; message: string } {
  const t = text.trim();
  if (t === "") return { ok: true, value: null };
  if (!/^\d+$/.test(t)) return { ok: false, message: "Write a whole number of days, or leave it empty." };
  const n = Number(t);
  if (n < 1 || n > MAX_DAYS) return { ok: false, message: `Between 1 and ${MAX_DAYS} days.` };
  return { ok: true, value: n };
}

export function RecordingsCard(props: { settings: Settings }) {
  const api = useApi();
  const saved = props.settings.recording_retention_days ?? null;
  const [days, setDays] = useState(saved === null ? "" : String(saved));
  const [saving, setSaving] = useState(false);
  const [error, setError] = useState<ApiError | null>(null);
  useEffect(() => {
    setDays(saved === null ? "" : String(saved));
  }, [saved]);

  const check = daysOf(days);
  const dirty = check.ok ? check.value !== saved : days.trim() !== "";
  const save = async () => {
    if (!check.ok || saving) return;
    setSaving(true);
    setError(null);
    try {
      await api.updateSettings({ recording_retention_days: check.value });
      showToast(check.value === null ? "Recordings are kept" : `Recordings are kept ${check.value} days`);
      void reload.settings();
    } catch (e) {
      if (isApiError(e)) setError(e);
      else throw e;
    } finally {
      setSaving(false);
    }
  };
  const message = error?.field === "recording_retention_days" ? error.message : check.ok ? null : check.message;
  return (
    <section class="card" aria-labelledby="settings-recordings">
      <h2 id="settings-recordings">Recordings</h2>
      <p class="muted">
        Agents set to record their calls keep them in this computer’s data folder. Each plays in the call log, and goes
        when its call is deleted.
      </p>
      <form
        onSubmit={(e) => {
          e.preventDefault();
          void save();
        }}
        noValidate
      >
        {error && error.field !== "recording_retention_days" && (
          <Banner tone="bad" role="alert">
            {error.message}
          </Banner>
        )}
        <Field
          id="settings-retention"
          label="Keep recordings for (days)"
          optional
          error={message}
          hint="Older recordings are deleted when you save and every hour after; the calls and their transcripts stay. Empty keeps them."
        >
          <input
            id="settings-retention"
            name="recording_retention_days"
            class="input-short"
            inputMode="numeric"
            placeholder="Keep"
            value={days}
            onInput={(e) => {
              setDays(e.currentTarget.value);
              setError(null);
            }}
            aria-invalid={message !== null}
            aria-describedby={messageId("settings-retention")}
          />
        </Field>
        <div class="form-actions">
          <button type="submit" class="btn btn-primary" disabled={!dirty || !check.ok || saving}>
            {saving ? "Saving…" : "Save"}
          </button>
        </div>
      </form>
    </section>
  );
}
