//! The campaign form: what a campaign says (name, prompt, agent pool, caller IDs) and how it
//! dials (pace, calling window, retries, voicemail, agent selection, default region). Checked
//! as typed with the engine's own bounds; an answer naming a field (`window.time_zone`, …)
//! lands under that field.
import { useState } from "preact/hooks";
import type { ApiError } from "../api/client";
import { limits } from "../api/limits";
import type {
  Agent,
  Campaign,
  CampaignInput,
  CampaignSettings,
  Outcome,
  PhoneNumber,
  PoolAgent,
  SelectionStrategy,
} from "../api/types";
import { Icon } from "../components/icons";
import { Badge, Field, FieldSet, messageId } from "../components/ui";
import { fieldMessage, same } from "../forms";
import { href } from "../router";
import {
  checkDecimal,
  checkTimeOfDay,
  checkTimeZone,
  checkWhole,
  formatNumber,
  localTimeZone,
  phoneRegions,
  timeZones,
} from "../validate";
import { CARRIER_NAMES } from "./numbers";

type DelayUnit = "seconds" | "minutes" | "hours";
const UNIT_SECS: Record<DelayUnit, number> = { seconds: 1, minutes: 60, hours: 3600 };
/** The engine's bounds, as its OpenAPI document states them. */
const NAME_MAX = limits.CampaignInput.name.maxLength;
const MAX_CALLS = limits.CampaignSettings.max_concurrent_calls;
const CALLS_PER_SECOND = limits.CampaignSettings.calls_per_second;
const ATTEMPTS = limits.RetryPolicy.max_attempts;
const DELAY_SECS = limits.RetryPolicy.delay_secs;
const PROMPT_MAX = limits.CampaignInput.prompt.maxLength;
const MESSAGE_MAX = limits.VoicemailPolicy.message.maxLength;

export const STRATEGIES: { value: SelectionStrategy; label: string; hint: string }[] = [
  {
    value: "primary_first",
    label: "Primary first",
    hint: "Primaries take the calls, in pool order; backups only when every primary is busy.",
  },
  { value: "round_robin", label: "Round robin", hint: "Agents take turns, in pool order." },
  { value: "least_loaded", label: "Least loaded", hint: "The agent with the fewest live calls takes the next one." },
  { value: "random", label: "Random", hint: "Any available agent, by chance." },
];

/** Outcomes a campaign may retry, in the order shown. */
const RETRYABLE: { value: Outcome; label: string }[] = [
  { value: "busy", label: "Busy" },
  { value: "no_answer", label: "No answer" },
  { value: "voicemail", label: "Voicemail" },
  { value: "failed", label: "Failed" },
];

const WEEKDAYS = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
const WEEKDAY_NAMES = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"];

export interface CampaignForm {
  name: string;
  prompt: string;
  pool: PoolAgent[];
  numberIds: string[];
  maxConcurrent: string;
  callsPerSecond: string;
  windowOn: boolean;
  windowStart: string;
  windowEnd: string;
  timeZone: string;
  /** ISO weekdays, sorted; all seven when the engine says "every day" (an empty list). */
  days: number[];
  retryOn: Outcome[];
  maxAttempts: string;
  delay: string;
  delayUnit: DelayUnit;
  voicemail: "hang_up" | "leave_message";
  message: string;
  strategy: SelectionStrategy;
  /** "" for none. */
  region: string;
}

type SettingsKey = Exclude<keyof CampaignForm, "name" | "prompt" | "pool" | "numberIds">;
const SETTINGS_KEYS: readonly SettingsKey[] = [
  "maxConcurrent",
  "callsPerSecond",
  "windowOn",
  "windowStart",
  "windowEnd",
  "timeZone",
  "days",
  "retryOn",
  "maxAttempts",
  "delay",
  "delayUnit",
  "voicemail",
  "message",
  "strategy",
  "region",
];

/** The engine's name for the field each form key edits (its errors say `field`). */
const ENGINE_FIELD: Record<keyof CampaignForm, string> = {
  name: "name",
  prompt: "prompt",
  pool: "agents",
  numberIds: "number_ids",
  maxConcurrent: "max_concurrent_calls",
  callsPerSecond: "calls_per_second",
  windowOn: "window",
  windowStart: "window.start",
  windowEnd: "window.end",
  timeZone: "window.time_zone",
  days: "window.days",
  retryOn: "retry.retry_on",
  maxAttempts: "retry.max_attempts",
  delay: "retry.delay_secs",
  delayUnit: "retry.delay_secs",
  voicemail: "voicemail",
  message: "voicemail.message",
  strategy: "strategy",
  region: "default_region",
};

/** Engine fields this form shows errors for; an error naming another goes in a banner. */
export const FORM_FIELDS: readonly string[] = [...new Set(Object.values(ENGINE_FIELD))];

export function engineField(key: keyof CampaignForm): string {
  return ENGINE_FIELD[key];
}

function delayOf(secs: number): { delay: string; delayUnit: DelayUnit } {
  if (secs > 0 && secs % 3600 === 0) return { delay: String(secs / 3600), delayUnit: "hours" };
  if (secs % 60 === 0) return { delay: String(secs / 60), delayUnit: "minutes" };
  return { delay: String(secs), delayUnit: "seconds" };
}

/** The form for a stored campaign, or a new one's defaults (working hours here, on weekdays). */
export function formOf(c: Campaign | null, defaultRegion: string | null): CampaignForm {
  const s = c?.settings;
  const w = s?.window ?? null;
  return {
    name: c?.name ?? "",
    prompt: c?.prompt ?? "",
    pool: c?.agents.map((a) => ({ agent_id: a.agent_id, primary: a.primary ?? true })) ?? [],
    numberIds: c?.number_ids ?? [],
    maxConcurrent: String(s?.max_concurrent_calls ?? 5),
    callsPerSecond: String(s?.calls_per_second ?? 1),
    // A new campaign calls in working hours unless told otherwise: a lead list dialed at
    // 3 a.m. is the costlier mistake.
    windowOn: c ? w !== null : true,
    windowStart: w?.start ?? "09:00",
    windowEnd: w?.end ?? "17:00",
    timeZone: w?.time_zone ?? localTimeZone(),
    days: w ? (w.days && w.days.length > 0 ? [...w.days].sort() : [1, 2, 3, 4, 5, 6, 7]) : [1, 2, 3, 4, 5],
    retryOn: s?.retry.retry_on ?? ["busy", "no_answer", "failed"],
    maxAttempts: String(s?.retry.max_attempts ?? 3),
    ...delayOf(s?.retry.delay_secs ?? 3600),
    voicemail: s?.voicemail.action ?? "hang_up",
    message: s?.voicemail.action === "leave_message" ? s.voicemail.message : "",
    strategy: s?.strategy ?? "primary_first",
    region: (c ? s?.default_region : defaultRegion) ?? "",
  };
}

export interface Checked {
  /** Client-side errors, by engine field name. */
  errors: Record<string, string>;
  warnings: Record<string, string>;
  /** The whole campaign as the API takes it, when nothing is wrong. */
  input: CampaignInput | null;
}

/** The calling-hours floor: calls start only inside it, in each lead's local time. */
export interface Floor {
  start: string;
  end: string;
}
/** The legal floor (the US TCPA's 8 am–9 pm), the engine's default. */
export const LEGAL_FLOOR: Floor = { start: "08:00", end: "21:00" };

function floorText(floor: Floor): string {
  return `Calls may start only between ${floor.start} and ${floor.end} in the lead’s local time (the calling-hours floor in Settings).`;
}

/** Checks the form with the engine's rules and builds the request body. */
export function check(form: CampaignForm, floor: Floor = LEGAL_FLOOR): Checked {
  const errors: Record<string, string> = {};
  const warnings: Record<string, string> = {};
  const name = form.name.trim();
  if (name === "") errors.name = "Give the campaign a name.";
  else if (name.length > NAME_MAX) errors.name = `At most ${NAME_MAX} characters.`;
  if (form.prompt.length > PROMPT_MAX) errors.prompt = `At most ${PROMPT_MAX} characters.`;

  const max = checkWhole(form.maxConcurrent, MAX_CALLS.minimum, MAX_CALLS.maximum);
  if (!max.ok) errors.max_concurrent_calls = max.message;
  const cps = checkDecimal(form.callsPerSecond, CALLS_PER_SECOND.minimum, CALLS_PER_SECOND.maximum);
  if (!cps.ok) errors.calls_per_second = cps.message;

  const start = checkTimeOfDay(form.windowStart);
  const end = checkTimeOfDay(form.windowEnd);
  const zone = checkTimeZone(form.timeZone);
  if (form.windowOn) {
    if (!start.ok) errors["window.start"] = start.message;
    if (!end.ok) errors["window.end"] = end.message;
    else if (start.ok && start.value === end.value) errors["window.end"] = "Must differ from the start.";
    // The window may narrow the floor, never widen it (nor run past midnight beyond it).
    if (start.ok && (start.value < floor.start || start.value >= floor.end)) errors["window.start"] = floorText(floor);
    if (end.ok && start.ok && start.value !== end.value && (end.value > floor.end || end.value < start.value)) {
      errors["window.end"] = floorText(floor);
    }
    if (!zone.ok) errors["window.time_zone"] = zone.message;
    else if (zone.warning !== null) warnings["window.time_zone"] = zone.warning;
    if (form.days.length === 0) errors["window.days"] = "Choose at least one day.";
  }

  const attempts = checkWhole(form.maxAttempts, ATTEMPTS.minimum, ATTEMPTS.maximum);
  if (!attempts.ok) errors["retry.max_attempts"] = attempts.message;
  const unit = UNIT_SECS[form.delayUnit];
  const delay = checkWhole(form.delay, Math.ceil(DELAY_SECS.minimum / unit), Math.floor(DELAY_SECS.maximum / unit));
  if (!delay.ok) errors["retry.delay_secs"] = delay.message.replace(/\.$/, ` ${form.delayUnit} (a week at most).`);

  const message = form.message.trim();
  if (form.voicemail === "leave_message") {
    if (message === "") errors["voicemail.message"] = "Write the message the agent leaves.";
    else if (message.length > MESSAGE_MAX) errors["voicemail.message"] = `At most ${MESSAGE_MAX} characters.`;
  }
  if (form.pool.length === 0) warnings.agents = "Add at least one agent before starting the campaign.";
  if (form.numberIds.length === 0) warnings.number_ids = "Choose at least one number before starting the campaign.";

  if (Object.keys(errors).length > 0 || !max.ok || !cps.ok || !attempts.ok || !delay.ok) {
    return { errors, warnings, input: null };
  }
  const settings: CampaignSettings = {
    max_concurrent_calls: max.value,
    calls_per_second: cps.value,
    window:
      form.windowOn && start.ok && end.ok && zone.ok
        ? {
            start: start.value,
            end: end.value,
            time_zone: zone.value,
            days: form.days.length === 7 ? [] : [...form.days].sort(),
          }
        : null,
    retry: {
      retry_on: RETRYABLE.map((r) => r.value).filter((o) => form.retryOn.includes(o)),
      max_attempts: attempts.value,
      delay_secs: delay.value * unit,
    },
    voicemail: form.voicemail === "hang_up" ? { action: "hang_up" } : { action: "leave_message", message },
    strategy: form.strategy,
    default_region: form.region === "" ? null : form.region,
  };
  return {
    errors,
    warnings,
    input: { name, prompt: form.prompt, agents: form.pool, number_ids: form.numberIds, settings },
  };
}

/** What to send for an edit: the parts of the campaign the operator changed. */
export function changes(form: CampaignForm, base: CampaignForm, input: CampaignInput): CampaignInput {
  const body: CampaignInput = {};
  if (form.name !== base.name) body.name = input.name;
  if (form.prompt !== base.prompt) body.prompt = input.prompt;
  if (!same(form.pool, base.pool)) body.agents = input.agents;
  if (!same(form.numberIds, base.numberIds)) body.number_ids = input.number_ids;
  if (SETTINGS_KEYS.some((k) => !same(form[k], base[k]))) body.settings = input.settings;
  return body;
}

export function isDirty(form: CampaignForm, base: CampaignForm): boolean {
  return (Object.keys(form) as (keyof CampaignForm)[]).some((k) => !same(form[k], base[k]));
}

/** The form's fields. `error(field)` is the message to show under an engine field. */
export function CampaignFields(props: {
  form: CampaignForm;
  update: <K extends keyof CampaignForm>(key: K, value: CampaignForm[K]) => void;
  checked: Checked;
  serverError: ApiError | null;
  agents: Agent[];
  numbers: PhoneNumber[];
  /** Show client errors for untouched required fields too (after a submit, or when editing). */
  showAll: boolean;
  /** The calling-hours floor in force. */
  floor?: Floor;
}) {
  const floor = props.floor ?? LEGAL_FLOOR;
  const { form, update, checked } = props;
  const server = props.serverError;
  const error = (field: string): string | null =>
    server?.field === field ? fieldMessage(server.message, server.field) : (checked.errors[field] ?? null);
  const warning = (field: string): string | null => checked.warnings[field] ?? null;
  const nameError = props.showAll || form.name !== "" || server?.field === "name" ? error("name") : null;
  const strategy = STRATEGIES.find((s) => s.value === form.strategy);

  return (
    <>
      <section class="panel-section first" aria-labelledby="campaign-basics">
        <h3 id="campaign-basics">Campaign</h3>
        <Field id="campaign-name" label="Name" error={nameError}>
          <input
            id="campaign-name"
            name="name"
            value={form.name}
            maxLength={NAME_MAX}
            onInput={(e) => {
              update("name", e.currentTarget.value);
            }}
            aria-invalid={nameError !== null}
            aria-describedby={messageId("campaign-name")}
          />
        </Field>
        <Field
          id="campaign-prompt"
          label="Prompt"
          optional
          hint={
            <>
              Added to each agent’s instructions on this campaign’s calls. <code>{"{name}"}</code>,{" "}
              <code>{"{email}"}</code> and <code>{"{phone}"}</code> become the lead’s.
            </>
          }
          error={error("prompt")}
        >
          <textarea
            id="campaign-prompt"
            name="prompt"
            rows={5}
            value={form.prompt}
            placeholder="You are calling {name} about the spring offer…"
            onInput={(e) => {
              update("prompt", e.currentTarget.value);
            }}
            aria-describedby={messageId("campaign-prompt")}
          />
        </Field>
      </section>

      <section class="panel-section" aria-labelledby="campaign-who">
        <h3 id="campaign-who">Agents and numbers</h3>
        <PoolEditor
          pool={form.pool}
          agents={props.agents}
          error={error("agents")}
          warning={warning("agents")}
          onChange={(pool) => {
            update("pool", pool);
          }}
        />
        <Field
          id="campaign-strategy"
          label="Choosing the agent for each call"
          hint={strategy?.hint}
          error={error("strategy")}
        >
          <select
            id="campaign-strategy"
            name="strategy"
            value={form.strategy}
            onChange={(e) => {
              update("strategy", e.currentTarget.value as SelectionStrategy);
            }}
            aria-describedby={messageId("campaign-strategy")}
          >
            {STRATEGIES.map((s) => (
              <option key={s.value} value={s.value}>
                {s.label}
              </option>
            ))}
          </select>
        </Field>
        <NumberPicker
          selected={form.numberIds}
          numbers={props.numbers}
          error={error("number_ids")}
          warning={warning("number_ids")}
          onChange={(ids) => {
            update("numberIds", ids);
          }}
        />
      </section>

      <section class="panel-section" aria-labelledby="campaign-pace">
        <h3 id="campaign-pace">Pace</h3>
        <div class="field-row">
          <Field
            id="campaign-max-calls"
            label="Max concurrent calls"
            hint={`${MAX_CALLS.minimum} to ${MAX_CALLS.maximum} at once.`}
            error={error("max_concurrent_calls")}
          >
            <input
              id="campaign-max-calls"
              name="max_concurrent_calls"
              inputMode="numeric"
              value={form.maxConcurrent}
              onInput={(e) => {
                update("maxConcurrent", e.currentTarget.value);
              }}
              aria-invalid={error("max_concurrent_calls") !== null}
              aria-describedby={messageId("campaign-max-calls")}
            />
          </Field>
          <Field
            id="campaign-cps"
            label="Calls per second"
            hint={`New calls started per second, ${CALLS_PER_SECOND.minimum} to ${CALLS_PER_SECOND.maximum}.`}
            error={error("calls_per_second")}
          >
            <input
              id="campaign-cps"
              name="calls_per_second"
              inputMode="decimal"
              value={form.callsPerSecond}
              onInput={(e) => {
                update("callsPerSecond", e.currentTarget.value);
              }}
              aria-invalid={error("calls_per_second") !== null}
              aria-describedby={messageId("campaign-cps")}
            />
          </Field>
        </div>
      </section>

      <section class="panel-section" aria-labelledby="campaign-window">
        <h3 id="campaign-window">Calling hours</h3>
        <label class="check">
          <input
            type="checkbox"
            name="window"
            checked={form.windowOn}
            onChange={(e) => {
              update("windowOn", e.currentTarget.checked);
            }}
          />
          <span>
            Only call during set hours{" "}
            <span class="muted">
              — otherwise any time from {floor.start} to {floor.end}
            </span>
          </span>
        </label>
        <p class="muted small" data-testid="calling-floor">
          Hours are each lead’s own local time: its list’s time zone column, else its number’s area code or country (a
          number spanning zones is called only when all of them are inside the hours). Whatever the window, calls start
          only between {floor.start} and {floor.end} local time — the calling-hours floor in Settings.
        </p>
        {form.windowOn && (
          <>
            <div class="field-row">
              <Field id="campaign-window-start" label="From" error={error("window.start")}>
                <input
                  id="campaign-window-start"
                  name="window_start"
                  type="time"
                  min={floor.start}
                  max={floor.end}
                  value={form.windowStart}
                  onInput={(e) => {
                    update("windowStart", e.currentTarget.value);
                  }}
                  aria-invalid={error("window.start") !== null}
                  aria-describedby={messageId("campaign-window-start")}
                />
              </Field>
              <Field id="campaign-window-end" label="Until" error={error("window.end")}>
                <input
                  id="campaign-window-end"
                  name="window_end"
                  type="time"
                  min={floor.start}
                  max={floor.end}
                  value={form.windowEnd}
                  onInput={(e) => {
                    update("windowEnd", e.currentTarget.value);
                  }}
                  aria-invalid={error("window.end") !== null}
                  aria-describedby={messageId("campaign-window-end")}
                />
              </Field>
            </div>
            <Field
              id="campaign-time-zone"
              label="Time zone"
              hint="Stands in for leads whose time zone is unknown (an IANA name such as America/New_York)."
              error={error("window.time_zone")}
              warning={warning("window.time_zone")}
            >
              <input
                id="campaign-time-zone"
                name="time_zone"
                list="campaign-time-zones"
                autoComplete="off"
                spellcheck={false}
                value={form.timeZone}
                onInput={(e) => {
                  update("timeZone", e.currentTarget.value);
                }}
                aria-invalid={error("window.time_zone") !== null}
                aria-describedby={messageId("campaign-time-zone")}
              />
              <datalist id="campaign-time-zones">
                {timeZones().map((z) => (
                  <option key={z} value={z} />
                ))}
              </datalist>
            </Field>
            <FieldSet id="campaign-days" legend="Days" class="inline-checks" error={error("window.days")}>
              {WEEKDAYS.map((d, i) => (
                <label key={d} class="check" title={WEEKDAY_NAMES[i]}>
                  <input
                    type="checkbox"
                    checked={form.days.includes(i + 1)}
                    aria-label={WEEKDAY_NAMES[i]}
                    onChange={(e) => {
                      const day = i + 1;
                      const rest = form.days.filter((x) => x !== day);
                      update("days", e.currentTarget.checked ? [...rest, day].sort() : rest);
                    }}
                  />
                  <span aria-hidden="true">{d}</span>
                </label>
              ))}
            </FieldSet>
          </>
        )}
      </section>

      <section class="panel-section" aria-labelledby="campaign-retry">
        <h3 id="campaign-retry">Retries</h3>
        <FieldSet
          id="campaign-retry-on"
          legend="Call again when the call ends"
          class="inline-checks"
          hint={form.retryOn.length === 0 ? "No outcome is retried: each lead gets one call." : undefined}
          error={error("retry.retry_on")}
        >
          {RETRYABLE.map((r) => (
            <label key={r.value} class="check">
              <input
                type="checkbox"
                checked={form.retryOn.includes(r.value)}
                onChange={(e) => {
                  const rest = form.retryOn.filter((o) => o !== r.value);
                  update("retryOn", e.currentTarget.checked ? [...rest, r.value] : rest);
                }}
              />
              <span>{r.label}</span>
            </label>
          ))}
        </FieldSet>
        <div class="field-row">
          <Field
            id="campaign-attempts"
            label="Attempts per lead"
            hint={`${ATTEMPTS.minimum} to ${ATTEMPTS.maximum}, the first call included.`}
            error={error("retry.max_attempts")}
          >
            <input
              id="campaign-attempts"
              name="max_attempts"
              inputMode="numeric"
              value={form.maxAttempts}
              onInput={(e) => {
                update("maxAttempts", e.currentTarget.value);
              }}
              aria-invalid={error("retry.max_attempts") !== null}
              aria-describedby={messageId("campaign-attempts")}
            />
          </Field>
          <Field id="campaign-delay" label="Wait between attempts" error={error("retry.delay_secs")}>
            <div class="input-group">
              <input
                id="campaign-delay"
                name="delay"
                inputMode="numeric"
                value={form.delay}
                onInput={(e) => {
                  update("delay", e.currentTarget.value);
                }}
                aria-invalid={error("retry.delay_secs") !== null}
                aria-describedby={messageId("campaign-delay")}
              />
              <select
                aria-label="Unit of the wait"
                value={form.delayUnit}
                onChange={(e) => {
                  update("delayUnit", e.currentTarget.value as DelayUnit);
                }}
              >
                <option value="seconds">seconds</option>
                <option value="minutes">minutes</option>
                <option value="hours">hours</option>
              </select>
            </div>
          </Field>
        </div>
        <FieldSet id="campaign-voicemail" legend="When voicemail answers" error={error("voicemail")}>
          <label class="check">
            <input
              type="radio"
              name="voicemail"
              value="hang_up"
              checked={form.voicemail === "hang_up"}
              onChange={() => {
                update("voicemail", "hang_up");
              }}
            />
            <span>Hang up</span>
          </label>
          <label class="check">
            <input
              type="radio"
              name="voicemail"
              value="leave_message"
              checked={form.voicemail === "leave_message"}
              onChange={() => {
                update("voicemail", "leave_message");
              }}
            />
            <span>Leave a message</span>
          </label>
        </FieldSet>
        {form.voicemail === "leave_message" && (
          <Field
            id="campaign-voicemail-message"
            label="Message"
            hint="The agent says this after the beep, then hangs up."
            error={error("voicemail.message")}
          >
            <textarea
              id="campaign-voicemail-message"
              name="voicemail_message"
              rows={3}
              maxLength={MESSAGE_MAX}
              value={form.message}
              onInput={(e) => {
                update("message", e.currentTarget.value);
              }}
              aria-describedby={messageId("campaign-voicemail-message")}
            />
          </Field>
        )}
      </section>

      <section class="panel-section" aria-labelledby="campaign-leads-region">
        <h3 id="campaign-leads-region">Lead numbers</h3>
        <Field
          id="campaign-region"
          label="Default region"
          hint="Lead numbers written without a country code are read as this country’s."
          error={error("default_region")}
        >
          <select
            id="campaign-region"
            name="default_region"
            value={form.region}
            onChange={(e) => {
              update("region", e.currentTarget.value);
            }}
            aria-describedby={messageId("campaign-region")}
          >
            <option value="">None — every number needs its country code</option>
            {form.region !== "" && !phoneRegions().some((r) => r.code === form.region) && (
              <option value={form.region}>{form.region}</option>
            )}
            {phoneRegions().map((r) => (
              <option key={r.code} value={r.code}>
                {r.name} ({r.code})
              </option>
            ))}
          </select>
        </Field>
      </section>
    </>
  );
}

/** The campaign's agents, in order, each primary or backup; keyboard-operable throughout. */
function PoolEditor(props: {
  pool: PoolAgent[];
  agents: Agent[];
  error: string | null;
  warning: string | null;
  onChange: (pool: PoolAgent[]) => void;
}) {
  const [adding, setAdding] = useState("");
  const { pool } = props;
  const byId = new Map(props.agents.map((a) => [a.id, a]));
  const available = props.agents.filter((a) => !pool.some((p) => p.agent_id === a.id));
  const nameOf = (id: string) => byId.get(id)?.name ?? "Deleted agent";

  const move = (index: number, by: -1 | 1) => {
    const next = [...pool];
    const [item] = next.splice(index, 1);
    next.splice(index + by, 0, item);
    props.onChange(next);
    // The row moved under the focus: keep it on the moved agent's button in the same
    // direction, or the other one once that end is reached.
    const target = index + by;
    const atEnd = by === -1 ? target === 0 : target === next.length - 1;
    const dir = atEnd ? (by === -1 ? "down" : "up") : by === -1 ? "up" : "down";
    window.requestAnimationFrame(() => {
      document.getElementById(`pool-${dir}-${item.agent_id}`)?.focus();
    });
  };
  const add = () => {
    if (adding === "") return;
    props.onChange([...pool, { agent_id: adding, primary: true }]);
    setAdding("");
  };

  return (
    <FieldSet
      id="campaign-pool"
      legend="Agent pool"
      error={props.error}
      warning={props.warning}
      hint="Agents that speak on this campaign’s calls, in order of preference."
    >
      {pool.length > 0 && (
        <ol class="pool" aria-label="Agents in the pool">
          {pool.map((p, i) => {
            const agent = byId.get(p.agent_id);
            const name = nameOf(p.agent_id);
            return (
              <li key={p.agent_id} class="pool-item">
                <span class="pool-pos" aria-hidden="true">
                  {i + 1}
                </span>
                <span class="pool-name">
                  <span class="truncate">{name}</span>
                  {agent && !agent.active && <Badge tone="neutral">Inactive</Badge>}
                </span>
                <select
                  class="pool-role"
                  aria-label={`Role of ${name}`}
                  value={p.primary === false ? "backup" : "primary"}
                  onChange={(e) => {
                    const primary = e.currentTarget.value === "primary";
                    props.onChange(pool.map((x) => (x.agent_id === p.agent_id ? { ...x, primary } : x)));
                  }}
                >
                  <option value="primary">Primary</option>
                  <option value="backup">Backup</option>
                </select>
                <button
                  type="button"
                  id={`pool-up-${p.agent_id}`}
                  class="btn btn-ghost btn-icon-sm"
                  aria-label={`Move ${name} up`}
                  title="Move up"
                  disabled={i === 0}
                  onClick={() => {
                    move(i, -1);
                  }}
                >
                  <Icon name="chevronUp" size={14} />
                </button>
                <button
                  type="button"
                  id={`pool-down-${p.agent_id}`}
                  class="btn btn-ghost btn-icon-sm"
                  aria-label={`Move ${name} down`}
                  title="Move down"
                  disabled={i === pool.length - 1}
                  onClick={() => {
                    move(i, 1);
                  }}
                >
                  <Icon name="chevronDown" size={14} />
                </button>
                <button
                  type="button"
                  class="btn btn-ghost btn-icon-sm"
                  aria-label={`Remove ${name} from the pool`}
                  title="Remove"
                  onClick={() => {
                    props.onChange(pool.filter((x) => x.agent_id !== p.agent_id));
                  }}
                >
                  <Icon name="close" size={14} />
                </button>
              </li>
            );
          })}
        </ol>
      )}
      {props.agents.length === 0 ? (
        <p class="muted small">
          No agents yet. <a href={href("agents", "new")}>Create one</a> first.
        </p>
      ) : (
        <div class="pool-add">
          <select
            id="campaign-add-agent"
            aria-label="Agent to add to the pool"
            value={adding}
            disabled={available.length === 0}
            onChange={(e) => {
              setAdding(e.currentTarget.value);
            }}
          >
            <option value="">{available.length === 0 ? "Every agent is in the pool" : "Choose an agent…"}</option>
            {available.map((a) => (
              <option key={a.id} value={a.id}>
                {a.name}
                {a.active ? "" : " (inactive)"}
              </option>
            ))}
          </select>
          <button type="button" class="btn" disabled={adding === ""} onClick={add}>
            <Icon name="plus" /> Add agent
          </button>
        </div>
      )}
    </FieldSet>
  );
}

/** The managed numbers calls go out from (caller IDs), used in turn. */
function NumberPicker(props: {
  selected: string[];
  numbers: PhoneNumber[];
  error: string | null;
  warning: string | null;
  onChange: (ids: string[]) => void;
}) {
  const known = new Set(props.numbers.map((n) => n.id));
  const missing = props.selected.filter((id) => !known.has(id));
  const toggle = (id: string, on: boolean) => {
    // Kept in the list's order, so "in turn" means down the list.
    const chosen = new Set(props.selected);
    if (on) chosen.add(id);
    else chosen.delete(id);
    props.onChange([
      ...props.numbers.map((n) => n.id).filter((x) => chosen.has(x)),
      ...missing.filter((x) => chosen.has(x)),
    ]);
  };
  return (
    <FieldSet
      id="campaign-numbers"
      legend="Call from"
      error={props.error}
      warning={props.warning}
      hint="The caller IDs leads see; calls go out from them in turn."
    >
      {props.numbers.length === 0 ? (
        <p class="muted small">
          No phone numbers yet. <a href={href("numbers", "new")}>Add one</a> first.
        </p>
      ) : (
        <ul class="plain-list check-list">
          {props.numbers.map((n) => (
            <li key={n.id}>
              <label class="check">
                <input
                  type="checkbox"
                  checked={props.selected.includes(n.id)}
                  onChange={(e) => {
                    toggle(n.id, e.currentTarget.checked);
                  }}
                />
                <span class="check-text">
                  <span class="nowrap">{formatNumber(n.number)}</span>
                  <span class="sub">
                    {" "}
                    {n.label !== "" ? `${n.label} · ` : ""}
                    {CARRIER_NAMES[n.carrier]}
                  </span>
                  {n.status === "disabled" && <Badge tone="neutral">Disabled</Badge>}
                </span>
              </label>
            </li>
          ))}
          {missing.map((id) => (
            <li key={id}>
              <label class="check">
                <input
                  type="checkbox"
                  checked
                  onChange={() => {
                    toggle(id, false);
                  }}
                />
                <span class="muted">A number that was removed</span>
              </label>
            </li>
          ))}
        </ul>
      )}
    </FieldSet>
  );
}
