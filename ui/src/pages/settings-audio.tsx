//! Settings → Audio: the microphone and speaker test calls use, how the agent is kept from
//! hearing itself, a test tone, and a level meter for the microphone. The meter asks the
//! engine for one reading at a time, back to back, only while the card is on screen and the
//! window has focus: never two readings out at once, none at all when nobody is looking.
import { useEffect, useRef, useState } from "preact/hooks";
import { ApiError, isApiError } from "../api/client";
import type { AudioDevices, DeviceInfo, EchoMode, Level, Settings } from "../api/types";
import { sentence } from "../forms";
import { Icon } from "../components/icons";
import { Banner, FieldSet, Field, messageId } from "../components/ui";
import { reload, useApi, useAppState } from "../store";
import { showToast } from "../toast";

/** The echo choices, in the order shown, each with its one-line explanation. */
export const ECHO_MODES: readonly { mode: EchoMode; label: string; help: string }[] = [
  {
    mode: "cancel",
    label: "Echo cancellation (recommended)",
    help: "The microphone is cleaned of what the speakers play, so the agent does not hear itself.",
  },
  {
    mode: "headphones",
    label: "Headphones (no processing)",
    help: "For headphones or a headset: the microphone cannot hear the agent, so nothing is filtered.",
  },
  {
    mode: "half_duplex",
    label: "Half-duplex (mic muted while the agent speaks)",
    help: "A fallback for loud speakers: you cannot talk over the agent, as on a walkie-talkie.",
  },
];

/** The meter's scale: silence at its left end, full scale at its right. */
const FLOOR_DBFS = -60;
/** How long the meter rests after a failed reading before asking again. */
const RETRY_MS = 2_000;

export function AudioCard(props: { settings: Settings; focus: boolean }) {
  const api = useApi();
  const s = props.settings;
  const [devices, setDevices] = useState<AudioDevices | null>(null);
  const [loadError, setLoadError] = useState<ApiError | null>(null);
  const [loading, setLoading] = useState(false);
  const card = useRef<HTMLElement>(null);
  // The meter lets go of the microphone while the tone plays or a test call has it: one
  // device user at a time.
  const [toneBusy, setToneBusy] = useState(false);
  const testCall = useAppState().live.data?.some((c) => c.direction === "test") ?? false;

  const saved = { input: s.audio_input ?? "", output: s.audio_output ?? "", echo: s.echo_mode };
  const [input, setInput] = useState(saved.input);
  const [output, setOutput] = useState(saved.output);
  const [echo, setEcho] = useState<EchoMode>(saved.echo);
  const [saving, setSaving] = useState(false);
  const [error, setError] = useState<ApiError | null>(null);

  // Follow changes made elsewhere while the form is untouched.
  const [base, setBase] = useState(saved);
  useEffect(() => {
    if (input === base.input) setInput(saved.input);
    if (output === base.output) setOutput(saved.output);
    if (echo === base.echo) setEcho(saved.echo);
    setBase(saved);
  }, [saved.input, saved.output, saved.echo]);

  const load = async () => {
    setLoading(true);
    try {
      setDevices(await api.audioDevices());
      setLoadError(null);
    } catch (e) {
      setLoadError(isApiError(e) ? e : new ApiError(0, "internal", String(e)));
    } finally {
      setLoading(false);
    }
  };
  useEffect(() => {
    void load();
  }, [api]);

  // Opened as Settings → Audio (a link from the Test Call page): bring the card into view.
  useEffect(() => {
    if (props.focus) card.current?.scrollIntoView({ block: "start" });
  }, [props.focus]);

  const dirty = input !== saved.input || output !== saved.output || echo !== saved.echo;
  const save = async () => {
    if (!dirty || saving) return;
    setSaving(true);
    setError(null);
    try {
      const updated = await api.updateSettings({
        ...(input !== saved.input ? { audio_input: input === "" ? null : input } : {}),
        ...(output !== saved.output ? { audio_output: output === "" ? null : output } : {}),
        ...(echo !== saved.echo ? { echo_mode: echo } : {}),
      });
      setInput(updated.audio_input ?? "");
      setOutput(updated.audio_output ?? "");
      setEcho(updated.echo_mode);
      showToast("Audio settings saved");
      void reload.settings();
    } catch (e) {
      if (isApiError(e)) setError(e);
      else throw e;
    } finally {
      setSaving(false);
    }
  };

  const available = devices?.available ?? true;
  return (
    <section class="card audio-card" id="settings-audio-card" aria-labelledby="settings-audio" ref={card}>
      <div class="card-head">
        <h2 id="settings-audio">Audio</h2>
        <span class="spacer" />
        <button type="button" class="btn btn-sm btn-ghost" disabled={loading} onClick={() => void load()}>
          {loading ? "Looking…" : "Look for devices again"}
        </button>
      </div>
      <p class="muted">
        The microphone and speakers of this computer, for test calls.{" "}
        {devices?.host ? `Sound system: ${devices.host}.` : ""}
      </p>
      {loadError && (
        <Banner tone="bad" role="alert">
          The devices could not be listed: {sentence(loadError.message)}
        </Banner>
      )}
      {devices && !devices.available && (
        <Banner tone="warn" role="status">
          <strong>No audio on this computer</strong>
          {devices.problem ? `: ${devices.problem.replace(/\.$/, "")}.` : "."} Test calls need a microphone and
          speakers; everything else in Switchboard works without them.
        </Banner>
      )}
      <form
        noValidate
        onSubmit={(e) => {
          e.preventDefault();
          void save();
        }}
      >
        {error && !["audio_input", "audio_output", "echo_mode"].includes(error.field ?? "") && (
          <Banner tone="bad" role="alert">
            {error.message}
          </Banner>
        )}
        <div class="field-row">
          <DevicePicker
            id="settings-audio-input"
            label="Microphone"
            devices={devices?.inputs ?? null}
            value={input}
            error={error?.field === "audio_input" ? error.message : null}
            onChange={(v) => {
              setInput(v);
              if (error) setError(null);
            }}
          />
          <DevicePicker
            id="settings-audio-output"
            label="Speaker"
            devices={devices?.outputs ?? null}
            value={output}
            error={error?.field === "audio_output" ? error.message : null}
            onChange={(v) => {
              setOutput(v);
              if (error) setError(null);
            }}
          />
        </div>
        <div class="audio-checks">
          <LevelMeter
            input={input}
            enabled={available}
            paused={toneBusy ? "while the tone plays" : testCall ? "during the test call" : null}
            watch={card}
          />
          <ToneButton output={output} disabled={!available} onBusy={setToneBusy} />
        </div>
        <FieldSet
          id="settings-echo"
          legend="Echo handling"
          error={error?.field === "echo_mode" ? error.message : null}
          class="echo-modes"
        >
          {ECHO_MODES.map((m) => (
            <label class="check echo-mode" key={m.mode}>
              <input
                type="radio"
                name="echo_mode"
                value={m.mode}
                checked={echo === m.mode}
                onChange={() => {
                  setEcho(m.mode);
                }}
              />
              <span class="check-text echo-text">
                <span>{m.label}</span>
                <span class="muted small">{m.help}</span>
              </span>
            </label>
          ))}
        </FieldSet>
        <div class="form-actions">
          <button type="submit" class="btn btn-primary" disabled={!dirty || saving}>
            {saving ? "Saving…" : "Save"}
          </button>
        </div>
      </form>
    </section>
  );
}

/** A device choice: the system default first, then the devices; a saved device that is not
 * connected now stays listed, marked so, rather than silently becoming the default. */
function DevicePicker(props: {
  id: string;
  label: string;
  devices: DeviceInfo[] | null;
  value: string;
  error: string | null;
  onChange: (id: string) => void;
}) {
  const list = props.devices ?? [];
  const missing = props.devices !== null && props.value !== "" && !list.some((d) => d.id === props.value);
  const systemDefault = list.find((d) => d.is_default);
  return (
    <Field
      id={props.id}
      label={props.label}
      error={props.error}
      warning={missing ? "This device is not connected now; test calls will fail until it is." : null}
      hint={
        props.devices === null
          ? undefined
          : list.length === 0
            ? "None found."
            : systemDefault
              ? `System default now: ${systemDefault.name}`
              : undefined
      }
    >
      <select
        id={props.id}
        value={props.value}
        onChange={(e) => {
          props.onChange(e.currentTarget.value);
        }}
        aria-describedby={messageId(props.id)}
        aria-invalid={props.error !== null}
      >
        <option value="">System default</option>
        {list.map((d) => (
          <option key={d.id} value={d.id}>
            {d.name}
          </option>
        ))}
        {(missing || (props.devices === null && props.value !== "")) && (
          <option value={props.value}>
            {props.value}
            {missing ? " (not connected)" : ""}
          </option>
        )}
      </select>
    </Field>
  );
}

function ToneButton(props: { output: string; disabled: boolean; onBusy: (busy: boolean) => void }) {
  const api = useApi();
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [played, setPlayed] = useState(false);
  const play = async () => {
    setBusy(true);
    props.onBusy(true);
    setError(null);
    setPlayed(false);
    try {
      await api.playTestTone(props.output === "" ? undefined : props.output);
      setPlayed(true);
    } catch (e) {
      setError(sentence(isApiError(e) ? e.message : String(e)));
    } finally {
      setBusy(false);
      props.onBusy(false);
    }
  };
  return (
    <div class="tone">
      <button type="button" class="btn" disabled={busy || props.disabled} aria-busy={busy} onClick={() => void play()}>
        <Icon name="play" /> {busy ? "Playing…" : "Play test tone"}
      </button>
      <span class="tone-note" role="status" aria-live="polite">
        {error !== null ? (
          <span class="bad-text small">
            <Icon name="alert" size={12} /> {error}
          </span>
        ) : played ? (
          <span class="muted small">Played a one-second tone. Heard nothing? Check the speaker above.</span>
        ) : null}
      </span>
    </div>
  );
}

/** Whether `el` is on screen and this window is the one in front. */
function useWatched(el: { current: HTMLElement | null }, enabled: boolean): boolean {
  const [visible, setVisible] = useState(false);
  const [focused, setFocused] = useState(() => document.hasFocus() && document.visibilityState === "visible");
  useEffect(() => {
    const target = el.current;
    if (!enabled || !target) return;
    const observer = new IntersectionObserver((entries) => {
      setVisible(entries.some((e) => e.isIntersecting));
    });
    observer.observe(target);
    const onFocus = () => {
      setFocused(document.hasFocus() && document.visibilityState === "visible");
    };
    window.addEventListener("focus", onFocus);
    window.addEventListener("blur", onFocus);
    document.addEventListener("visibilitychange", onFocus);
    return () => {
      observer.disconnect();
      window.removeEventListener("focus", onFocus);
      window.removeEventListener("blur", onFocus);
      document.removeEventListener("visibilitychange", onFocus);
    };
  }, [enabled]);
  return enabled && visible && focused;
}

/** The microphone's level, read back to back while the card is watched. */
function LevelMeter(props: {
  input: string;
  enabled: boolean;
  /** Why the meter rests now, if it does ("while the tone plays"). */
  paused: string | null;
  watch: { current: HTMLElement | null };
}) {
  const api = useApi();
  const watched = useWatched(props.watch, props.enabled) && props.paused === null;
  const [level, setLevel] = useState<Level | null>(null);
  const [error, setError] = useState<string | null>(null);

  useEffect(() => {
    if (!watched) return;
    let running = true;
    let timer: number | undefined;
    const input = props.input === "" ? undefined : props.input;
    // One reading at a time: the next is asked for only once the last has answered.
    const next = async () => {
      try {
        const l = await api.audioLevel(input);
        if (!running) return;
        setLevel(l);
        setError(null);
        void next();
      } catch (e) {
        if (!running) return;
        setLevel(null);
        setError(sentence(isApiError(e) ? e.message : String(e)));
        timer = window.setTimeout(() => void next(), RETRY_MS);
      }
    };
    void next();
    return () => {
      running = false;
      window.clearTimeout(timer);
    };
  }, [api, watched, props.input]);

  const rms = level ? clampDb(level.rms_dbfs) : FLOOR_DBFS;
  const peak = level ? clampDb(level.peak_dbfs) : FLOOR_DBFS;
  const pct = (db: number) => `${((db - FLOOR_DBFS) / -FLOOR_DBFS) * 100}%`;
  return (
    <div class="level">
      <div class="level-head">
        <span id="audio-level-label">Microphone level</span>
        <span class="muted small level-value" data-testid="level-value">
          {!props.enabled
            ? "—"
            : error !== null
              ? ""
              : props.paused !== null
                ? `Paused ${props.paused}`
                : level === null
                  ? watched
                    ? "Listening…"
                    : "Paused"
                  : `${formatDb(level.rms_dbfs)} dBFS · peak ${formatDb(level.peak_dbfs)}`}
        </span>
      </div>
      <div
        class={`level-bar ${watched ? "" : "paused"}`}
        role="meter"
        aria-labelledby="audio-level-label"
        aria-valuemin={FLOOR_DBFS}
        aria-valuemax={0}
        aria-valuenow={rms}
        aria-valuetext={level ? `${formatDb(level.rms_dbfs)} dBFS` : "no reading"}
      >
        <span class="level-fill" style={{ width: pct(rms) }} />
        {level && <span class="level-peak" style={{ left: pct(peak) }} />}
      </div>
      {error !== null && (
        <p class="bad-text small level-error">
          <Icon name="alert" size={12} /> {error}
        </p>
      )}
    </div>
  );
}

function clampDb(db: number): number {
  return Number.isFinite(db) ? Math.min(0, Math.max(FLOOR_DBFS, db)) : FLOOR_DBFS;
}

/** −23, or −∞ for digital silence. */
function formatDb(db: number): string {
  return Number.isFinite(db) ? Math.round(db).toString().replace("-", "−") : "−∞";
}
